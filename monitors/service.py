"""What the CLI, the API and `watch1022 monitor` share: vetting and testing a camera, Prometheus text,
and running the monitor (one worker, or one of several over Kafka)."""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from configs.schema import CameraConf, MonitorConf
from monitors.netpolicy import UrlPolicy, UrlRefused
from monitors.registry import CameraRegistry, RegistryError
from monitors.sources import NETWORK_KINDS, SourceContext, SourceError, make_http_client, open_source

log = logging.getLogger("watch1022.monitors")


def vet(conf: CameraConf, policy: UrlPolicy | None) -> None:
    """Refuse (RegistryError 400) a network camera whose URL reaches a forbidden address."""
    if policy is None or conf.kind not in NETWORK_KINDS:
        return
    try:
        policy.check(conf.url)
    except UrlRefused as e:
        raise RegistryError(e.reason, 400) from None


def probe(conf: CameraConf, policy: UrlPolicy | None, *, project_root: str | Path | None = None,
          settings: MonitorConf | None = None) -> dict[str, Any]:
    """Fetch one frame: {"ok": True, "width", "height", "bytes", "latency_ms", "decoded": [w, h]} or
    {"ok": False, "error", "error_kind", "latency_ms"}."""
    s = settings or MonitorConf()
    started = time.monotonic()
    client = make_http_client(2, policy)
    ctx = SourceContext(client=client, policy=policy, max_pixels=s.max_pixels, max_bytes=s.max_bytes,
                        user_agent="watch1022-monitor/test")
    source = None
    try:
        if policy is not None and conf.kind in NETWORK_KINDS:
            policy.check(conf.url)
        source = open_source(conf, project_root, ctx)
        frame = source.read()
        if frame is None:
            raise SourceError("the source has no frames", "ended")
        w, h = frame.full_size or frame.image.shape[1::-1]
        return {"ok": True, "camera_id": conf.id, "width": int(w), "height": int(h), "bytes": frame.nbytes,
                "decoded": list(frame.image.shape[1::-1]),
                "latency_ms": round((frame.latency_s or time.monotonic() - started) * 1000, 1)}
    except (SourceError, UrlRefused) as e:
        return {"ok": False, "camera_id": conf.id, "error": e.reason, "error_kind": e.kind,
                "latency_ms": round((time.monotonic() - started) * 1000, 1)}
    finally:
        if source is not None:
            source.close()
        client.close()


# ---- Prometheus ------------------------------------------------------------------------------------
def _label(v: str) -> str:
    return str(v).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def metrics_text(cameras: Iterable[CameraConf], health: dict[str, dict[str, Any]]) -> str:
    """Prometheus text exposition (version 0.0.4) of every registered camera's health."""
    from monitors.health import QUALITIES
    cams = list(cameras)
    gauges: list[tuple[str, str, str, Callable[[dict], Any]]] = [
        ("watch1022_camera_up", "gauge", "1 if the camera's last look gave a frame", lambda h: int(h.get("state") == "ok")),
        ("watch1022_camera_last_frame_age_seconds", "gauge", "Seconds since the last good frame",
         lambda h: h.get("last_frame_age_s")),
        ("watch1022_camera_frames_per_minute", "gauge", "Good frames in the last minute", lambda h: h.get("frames_per_min")),
        ("watch1022_camera_expected_frames_per_minute", "gauge", "60 / interval", lambda h: h.get("expected_per_min")),
        ("watch1022_camera_reconnects_last_hour", "gauge", "Source reconnects in the last hour", lambda h: h.get("reconnects_1h")),
        ("watch1022_camera_stalls_last_hour", "gauge", "Frozen, too slow or timed-out looks in the last hour",
         lambda h: h.get("stalls_1h")),
        ("watch1022_camera_latency_seconds", "gauge", "Fetch latency of the last frame",
         lambda h: None if h.get("latency_ms") is None else h["latency_ms"] / 1000),
        ("watch1022_camera_frames_total", "counter", "Good frames since the worker started", lambda h: h.get("frames")),
        ("watch1022_camera_errors_total", "counter", "Failed looks since the worker started", lambda h: h.get("errors")),
    ]
    lines: list[str] = []
    for name, typ, help_, get in gauges:
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {typ}"]
        for c in cams:
            h = health.get(c.id)
            v = get(h) if h else None
            if v is not None:
                lines.append(f'{name}{{camera="{_label(c.id)}",kind="{_label(c.kind)}"}} {float(v):g}')
    lines += ["# HELP watch1022_camera_quality Connection-quality class (1 for the camera's class)",
              "# TYPE watch1022_camera_quality gauge"]
    for c in cams:
        q = (health.get(c.id) or {}).get("quality", "unknown")
        for cls in (*QUALITIES, "unknown"):
            lines.append(f'watch1022_camera_quality{{camera="{_label(c.id)}",quality="{cls}"}} {int(q == cls)}')
    states: dict[str, int] = {}
    for c in cams:
        st = (health.get(c.id) or {}).get("state", "unwatched")
        states[st] = states.get(st, 0) + 1
    lines += ["# HELP watch1022_cameras Registered cameras by state", "# TYPE watch1022_cameras gauge"]
    lines += [f'watch1022_cameras{{state="{_label(k)}"}} {v}' for k, v in sorted(states.items())]
    return "\n".join(lines) + "\n"


# ---- running ---------------------------------------------------------------------------------------
def worker_id() -> str:
    return os.environ.get("WATCH1022_WORKER_ID") or f"{socket.gethostname()}-{os.getpid()}"


def run_monitor(rt, publish, stop: threading.Event, *, stop_when_idle: bool = False,
                worker: str | None = None) -> None:
    """Watch the registry's cameras (seeded from cameras.yaml) until stopped. With the Kafka bus, this
    worker is one member of a group sharing the cameras (monitors.cluster); else it watches them all."""
    from monitors.runner import MonitorLoop
    cfg = rt.config
    settings = cfg.cameras.monitor
    registry = CameraRegistry(rt.db)
    seeded = registry.seed(cfg.cameras.cameras)
    if seeded:
        log.info("camera registry: added %s from cameras.yaml", ", ".join(seeded))
    worker = worker or worker_id()
    cluster = cfg.bridge.bus.backend == "kafka"
    loop = MonitorLoop((), publish, stop, evidence_store=rt.evidence_dir(), settings=settings, registry=registry,
                       stop_when_idle=stop_when_idle and not cluster, worker_id=worker,
                       owns=(lambda _cid: False) if cluster else None)
    if not cluster:
        loop.run()
        return
    from monitors.cluster import ClusterMember
    member = ClusterMember(loop, cfg.bridge.bus.bootstrap_servers, settings, worker)
    member.run(stop)
