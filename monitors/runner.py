"""Running cameras: a CameraMonitor turns one camera's frames into candidates; a MonitorLoop runs many
cameras on their intervals with a bounded pool of workers, backoff for the broken ones, and a live
camera registry.

    loop = MonitorLoop(cfg.cameras.cameras, publish, stop_event, evidence_store=store,
                       settings=cfg.cameras.monitor, registry=CameraRegistry(db))
    thread = loop.start()          # or loop.run() in the current thread
    loop.health()                  # {camera id: {"state": "ok" | "failing" | ..., "quality": ..., ...}}

Per look: read a frame, run every (zone, analyzer) of the camera, feed each answer into its K-of-N
confirmation; when a confirmation *starts* an episode, render the evidence, store it, build a
Candidate v1 and hand it to `on_event`/`publish`. One candidate per episode, none when it ends.

Scheduling (MonitorLoop.run): one scheduler thread keeps a heap of due times; a due camera is handed
to a worker pool (`max_workers`), at most one look per camera at a time. Cameras that are failing go to
a separate, smaller probation pool, so a crowd of dead feeds waiting on their timeouts cannot take the
workers of the healthy ones; each look is bounded by the camera's own deadline (timeout_s). Intervals
carry ± jitter; first looks are spread over the interval (no thundering herd at start). A failing camera
backs off exponentially (base·2^(failures-1), capped, never sooner than its interval).
"""
from __future__ import annotations

import ctypes
import heapq
import logging
import random
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from pydantic import ValidationError

from models.candidate import Candidate, Detector, FrameEvidence, Location, now_city
from monitors.health import CameraHealth
from monitors.netpolicy import UrlPolicy
from monitors.sources import (Frame, FrameSource, SourceContext, SourceError, make_http_client, open_source)
from vision.analyzer import AnalyzeContext, Analyzer, Observation, UnknownAnalyzer, make_analyzer
from vision.confirm import Confirmation
from vision.evidence import EvidenceStore, render_evidence
from vision.zones import Zone

log = logging.getLogger("watch1022.monitors")

Publish = Callable[[Candidate], None]
FROZEN_AFTER = 3  # identical snapshots in a row before a camera counts as frozen


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
                # A learned backend runs the model version the zone names (default: the promoted one).
                options = {"model": settings.model} if settings.model else {}
                analyzer = make(category, settings.backend, **options)
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
    error_kind: str | None = None
    frame: Frame | None = None  # the frame looked at (for hooks; not kept)


def _scalar_attrs(d: dict[str, Any]) -> dict[str, str | int | float | bool | None]:
    return {k: v for k, v in d.items() if v is None or isinstance(v, (str, int, float, bool))}


