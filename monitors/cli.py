"""`watch1022 cameras add|test|list|remove`: the live camera registry from the command line. Changes
take effect in running monitors at their next registry read (monitor.registry_poll_s), no restart."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import ValidationError

ROAD_ZONE = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]


def register(sub, common) -> None:
    p = sub.add_parser("cameras", help="the camera registry: add, test, list, remove feeds (live)")
    csub = p.add_subparsers(dest="cameras_command", required=True)

    q = csub.add_parser("list", help="every camera with its health (from the running monitors)")
    common(q)
    q.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    q.set_defaults(func=cmd_list)

    q = csub.add_parser("add", help="register a camera (URL checked against the network policy)")
    common(q)
    q.add_argument("--from-json", metavar="FILE", help="a whole camera (as in cameras.yaml) as JSON; '-' reads stdin")
    q.add_argument("--id")
    q.add_argument("--name")
    q.add_argument("--kind", default="http_snapshot", help="http_snapshot | mjpeg | rtsp | video_file | image_folder")
    q.add_argument("--url")
    q.add_argument("--lat", type=float)
    q.add_argument("--lon", type=float)
    q.add_argument("--ward")
    q.add_argument("--street")
    q.add_argument("--interval", type=float, default=15.0, metavar="S")
    q.add_argument("--timeout", type=float, default=10.0, metavar="S")
    q.add_argument("--header", action="append", default=[], metavar="'Name: value'", help="e.g. 'Referer: http://...'")
    q.add_argument("--basic", metavar="USER:PASSWORD")
    q.add_argument("--bearer", metavar="TOKEN")
    q.add_argument("--zone", metavar="JSON", help="road zone polygon, relative [[x,y],...] (default: lower half)")
    q.add_argument("--analyzer", action="append", default=None, help="analyzer of the zone (default: flooding)")
    q.add_argument("--replace", action="store_true", help="replace a camera with the same id")
    q.add_argument("--test", action="store_true", help="fetch one frame first; refuse to add if that fails")
    q.set_defaults(func=cmd_add)

    q = csub.add_parser("test", help="fetch one frame: resolution, size and latency, or why it failed")
    common(q)
    q.add_argument("camera_id", nargs="?", help="a registered camera")
    q.add_argument("--url", help="or a feed not registered yet")
    q.add_argument("--kind", default="http_snapshot")
    q.add_argument("--header", action="append", default=[], metavar="'Name: value'")
    q.add_argument("--timeout", type=float, default=10.0, metavar="S")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_test)

    q = csub.add_parser("remove", help="unregister a camera (running monitors stop it)")
    common(q)
    q.add_argument("camera_id")
    q.set_defaults(func=cmd_remove)


def _open(args):
    from monitors.registry import CameraRegistry
    from watch1022.runtime import load_config
    from models.db import Database
    cfg = load_config(args.config, args.database)
    db = Database(cfg.database_url())
    db.migrate()
    registry = CameraRegistry(db)
    registry.seed(cfg.cameras.cameras)  # the file's cameras are listed (and removable) before any monitor ran
    return cfg, db, registry


def _policy(cfg):
    from monitors.netpolicy import UrlPolicy
    return UrlPolicy(cfg.cameras.monitor.allow_networks)


def _headers(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise SystemExit(f"--header wants 'Name: value', got {item!r}")
        out[name.strip()] = value.strip()
    return out


def _fmt_age(v) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}s" if v < 120 else f"{v / 60:.0f}m" if v < 7200 else f"{v / 3600:.0f}h"


def cmd_list(args) -> int:
    from monitors.registry import redact
    cfg, db, registry = _open(args)
    try:
        cams = registry.list_cameras()
        health = registry.statuses()
    finally:
        db.dispose()
    if args.json:
        print(json.dumps([{**redact(c), "health": health.get(c.id)} for c in cams], ensure_ascii=False, indent=1))
        return 0
    print(f"{'CAMERA':28} {'KIND':13} {'STATE':9} {'QUALITY':9} {'AGE':>5} {'FPM':>9} {'RECONN':>6} {'STALLS':>6}  LAST ERROR")
    for c in cams:
        h = health.get(c.id) or {}
        fpm = f"{h.get('frames_per_min', '-')}/{h.get('expected_per_min', 60 / c.interval_s):g}" if h else "-"
        state = h.get("state", "unwatched") if c.enabled else "disabled"
        print(f"{c.id[:28]:28} {c.kind:13} {state:9} {h.get('quality', 'unknown'):9} "
              f"{_fmt_age(h.get('last_frame_age_s')):>5} {fpm:>9} {h.get('reconnects_1h', '-'):>6} "
              f"{h.get('stalls_1h', '-'):>6}  {h.get('last_error') or ''}")
    print(f"{len(cams)} camera(s)")
    return 0


def _conf_from_args(args) -> dict:
    if args.from_json:
        text = sys.stdin.read() if args.from_json == "-" else Path(args.from_json).read_text(encoding="utf-8")
        return json.loads(text)
    missing = [f"--{n}" for n in ("id", "url", "lat", "lon") if getattr(args, n) in (None, "")]
    if missing:
        raise SystemExit(f"cameras add: missing {', '.join(missing)} (or give --from-json)")
    auth = None
    if args.basic:
        user, _, password = args.basic.partition(":")
        auth = {"type": "basic", "username": user, "password": password}
    elif args.bearer:
        auth = {"type": "bearer", "token": args.bearer}
    analyzers = args.analyzer or ["flooding"]
    return {"id": args.id, "name": args.name or args.id, "kind": args.kind, "url": args.url,
            "interval_s": args.interval, "timeout_s": args.timeout, "headers": _headers(args.header), "auth": auth,
            "location": {"lat": args.lat, "lon": args.lon, "ward": args.ward, "street": args.street},
            "zones": [{"name": "mặt đường", "polygon": json.loads(args.zone) if args.zone else ROAD_ZONE,
                       "analyzers": {a: {} for a in analyzers}}]}


def cmd_add(args) -> int:
    from configs.schema import CameraConf
    from monitors.registry import RegistryError
    from monitors.service import probe, vet
    cfg, db, registry = _open(args)
    try:
        try:
            conf = CameraConf.model_validate(_conf_from_args(args))
        except ValidationError as e:
            print("invalid camera: " + "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()),
                  file=sys.stderr)
            return 2
        policy = _policy(cfg)
        try:
            vet(conf, policy)
            if args.test:
                r = probe(conf, policy, settings=cfg.cameras.monitor)
                if not r["ok"]:
                    print(f"refused: test fetch failed: {r['error']}", file=sys.stderr)
                    return 1
                print(f"test: {r['width']}x{r['height']}, {r['bytes']} bytes, {r['latency_ms']:.0f} ms")
            registry.add(conf, replace=args.replace)
        except RegistryError as e:
            print(e.reason if e.reason.startswith("refused") else f"refused: {e.reason}", file=sys.stderr)
            return 1
        print(f"added {conf.id} ({conf.kind} {conf.url}); running monitors pick it up within "
              f"{cfg.cameras.monitor.registry_poll_s:g} s")
        return 0
    finally:
        db.dispose()


def cmd_test(args) -> int:
    from monitors.api import ProbeRequest, probe_conf
    from monitors.service import probe
    cfg, db, registry = _open(args)
    try:
        if args.camera_id:
            conf = registry.get(args.camera_id)
            if conf is None:
                print(f"no camera {args.camera_id!r}", file=sys.stderr)
                return 2
        elif args.url:
            try:
                conf = probe_conf(ProbeRequest(kind=args.kind, url=args.url, headers=_headers(args.header),
                                               timeout_s=args.timeout))
            except ValidationError as e:
                print(f"invalid: {e}", file=sys.stderr)
                return 2
        else:
            print("cameras test: give a camera id or --url", file=sys.stderr)
            return 2
        r = probe(conf, _policy(cfg), settings=cfg.cameras.monitor)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(r, ensure_ascii=False))
    elif r["ok"]:
        print(f"ok: {r['width']}x{r['height']}, {r['bytes']} bytes, {r['latency_ms']:.0f} ms "
              f"(decoded at {r['decoded'][0]}x{r['decoded'][1]})")
    else:
        print(f"failed ({r['error_kind']}): {r['error']} after {r['latency_ms']:.0f} ms")
    return 0 if r["ok"] else 1


def cmd_remove(args) -> int:
    cfg, db, registry = _open(args)
    try:
        if not registry.remove(args.camera_id):
            print(f"no camera {args.camera_id!r}", file=sys.stderr)
            return 1
    finally:
        db.dispose()
    print(f"removed {args.camera_id}; running monitors stop it within {cfg.cameras.monitor.registry_poll_s:g} s")
    if any(c.id == args.camera_id for c in cfg.cameras.cameras):
        print("note: it is still listed in cameras.yaml; the registry has taken it from there once and will "
              "not add it again")
    return 0
