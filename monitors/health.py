"""Per-camera health: what an operator needs to see which feeds are sick, and why.

A CameraHealth records each look's outcome (on the wall clock, so a snapshot written by one worker
reads right in another process) and answers with a plain dict:

    state            starting | ok | failing | frozen | ended | stopped
    reason           why it is not ok (the last error), None when ok
    last_frame_age_s seconds since the last good frame (None: none yet)
    frames_per_min   good frames in the last minute;  expected_per_min = 60 / interval_s
    reconnects_1h    sources reopened in the last hour;  stalls_1h: frozen / too slow / timed out looks
    quality          excellent | fair | poor | unusable (| unknown before the first look), see `quality`

Quality rule (over the last 10 minutes, or since the camera started if later):
  * unusable  — no good frame for max(3 × interval, 60 s) (or never, after the first look), or the
                camera's last 3+ looks failed;
  * excellent — delivered ≥ 90 % of the expected frames, and no error, stall or reconnect in the window;
  * fair      — delivered ≥ 60 % of the expected frames, and at most 3 stalls + reconnects in the last hour;
  * poor      — anything else that still delivers frames.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable

WINDOW_S = 600.0
HOUR_S = 3600.0
STALL_KINDS = frozenset({"frozen", "too_slow", "timeout"})
QUALITIES = ("excellent", "fair", "poor", "unusable")


def _count_since(q: deque, since: float) -> int:
    while q and q[0] < since - HOUR_S:  # keep at most an hour
        q.popleft()
    return sum(1 for t in q if t >= since)


class CameraHealth:
    def __init__(self, camera_id: str, interval_s: float, clock: Callable[[], float] = time.time):
        self.camera_id = camera_id
        self.interval_s = interval_s
        self.clock = clock
        self.started_at = clock()
        self.state = "starting"
        self.reason: str | None = None
        self.error_kind: str | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_frame_at: float | None = None
        self.last_look_at: float | None = None
        self.frames = 0
        self.looks = 0
        self.errors = 0
        self.consecutive_failures = 0
        self.same_image = 0
        self.latency_s: float | None = None
        self.resolution: tuple[int, int] | None = None
        self.decoded: tuple[int, int] | None = None
        self.nbytes = 0
        self._frames: deque[float] = deque(maxlen=4096)
        self._errors: deque[float] = deque(maxlen=4096)
        self._reconnects: deque[float] = deque(maxlen=4096)
        self._stalls: deque[float] = deque(maxlen=4096)

    # -- recording ------------------------------------------------------------------------------
    def frame(self, *, latency_s: float | None = None, resolution=None, decoded=None, nbytes: int = 0,
              frozen: bool = False) -> None:
        now = self.clock()
        self.looks += 1
        self.last_look_at = now
        self.frames += 1
        self.last_frame_at = now
        self.consecutive_failures = 0
        self.latency_s = latency_s
        self.resolution = tuple(resolution) if resolution else self.resolution
        self.decoded = tuple(decoded) if decoded else self.decoded
        self.nbytes = nbytes
        self._frames.append(now)
        if frozen:
            self.state, self.reason, self.error_kind = "frozen", f"the same image {self.same_image + 1} times in a row", "frozen"
            self._stalls.append(now)
        else:
            self.state, self.reason, self.error_kind = "ok", None, None

    def error(self, reason: str, kind: str = "other") -> None:
        now = self.clock()
        self.looks += 1
        self.last_look_at = now
        self.errors += 1
        self.consecutive_failures += 1
        self.last_error, self.last_error_at = reason, now
        self.state = "frozen" if kind == "frozen" else "failing"
        self.reason, self.error_kind = reason, kind
        self._errors.append(now)
        if kind in STALL_KINDS:
            self._stalls.append(now)

    def reconnect(self) -> None:
        self._reconnects.append(self.clock())

    def ended(self) -> None:
        self.state, self.reason = "ended", "replay ended"

    def stopped(self, reason: str = "stopped") -> None:
        self.state, self.reason = "stopped", reason

    # -- reading --------------------------------------------------------------------------------
    def quality(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        if self.looks == 0:
            return "unknown"
        stale_after = max(3 * self.interval_s, 60.0)
        if self.consecutive_failures >= 3:
            return "unusable"
        if self.last_frame_at is None:
            return "unusable" if now - self.started_at > stale_after or self.consecutive_failures else "unknown"
        if now - self.last_frame_at > stale_after and self.state != "ended":
            return "unusable"
        window = min(WINDOW_S, max(now - self.started_at, self.interval_s))
        since = now - window
        expected = max(1.0, window / self.interval_s)
        ratio = min(1.0, _count_since(self._frames, since) / expected)
        trouble_1h = _count_since(self._stalls, now - HOUR_S) + _count_since(self._reconnects, now - HOUR_S)
        errors_w = _count_since(self._errors, since)
        stalls_w = _count_since(self._stalls, since) + _count_since(self._reconnects, since)
        if ratio >= 0.9 and errors_w == 0 and stalls_w == 0:
            return "excellent"
        if ratio >= 0.6 and trouble_1h <= 3:
            return "fair"
        return "poor"

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "camera_id": self.camera_id,
            "state": self.state,
            "reason": self.reason,
            "error_kind": self.error_kind,
            "quality": self.quality(now),
            "last_frame_at": self.last_frame_at,
            "last_frame_age_s": None if self.last_frame_at is None else round(now - self.last_frame_at, 3),
            "frames_per_min": _count_since(self._frames, now - 60.0),
            "expected_per_min": round(60.0 / self.interval_s, 3),
            "reconnects_1h": _count_since(self._reconnects, now - HOUR_S),
            "stalls_1h": _count_since(self._stalls, now - HOUR_S),
            "errors_1h": _count_since(self._errors, now - HOUR_S),
            "frames": self.frames,
            "errors": self.errors,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "latency_ms": None if self.latency_s is None else round(self.latency_s * 1000, 1),
            "resolution": list(self.resolution) if self.resolution else None,
            "decoded": list(self.decoded) if self.decoded else None,
            "bytes": self.nbytes,
        }