class CameraMonitor:
    """One camera: source → analyzers per zone → confirmation → on_event(Candidate) per episode.

    source: an open FrameSource, or None to open it with `reopen` on the first step.
    analyzers: ZoneChecks (default: built from the camera's zones with the analyzer registry).
    reopen: how to open the source again after `reopen_after` failures in a row, or at once when the
    source says it is `broken` (default: from the config with monitors.sources.open_source)."""

    def __init__(self, camera, source: FrameSource | None, analyzers: Sequence[ZoneCheck] | None = None,
                 on_event: Publish | None = None, *, evidence_store: EvidenceStore,
                 reopen: Callable[[], FrameSource] | None = None, reopen_after: int = 3,
                 project_root: str | Path | None = None, clock: Callable[[], float] = time.time):
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
        self.problems = problems
        self.candidates = 0
        self._unpublished: list[Candidate] = []
        self._opened = 0
        self._last_digest: int | None = None
        self.stats = CameraHealth(camera.id, camera.interval_s, clock)

    # -- health ----------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        h = self.stats.snapshot()
        h.update(name=self.camera.name, kind=self.camera.kind, candidates=self.candidates,
                 active=[c.key for c in self.checks if c.confirmation.active],
                 unpublished=len(self._unpublished), problems=list(self.problems))
        return h

    def _note(self, reason: str) -> None:
        """An error that does not stop the camera (analyzer, evidence, publishing): shown as last_error."""
        self.stats.last_error, self.stats.last_error_at = reason, self.stats.clock()

    def _failed(self, reason: str, kind: str = "other") -> StepResult:
        self.stats.error(reason, kind)
        broken = self.source is not None and getattr(self.source, "broken", False)
        if self.source is not None and (broken or self.stats.consecutive_failures >= self.reopen_after):
            self._close_source()  # reconnect on the next step
        return StepResult("error", error=reason, error_kind=kind)

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
                self._opened += 1
                if self._opened > 1:
                    self.stats.reconnect()
            frame = self.source.read()
        except SourceError as e:
            return self._failed(e.reason, e.kind)
        except Exception as e:  # a bug or an OpenCV surprise in a source: report it, keep running
            log.exception("camera %s: source raised", self.camera.id)
            return self._failed(f"{type(e).__name__}: {e}")
        if frame is None:
            self.stats.ended()
            return StepResult("ended")

        same = frame.digest is not None and frame.digest == self._last_digest
        self._last_digest = frame.digest
        self.stats.same_image = self.stats.same_image + 1 if same else 0
        self.stats.frame(latency_s=frame.latency_s, resolution=frame.full_size or frame.image.shape[1::-1],
                         decoded=frame.image.shape[1::-1], nbytes=frame.nbytes,
                         frozen=self.stats.same_image >= FROZEN_AFTER - 1)
        result = StepResult("ok", frame_ref=frame.ref, frame=frame)

        looked: list[tuple[ZoneCheck, Observation]] = []
        for check in self.checks:
            ctx = AnalyzeContext(self.camera.id, frame.captured_at, check.threshold,
                                 episode_active=check.confirmation.active)  # no baseline learning mid-episode
            try:
                obs = check.analyzer.analyze(frame.image, check.zone, ctx)
            except Exception as e:
                log.exception("camera %s: analyzer %s failed on %s", self.camera.id, check.key, frame.ref)
                self._note(f"analyzer {check.key}: {type(e).__name__}: {e}")
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
        for obs in result.observations:  # masks are full-frame arrays: do not keep them past the look
            obs.mask = None
        return result

    # -- candidates ------------------------------------------------------------------------------
    def _candidate(self, frame, check: ZoneCheck, obs: Observation, observations: list[Observation]) -> Candidate | None:
        cam = self.camera
        try:
            jpeg = render_evidence(frame.image, self.zones, observations, cam.name, None, frame.captured_at)
            sha, uri = self.evidence_store.put(jpeg)
            raw_uri = self.evidence_store.raw_of(uri)  # the frame without drawings, for training exports
        except Exception as e:
            log.exception("camera %s: could not store evidence", cam.id)
            self._note(f"evidence: {type(e).__name__}: {e}")
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
                      **({"raw_frame_uri": raw_uri} if raw_uri else {}), **_scalar_attrs(obs.detail)}
        attributes.pop("zone_px", None)
        try:
            return Candidate.create(
                source="camera",
                source_ref=f"{cam.id}/{check.zone.name}/{check.category}/{frame.ref}",
                category=check.analyzer.candidate_category or check.category,
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
            self._note(f"invalid candidate: {reason}")
            return None

    def _publish(self, candidate: Candidate) -> None:
        self.candidates += 1
        if self.on_event is None:
            return
        try:
            self.on_event(candidate)
        except Exception as e:
            log.warning("camera %s: publishing candidate %s failed (%s); will retry", self.camera.id, candidate.id, e)
            self._note(f"publish: {type(e).__name__}: {e}")
            self._unpublished.append(candidate)

    def _retry_unpublished(self) -> None:
        if not self._unpublished or self.on_event is None:
            return
        pending, self._unpublished = self._unpublished, []
        for i, candidate in enumerate(pending):
            try:
                self.on_event(candidate)
            except Exception as e:
                self._note(f"publish: {type(e).__name__}: {e}")
                self._unpublished.extend(pending[i:])
                return




def cap_malloc_arenas(arenas: int = 2) -> bool:
    """Ask glibc for at most `arenas` malloc arenas in this process. By default every look thread gets
    an arena of its own, each keeping freed frames for reuse: with 12 threads that is ~80 MB of RSS
    a monitor of 3,000 cameras does not need (bench/monitors.py: 443 -> 368 MB, same frames/s and
    CPU). Process-wide, so it is done where the monitor starts; a no-op off glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-8, arenas))  # -8: M_ARENA_MAX in malloc.h
    except (OSError, AttributeError):
        return False


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    camera_id: str = field(compare=False)
    gen: int = field(compare=False, default=0)


@dataclass
class _Entry:
    conf: Any
    monitor: CameraMonitor
    gen: int
    inflight: bool = False
    ended: bool = False
    removed: bool = False
    backoff: float | None = None


LookHook = Callable[[str, StepResult, float, float, float], None]  # (camera id, result, due, started, finished)


class MonitorLoop:
    """Runs every enabled camera at its interval_s (see the module docstring for the scheduling).

    cameras: CameraConfs to watch (besides those of `registry`, if given).
    registry: a monitors.registry.CameraRegistry, re-read every settings.registry_poll_s: cameras added,
      changed or removed there are started, restarted or stopped without a restart of the monitor; the
      loop also writes each camera's health to it every settings.status_every_s.
    owns: camera id -> bool, the cameras this worker is responsible for (several workers; see
      monitors.cluster). Default: all.
    settings: a configs.schema.MonitorConf (pool sizes, jitter, backoff, limits, allow-listed networks);
      the keyword arguments below override it.
    url_policy: which addresses camera URLs may reach (default: from settings.allow_networks; False: no check).
    stop_when_idle: run() returns once no camera is left to look at (every replay ended).
    on_look: called after every look with (camera id, result, due, started, finished) on the monotonic clock.
    """

    def __init__(self, cameras: Iterable = (), publish: Publish | None = None,
                 stop_event: threading.Event | None = None, *,
                 evidence_store: EvidenceStore | str | Path | None = None, project_root: str | Path | None = None,
                 source_factory: Callable[..., FrameSource] = open_source,
                 backoff_base_s: float | None = None, backoff_max_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic, settings=None, registry=None,
                 owns: Callable[[str], bool] | None = None, url_policy: UrlPolicy | None | bool = None,
                 jitter: float | None = None, start_spread: float | None = None, max_workers: int | None = None,
                 probation_workers: int | None = None, stop_when_idle: bool = True, worker_id: str = "monitor",
                 on_look: LookHook | None = None, seed: int | None = None):
        from configs.loader import PROJECT_ROOT
        from configs.schema import MonitorConf
        s = settings or MonitorConf()
        self.settings = s
        self.root = Path(project_root) if project_root is not None else PROJECT_ROOT
        if evidence_store is None:
            evidence_store = self.root / "var" / "evidence"
        self.evidence_store = evidence_store if isinstance(evidence_store, EvidenceStore) else EvidenceStore(evidence_store)
        self.publish = publish
        self.stop_event = stop_event or threading.Event()
        self.backoff_base_s = s.backoff_base_s if backoff_base_s is None else backoff_base_s
        self.backoff_max_s = s.backoff_max_s if backoff_max_s is None else backoff_max_s
        self.jitter = s.jitter if jitter is None else jitter
        self.start_spread = s.start_spread if start_spread is None else start_spread
        self.max_workers = max_workers or s.max_workers
        self.probation_workers = probation_workers or s.probation_workers
        self.clock = clock
        self.registry = registry
        self.owns = owns
        self.stop_when_idle = stop_when_idle
        self.worker_id = worker_id
        self.on_look = on_look
        self._rng = random.Random(seed)
        if url_policy is None:
            url_policy = UrlPolicy(s.allow_networks)
        self.policy: UrlPolicy | None = url_policy or None
        self.source_factory = source_factory
        self.context = SourceContext(client=make_http_client(self.max_workers + self.probation_workers, self.policy),
                                     policy=self.policy, max_pixels=s.max_pixels, max_bytes=s.max_bytes,
                                     user_agent=f"watch1022-monitor/{worker_id}")
        self._cond = threading.Condition(threading.RLock())
        self._entries: dict[str, _Entry] = {}
        self._static = [c for c in cameras]
        self._heap: list[_Due] = []
        self._seq = 0
        self._gen = 0
        self._pool: ThreadPoolExecutor | None = None
        self._probation: ThreadPoolExecutor | None = None
        ids = [c.id for c in self._static]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"camera id(s) {sorted(dup)} given twice")
        self._apply(self._static, self.clock())

    # -- the set of cameras ------------------------------------------------------------------------
    @property
    def monitors(self) -> dict[str, CameraMonitor]:
        with self._cond:
            return {cid: e.monitor for cid, e in self._entries.items()}

    def _open(self, cam) -> FrameSource:
        if self.source_factory is open_source:
            return open_source(cam, self.root, self.context)
        return self.source_factory(cam, self.root)

    def _add(self, cam, now: float) -> None:
        self._gen += 1
        mon = CameraMonitor(cam, None, None, self.publish, evidence_store=self.evidence_store,
                            reopen=(lambda c=cam: self._open(c)), reopen_after=self.settings.reopen_after)
        entry = _Entry(cam, mon, self._gen)
        self._entries[cam.id] = entry
        first = now + self._rng.uniform(0, cam.interval_s * self.start_spread) if self.start_spread else now
        self._schedule(cam.id, first, entry.gen)
        log.info("camera %s: watching (%s, every %g s)", cam.id, cam.kind, cam.interval_s)

    def _remove(self, camera_id: str, wait_s: float = 0.0, reason: str = "removed") -> None:
        """Stop watching a camera; with wait_s, wait (at most that long) for its look in flight to end."""
        entry = self._entries.pop(camera_id, None)
        if entry is None:
            return
        entry.removed = True
        entry.monitor.stats.stopped(reason)
        if entry.inflight and wait_s > 0:
            deadline = time.monotonic() + wait_s
            while entry.inflight and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
        if not entry.inflight:
            entry.monitor.close()
        log.info("camera %s: no longer watched (%s)", camera_id, reason)

    def _apply(self, wanted: Iterable, now: float, wait_s: float = 0.0) -> None:
        """Make the watched set equal `wanted` (enabled and owned cameras only): start new ones, restart
        changed ones, stop the others."""
        want = {c.id: c for c in wanted if c.enabled and (self.owns is None or self.owns(c.id))}
        with self._cond:
            for cid in [cid for cid, e in self._entries.items() if cid not in want or want[cid] != e.conf]:
                self._remove(cid, wait_s, "removed from the registry" if cid not in want else "configuration changed")
            for cid, cam in want.items():
                if cid not in self._entries:
                    self._add(cam, now)
            self._cond.notify_all()

    def wanted(self) -> list:
        """The cameras to watch: the static ones plus the registry's (the registry wins on an id)."""
        cams = {c.id: c for c in self._static}
        if self.registry is not None:
            for c in self.registry.list_cameras():
                cams[c.id] = c
        return list(cams.values())

    def sync(self, wait_s: float = 30.0) -> None:
        """Re-read the registry (and ownership) now."""
        try:
            wanted = self.wanted()
        except Exception as e:  # the database being away must not stop the cameras already running
            log.warning("monitor %s: cannot read the camera registry: %s", self.worker_id, e)
            return
        self._apply(wanted, self.clock(), wait_s)

    def set_owner(self, owns: Callable[[str], bool] | None, wait_s: float = 30.0) -> None:
        """Change which cameras this worker watches, stopping the others (and waiting for their looks in
        flight, so a camera handed to another worker is never watched twice)."""
        self.owns = owns
        with self._cond:
            for cid in [cid for cid in self._entries if owns is not None and not owns(cid)]:
                self._remove(cid, wait_s, "handed to another worker")
            self._cond.notify_all()

    def _schedule(self, camera_id: str, at: float, gen: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, _Due(at, self._seq, camera_id, gen))

    def health(self) -> dict[str, dict[str, Any]]:
        with self._cond:
            entries = list(self._entries.items())
        out = {}
        for cid, e in entries:
            h = e.monitor.health()
            h["backoff_s"] = e.backoff
            h["interval_s"] = e.conf.interval_s
            h["worker"] = self.worker_id
            out[cid] = h
        return out

    # -- looks -----------------------------------------------------------------------------------
    def _jittered(self, seconds: float) -> float:
        return seconds * (1 + self._rng.uniform(-self.jitter, self.jitter)) if self.jitter else seconds

    def _look(self, entry: _Entry) -> StepResult:
        try:
            return entry.monitor.step()
        except Exception as e:  # step() already contains source and analyzer errors; this is a bug
            log.exception("camera %s: step crashed", entry.conf.id)
            entry.monitor.stats.error(f"{type(e).__name__}: {e}")
            return StepResult("error", error=f"{type(e).__name__}: {e}", error_kind="other")

    def _finish(self, entry: _Entry, item: _Due, result: StepResult, finished: float) -> None:
        """Under the lock: schedule the camera's next look."""
        entry.inflight = False
        cid = entry.conf.id
        if entry.removed:
            entry.monitor.close()
            return
        interval = entry.conf.interval_s
        if result.status == "ended":
            log.info("camera %s: replay ended after %d frames", cid, entry.monitor.stats.frames)
            entry.ended = True
            entry.monitor.close()
            return
        if result.status == "error":
            failures = max(1, entry.monitor.stats.consecutive_failures)
            backoff = min(self.backoff_max_s, self.backoff_base_s * 2 ** (failures - 1))
            wait = self._jittered(max(interval, backoff))
            entry.backoff = wait
            log.warning("camera %s failing (%d in a row): %s; retry in %.1f s", cid, failures, result.error, wait)
            self._schedule(cid, finished + wait, entry.gen)
        else:
            entry.backoff = None
            base = item.at if finished - item.at < interval else finished  # fell behind: do not burst
            self._schedule(cid, max(base + self._jittered(interval), finished), entry.gen)

    def _pop_due(self, now: float) -> list[tuple[_Entry, _Due]]:
        due = []
        while self._heap and self._heap[0].at <= now:
            item = heapq.heappop(self._heap)
            entry = self._entries.get(item.camera_id)
            if entry is None or entry.gen != item.gen or entry.inflight or entry.ended:
                continue  # stale: removed, restarted, or already being looked at
            entry.inflight = True
            due.append((entry, item))
        return due

    def run_due(self) -> float | None:
        """Look at every camera that is due now, once, in this thread; return when the next one is due
        (None: none left). The synchronous form of run(), for tests and tools."""
        with self._cond:
            due = self._pop_due(self.clock())
        for entry, item in due:
            if self.stop_event.is_set():
                with self._cond:
                    entry.inflight = False
                    self._schedule(item.camera_id, item.at, item.gen)
                continue
            started = self.clock()
            result = self._look(entry)
            finished = self.clock()
            with self._cond:
                self._finish(entry, item, result, finished)
            self._hook(entry, result, item, started, finished)
        with self._cond:
            return self._heap[0].at if self._heap else None

    def _hook(self, entry: _Entry, result: StepResult, item: _Due, started: float, finished: float) -> None:
        if self.on_look is not None:
            try:
                self.on_look(entry.conf.id, result, item.at, started, finished)
            except Exception:
                log.exception("on_look hook failed")
        result.frame = None

    def _job(self, entry: _Entry, item: _Due) -> None:
        started = self.clock()
        result = self._look(entry)
        finished = self.clock()
        with self._cond:
            self._finish(entry, item, result, finished)
            self._cond.notify_all()
        self._hook(entry, result, item, started, finished)

    def _idle(self) -> bool:
        return not self._heap and not any(e.inflight for e in self._entries.values())

    def _write_status(self) -> None:
        if self.registry is None:
            return
        try:
            self.registry.write_status(self.worker_id, self.health())
        except Exception as e:
            log.warning("monitor %s: cannot write camera health: %s", self.worker_id, e)

    def run(self) -> None:
        """Until stop_event is set (or, with stop_when_idle, no camera is left: all replays ended)."""
        s = self.settings
        cap_malloc_arenas()
        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="look")
        self._probation = ThreadPoolExecutor(self.probation_workers, thread_name_prefix="look-failing")
        if self.registry is not None:
            self.sync()
        log.info("monitor %s: %d camera(s), %d workers", self.worker_id, len(self._entries), self.max_workers)
        next_sync = self.clock() + s.registry_poll_s
        next_status = self.clock()
        try:
            while not self.stop_event.is_set():
                now = self.clock()
                if self.registry is not None and now >= next_sync:
                    self.sync()
                    next_sync = self.clock() + s.registry_poll_s
                if self.registry is not None and now >= next_status:
                    self._write_status()
                    next_status = self.clock() + s.status_every_s
                with self._cond:
                    for entry, item in self._pop_due(self.clock()):
                        failing = entry.monitor.stats.consecutive_failures  # new cameras get the benefit of the doubt
                        pool = self._probation if failing else self._pool
                        pool.submit(self._job, entry, item)
                    if self.stop_when_idle and self._idle():
                        break
                    now = self.clock()
                    wake = [1.0]
                    if self._heap:
                        wake.append(self._heap[0].at - now)
                    if self.registry is not None:
                        wake += [next_sync - now, next_status - now]
                    self._cond.wait(max(0.0, min(wake)))
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._probation.shutdown(wait=True, cancel_futures=True)
            with self._cond:
                for e in self._entries.values():
                    e.inflight = False
                    e.monitor.close()
            self._write_status()
            self.context.client.close()
            log.info("monitor %s stopped", self.worker_id)

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.run, name="watch1022-monitor", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self.stop_event.set()
        with self._cond:
            self._cond.notify_all()
