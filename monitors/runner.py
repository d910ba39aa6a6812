"""Running cameras: a CameraMonitor turns one camera's frames into candidates; a MonitorLoop steps
many cameras on their intervals in one thread, with backoff for the broken ones.

    store = EvidenceStore(cfg.resolve(cfg.bridge.evidence_dir))
    loop = MonitorLoop(cfg.cameras.cameras, publish, stop_event, evidence_store=store)
    thread = loop.start()          # or loop.run() in the current thread
    loop.health()                  # {camera id: {"state": "ok" | "failing" | ..., ...}}

Per look: read a frame, run every (zone, analyzer) of the camera, feed each answer into its K-of-N
confirmation; when a confirmation *starts* an episode, render the evidence, store it, build a
Candidate v1 and hand it to `on_event`/`publish`. One candidate per episode, none when it ends.
"""
from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from pydantic import ValidationError

from models.candidate import Candidate, Detector, FrameEvidence, Location, now_city
from monitors.sources import FrameSource, SourceError, open_source
from vision.analyzer import AnalyzeContext, Analyzer, Observation, UnknownAnalyzer, make_analyzer
from vision.confirm import Confirmation
from vision.evidence import EvidenceStore, render_evidence
from vision.zones import Zone

log = logging.getLogger("watch1022.monitors")

Publish = Callable[[Candidate], None]


@dataclass
class ZoneCheck:
    """One analyzer watching one zone of one camera, with its own confirmation state."""
    zone: Zone
    category: str
    analyzer: Analyzer
    threshold: float
    confirmation: Confirmation
    scores: deque = field(default_factory=lambda: deque(maxlen=1))

    @property
    def key(self) -> str:
        return f"{self.zone.name}/{self.category}"


def build_zone_checks(camera, make: Callable[..., Analyzer] = make_analyzer) -> tuple[list[ZoneCheck], list[str]]:
    """ZoneChecks for every analyzer named in a CameraConf's zones, and the problems met (an analyzer
    the registry does not know is skipped with a reason instead of stopping the camera)."""
    checks: list[ZoneCheck] = []
    problems: list[str] = []
    for zc in camera.zones:
        zone = Zone.from_conf(zc)
        for category, settings in zc.analyzers.items():
            try:
                analyzer = make(category, settings.backend)
            except UnknownAnalyzer as e:
                problems.append(f"zone {zc.name!r}: {e}")
                continue
            checks.append(ZoneCheck(zone, category, analyzer, settings.threshold,
                                    Confirmation(settings.confirm_k, settings.confirm_n),
                                    deque(maxlen=settings.confirm_n)))
    return checks, problems


@dataclass
class StepResult:
    status: str  # "ok" | "error" | "ended"
    frame_ref: str | None = None
    observations: list[Observation] = field(default_factory=list)
    transitions: list[tuple[str, str]] = field(default_factory=list)  # (zone/category, started|ended)
    candidates: list[Candidate] = field(default_factory=list)
    error: str | None = None


def _scalar_attrs(d: dict[str, Any]) -> dict[str, str | int | float | bool | None]:
    return {k: v for k, v in d.items() if v is None or isinstance(v, (str, int, float, bool))}


