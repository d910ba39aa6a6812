"""The commands behind `watch1022 ...`. `demo` runs every part in one process; the others run one part each,
with the same code, for a distributed set-up (Kafka bus, PostgreSQL database)."""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from argparse import Namespace
from dataclasses import replace
from pathlib import Path

from watch1022.runtime import Runtime, load_config, open_runtime


def _say(line: str) -> None:
    print(line, flush=True)


def _stop_on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())


def migrate(args: Namespace) -> int:
    cfg = load_config(args.config, args.database)
    rt = open_runtime(cfg)
    rt.close()
    _say(f"schema is up to date on {cfg.database_url()}")
    return 0


class RaisedLog:
    """Counts and prints each candidate a producer raises, then hands it to the bus."""

    def __init__(self, publisher):
        self.publisher = publisher
        self.counts = {"camera": 0, "social": 0}
        self.lock = threading.Lock()

    def publish(self, candidate) -> None:
        self.publisher.publish(candidate)
        with self.lock:
            self.counts[candidate.source] += 1
        place = candidate.location.street or candidate.location.ward or "TP.HCM"
        _say(f"raised    {candidate.source:6} {candidate.category:12} conf={candidate.confidence:.2f} "
             f"{place} ({candidate.source_ref})")

    def dead_letter(self, stage: str, reason: str, payload: str) -> None:
        self.publisher.dead_letter(stage, reason, payload)
        _say(f"refused   {stage}: {reason}")

    def flush(self) -> None:
        self.publisher.flush()


def _print_delivery(ev) -> None:
    if ev.outcome in ("sent", "found"):
        _say(f"delivered incident {ev.incident_id} ({ev.category}) -> 1022 case #{ev.service_request_id}"
             + (" (found at the core, not re-sent)" if ev.outcome == "found" else ""))
    else:
        _say(f"delivery  incident {ev.incident_id} ({ev.category}) {ev.outcome}: {ev.detail}")


def _print_verdict(ev) -> None:
    _say(f"verdict   incident {ev.incident_id} -> {ev.verdict} ({ev.notes})")


def _bridge(rt: Runtime):
    from bridge.service import BridgeService
    return BridgeService(rt.config, rt.db, rt.bus, rt.core_client(), on_delivery=_print_delivery,
                         on_verdict=_print_verdict)


def run_cameras(rt: Runtime, publisher, stop: threading.Event, stop_when_idle: bool = True) -> None:
    """Watch the cameras of the registry (seeded from cameras.yaml) until stopped, or, with
    stop_when_idle, until every non-looping replay has ended. With the Kafka bus this process is one of
    several monitor workers sharing the cameras (worker name: $WATCH1022_WORKER_ID or host-pid)."""
    from monitors.service import run_monitor
    run_monitor(rt, publisher.publish, stop, stop_when_idle=stop_when_idle)


def console_app(rt: Runtime, publisher, core_path: str | None = None):
    """The operator console with the parts' APIs: cameras (live registry, health, /metrics) and the
    social webhook (`POST /social/posts`, keys from the env var named in social.yaml)."""
    from bridge.console import create_console
    from monitors.api import create_router as cameras_router
    from monitors.registry import CameraRegistry
    from social.webhook import create_router as webhook_router
    from configs.apikeys import keys_from_env

    cfg = rt.config
    app = create_console(rt.db, cfg.categories.by_code(), rt.evidence_dir(), core_path=core_path)
    registry = CameraRegistry(rt.db)
    registry.seed(cfg.cameras.cameras)  # the file's cameras are listed before any monitor ran
    app.include_router(cameras_router(registry, settings=cfg.cameras.monitor,
                                      api_keys=keys_from_env(cfg.cameras.monitor.api_keys_env)))
    hook = cfg.social.webhook
    keys = keys_from_env(hook.api_keys_env)
    app.include_router(webhook_router(publisher, keys, categories=cfg.categories.categories,
                                      threshold=cfg.social.threshold, salt=rt.author_salt(),
                                      max_items=hook.max_items))
    return app