class CameraMonitor:
    """One camera: source → analyzers per zone → confirmation → on_event(Candidate) per episode.

    source: an open FrameSource, or None to open it with `reopen` on the first step.
    analyzers: ZoneChecks (default: built from the camera's zones with the analyzer registry).
    reopen: how to open the source again after `reopen_after` failures in a row (default: from the
    config with monitors.sources.open_source)."""

    def __init__(self, camera, source: FrameSource | None, analyzers: Sequence[ZoneCheck] | None = None,
                 on_event: Publish | None = None, *, evidence_store: EvidenceStore,
                 reopen: Callable[[], FrameSource] | None = None, reopen_after: int = 3,
                 project_root: str | Path | None = None):
        self.camera = camera
        self.source = source
        self.on_event = on_event
        self.evidence_store = evidence_store
        self.reopen = reopen if reopen is not None else (lambda: open_source(camera, project_root))
        self.reopen_after = reopen_after
        problems: list[str] = []
        if analyzers is None:
            analyzers, problems = build_zone_checks(camera)
        self.checks: list[ZoneCheck] = list(analyzers)
        by_name = {c.zone.name: c.zone for c in self.checks}
        self.zones: list[Zone] = [by_name.get(z.name) or Zone.from_conf(z) for z in camera.zones]
        for p in problems:
            log.warning("camera %s: %s", camera.id, p)
        self._unpublished: list[Candidate] = []
        self._health: dict[str, Any] = {
            "camera_id": camera.id, "name": camera.name, "kind": camera.kind,
            "state": "starting", "last_error": None, "last_error_at": None,
            "frames": 0, "last_frame_at": None, "consecutive_failures": 0,
            "candidates": 0, "active": [], "unpublished": 0, "problems": problems,
        }

    # -- health ----------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        h = dict(self._health)
        h["active"] = [c.key for c in self.checks if c.confirmation.active]
        h["unpublished"] = len(self._unpublished)
        return h

    def _failed(self, reason: str) -> StepResult:
        h = self._health
        h["state"] = "failing"
        h["last_error"] = reason
        h["last_error_at"] = now_city().isoformat(timespec="seconds")
        h["consecutive_failures"] += 1
        if self.source is not None and h["consecutive_failures"] >= self.reopen_after:
            self._close_source()  # reconnect on the next step
        return StepResult("error", error=reason)

    def _close_source(self) -> None:
        try:
            if self.source is not None:
                self.source.close()
        except Exception:  # closing a broken source must not break the camera
            log.debug("camera %s: error while closing its source", self.camera.id, exc_info=True)
        self.source = None

    def close(self) -> None:
        self._close_source()

    # -- one look --------------------------------------------------------------------------------
    def step(self) -> StepResult:
        self._retry_unpublished()
        try:
            if self.source is None:
                self.source = self.reopen()
            frame = self.source.read()
        except SourceError as e:
            return self._failed(e.reason)
        except Exception as e:  # a bug or an OpenCV surprise in a source: report it, keep running
            log.exception("camera %s: source raised", self.camera.id)
            return self._failed(f"{type(e).__name__}: {e}")
        if frame is None:
            self._health["state"] = "ended"
            return StepResult("ended")

        h = self._health
        h.update(state="ok", consecutive_failures=0, frames=h["frames"] + 1,
                 last_frame_at=frame.captured_at.isoformat(timespec="seconds"))
        result = StepResult("ok", frame_ref=frame.ref)

        looked: list[tuple[ZoneCheck, Observation]] = []
        for check in self.checks:
            ctx = AnalyzeContext(self.camera.id, frame.captured_at, check.threshold)
            try:
                obs = check.analyzer.analyze(frame.image, check.zone, ctx)
            except Exception as e:
                log.exception("camera %s: analyzer %s failed on %s", self.camera.id, check.key, frame.ref)
                h["last_error"] = f"analyzer {check.key}: {type(e).__name__}: {e}"
                continue
            looked.append((check, obs))
            result.observations.append(obs)

        for check, obs in looked:
            check.scores.append(obs.score)
            transition = check.confirmation.update(obs.positive)
            if transition is None:
                continue
            result.transitions.append((check.key, transition))
            log.info("camera %s: %s episode %s at %s (score %.2f)", self.camera.id, check.key, transition,
                     frame.ref, obs.score)
            if transition == "started":
                candidate = self._candidate(frame, check, obs, result.observations)
                if candidate is not None:
                    result.candidates.append(candidate)
                    self._publish(candidate)
        return result

    # -- candidates ------------------------------------------------------------------------------
    def _candidate(self, frame, check: ZoneCheck, obs: Observation, observations: list[Observation]) -> Candidate | None:
        cam = self.camera
        try:
            jpeg = render_evidence(frame.image, self.zones, observations, cam.name, None, frame.captured_at)
            sha, uri = self.evidence_store.put(jpeg)
        except Exception as e:
            log.exception("camera %s: could not store evidence", cam.id)
            self._health["last_error"] = f"evidence: {type(e).__name__}: {e}"
            return None
        window = [s for s in check.scores if s >= check.threshold] or [obs.score]
        confidence = round(min(max(sum(window) / len(window), 0.0), 1.0), 4)
        loc = cam.location
        where = ", ".join(x for x in (loc.street, loc.ward) if x and x not in cam.name)
        summary = (f"Camera {cam.name}{f' ({where})' if where else ''}: {check.analyzer.summary_vi(obs)}. "
                   f"Xác nhận {check.confirmation.k}/{check.confirmation.n} lần quan sát gần nhất, "
                   f"độ tin cậy {confidence:.0%}. Cần tổng đài viên xác minh qua ảnh.")
        mask_summary = ", ".join(f"{k}={v}" for k, v in _scalar_attrs(obs.detail).items()) or None
        attributes = {"camera_id": cam.id, "zone": check.zone.name, "frame_ref": frame.ref,
                      "confirm": f"{check.confirmation.k}/{check.confirmation.n}",
                      **_scalar_attrs(obs.detail)}
        attributes.pop("zone_px", None)
        try:
            return Candidate.create(
                source="camera",
                source_ref=f"{cam.id}/{check.zone.name}/{check.category}/{frame.ref}",
                category=check.category,
                confidence=confidence,
                observed_at=frame.captured_at,
                location=Location(lat=loc.lat, lon=loc.lon, ward=loc.ward, street=loc.street,
                                  address=loc.address, precision="exact"),
                summary=summary[:2000],
                evidence=[FrameEvidence(uri=uri, sha256=sha, boxes=obs.boxes, mask_summary=mask_summary,
                                        score=min(max(obs.score, 0.0), 1.0))],
                detector=Detector(name=check.category, backend=check.analyzer.backend,
                                  model_version=check.analyzer.model_version, threshold=check.threshold),
                attributes=attributes,
            )
        except ValidationError as e:
            reason = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            log.error("camera %s: candidate rejected before publishing: %s", cam.id, reason)
            self._health["last_error"] = f"invalid candidate: {reason}"
            return None

    def _publish(self, candidate: Candidate) -> None:
        self._health["candidates"] += 1
        if self.on_event is None:
            return
        try:
            self.on_event(candidate)
        except Exception as e:
            log.warning("camera %s: publishing candidate %s failed (%s); will retry", self.camera.id, candidate.id, e)
            self._health["last_error"] = f"publish: {type(e).__name__}: {e}"
            self._unpublished.append(candidate)

    def _retry_unpublished(self) -> None:
        if not self._unpublished or self.on_event is None:
            return
        pending, self._unpublished = self._unpublished, []
        for i, candidate in enumerate(pending):
            try:
                self.on_event(candidate)
            except Exception as e:
                self._health["last_error"] = f"publish: {type(e).__name__}: {e}"
                self._unpublished.extend(pending[i:])
                return


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    camera_id: str = field(compare=False)


class MonitorLoop:
    """Steps every enabled camera at its interval_s in one thread. A failing camera is retried with
    exponential backoff (base·2^(failures-1), capped, never sooner than its interval) and never
    holds up the others beyond its own timeout. A non-looping replay that ends is dropped."""

    def __init__(self, cameras: Iterable, publish: Publish, stop_event: threading.Event | None = None, *,
                 evidence_store: EvidenceStore | str | Path | None = None, project_root: str | Path | None = None,
                 source_factory: Callable[..., FrameSource] = open_source,
                 backoff_base_s: float = 2.0, backoff_max_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic):
        from configs.loader import PROJECT_ROOT
        root = Path(project_root) if project_root is not None else PROJECT_ROOT
        if evidence_store is None:
            evidence_store = root / "var" / "evidence"
        self.evidence_store = evidence_store if isinstance(evidence_store, EvidenceStore) else EvidenceStore(evidence_store)
        self.publish = publish
        self.stop_event = stop_event or threading.Event()
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.monitors: dict[str, CameraMonitor] = {}
        self._backoff: dict[str, float | None] = {}
        self._heap: list[_Due] = []
        self._seq = 0
        now = clock()
        for cam in cameras:
            if not cam.enabled:
                continue
            if cam.id in self.monitors:
                raise ValueError(f"camera id {cam.id!r} given twice")
            self.monitors[cam.id] = CameraMonitor(
                cam, None, None, publish, evidence_store=self.evidence_store,
                reopen=(lambda c=cam: source_factory(c, root)))
            self._backoff[cam.id] = None
            self._schedule(cam.id, now)

    def _schedule(self, camera_id: str, at: float) -> None:
        self._seq += 1
        heapq.heappush(self._heap, _Due(at, self._seq, camera_id))

    def health(self) -> dict[str, dict[str, Any]]:
        out = {}
        for cid, mon in list(self.monitors.items()):
            h = mon.health()
            h["backoff_s"] = self._backoff.get(cid)
            out[cid] = h
        return out

    def run_due(self) -> float | None:
        """Step every camera that is due now, once; return when the next one is due (None: none left)."""
        now = self.clock()
        due: list[_Due] = []
        while self._heap and self._heap[0].at <= now:
            due.append(heapq.heappop(self._heap))
        for item in due:
            if self.stop_event.is_set():
                self._schedule(item.camera_id, item.at)
                continue
            mon = self.monitors[item.camera_id]
            started = self.clock()
            try:
                result = mon.step()
            except Exception as e:  # step() already contains source and analyzer errors; this is a bug
                log.exception("camera %s: step crashed", item.camera_id)
                result = StepResult("error", error=f"{type(e).__name__}: {e}")
            interval = mon.camera.interval_s
            if result.status == "ended":
                log.info("camera %s: replay ended after %d frames", item.camera_id, mon.health()["frames"])
                mon.close()
                continue
            if result.status == "error":
                failures = max(1, mon.health()["consecutive_failures"])
                backoff = min(self.backoff_max_s, self.backoff_base_s * 2 ** (failures - 1))
                wait = max(interval, backoff)
                self._backoff[item.camera_id] = wait
                log.warning("camera %s failing (%d in a row): %s; retry in %.1f s",
                            item.camera_id, failures, result.error, wait)
                self._schedule(item.camera_id, self.clock() + wait)
            else:
                self._backoff[item.camera_id] = None
                self._schedule(item.camera_id, max(started + interval, self.clock()))
        return self._heap[0].at if self._heap else None

    def run(self) -> None:
        """Until stop_event is set or no camera is left (all replays ended)."""
        log.info("monitor loop: %d camera(s)", len(self.monitors))
        try:
            while not self.stop_event.is_set():
                next_at = self.run_due()
                if next_at is None:
                    break
                self.stop_event.wait(max(0.0, next_at - self.clock()))
        finally:
            for mon in self.monitors.values():
                mon.close()
            log.info("monitor loop stopped")

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.run, name="watch1022-monitor", daemon=True)
        t.start()
        return t