def _threads(targets: dict[str, callable], stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for name, target in targets.items():
        t = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
        t.start()
        threads.append(t)
    return threads


def demo(args: Namespace) -> int:
    from core1022.app import create_app as create_core
    from social.runner import run_social
    from watch1022.serve import ServerThread

    var = Path(args.var).resolve() if args.var else None
    base = f"http://{args.host}:{args.port}"
    cfg = load_config(args.config, args.database,
                      database_url=f"sqlite:///{var / 'watch1022.db'}" if var and not args.database else None,
                      evidence_dir=str(var / "evidence") if var else None,
                      evidence_base_url=f"{base}/evidence")
    core_conf = cfg.bridge.core.model_copy(update={"base_url": f"{base}/core/open311/v2"})
    cfg = replace(cfg, bridge=cfg.bridge.model_copy(update={"core": core_conf}))
    rt = open_runtime(cfg)
    core_db = f"sqlite:///{(var or cfg.resolve('var')) / 'core1022.db'}"
    categories = cfg.categories.by_code()
    services = [{"service_code": c.service_code, "service_name": c.name_vi, "group": c.field,
                 "description": f"{c.name_vi} ({c.field})"} for c in categories.values()]
    raised = RaisedLog(rt.publisher())
    app = console_app(rt, raised, core_path="core")
    app.mount("/core", create_core(core_db, [core_conf.api_key], services=services))
    server = ServerThread(app, args.host, args.port).start()
    _say(f"1022 Watch demo: console {base}/  ·  core review queue {base}/core/review  ·  state in "
         f"{cfg.database_url()}")

    stop = threading.Event()
    _stop_on_signals(stop)
    bridge = _bridge(rt)
    threads = _threads({
        "cameras": lambda st: run_cameras(rt, raised, st),
        # The demo replays the sample posts from the start each run: a replay must create no new case.
        "social": lambda st: run_social(rt, raised, st, once=True, from_start=True,
                                        state_dir=(var / "social") if var else None),
        "bridge": bridge.run,
    }, stop)
    deadline = time.monotonic() + args.duration if args.duration else None
    producers = [t for t in threads if t.name != "bridge"]

    def idle() -> bool:  # every sample replayed, every candidate stored, nothing left to deliver
        return not any(t.is_alive() for t in producers) and bridge.idle_steps >= 3

    try:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if args.until_idle and idle():
                break
            stop.wait(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        server.stop()
        bridge.close()
        rt.close()
    c = bridge.counts
    summary = {"raised": raised.counts, "delivered": c.delivered, "deadletter": c.deadletter,
               "incidents_new": c.new_incidents, "merged": c.merged, "replays": c.replays, "verdicts": c.verdicts}
    _say(json.dumps(summary, ensure_ascii=False) if args.json else
         f"done: raised {raised.counts}, delivered {c.delivered}, dead letters {c.deadletter}, "
         f"merged {c.merged}, replays {c.replays}")
    return 0


def _run_part(args: Namespace, part) -> int:
    """Run one part (`part(runtime, stop)`) as its own process until SIGINT/SIGTERM."""
    rt = open_runtime(load_config(args.config, args.database))
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        part(rt, stop)
    finally:
        rt.close()
    return 0


def bridge(args: Namespace) -> int:
    def run(rt: Runtime, stop: threading.Event) -> None:
        svc = _bridge(rt)
        _say(f"bridge: {rt.config.bridge.bus.backend} bus -> {rt.config.bridge.core.base_url}")
        try:
            svc.run(stop)
        finally:
            svc.close()
    return _run_part(args, run)


def monitor(args: Namespace) -> int:
    return _run_part(args, lambda rt, stop: run_cameras(rt, RaisedLog(rt.publisher()), stop, stop_when_idle=False))


def social(args: Namespace) -> int:
    from social.runner import run_social
    return _run_part(args, lambda rt, stop: run_social(rt, RaisedLog(rt.publisher()), stop, once=args.once))


def console(args: Namespace) -> int:
    import uvicorn
    rt = open_runtime(load_config(args.config, args.database))
    try:
        uvicorn.run(console_app(rt, rt.publisher()), host=args.host, port=args.port, log_level="warning")
    finally:
        rt.close()
    return 0
