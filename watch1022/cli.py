"""`watch1022` command line: the embedded demo, and each part as its own process for a distributed run."""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from configs import ConfigError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="DIR", help="folder with categories/cameras/social/bridge.yaml (default: configs/)")
    p.add_argument("--database", metavar="URL", help="override bridge.yaml database_url (e.g. postgresql+psycopg://...)")
    p.add_argument("-v", "--verbose", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="watch1022", description="1022 Watch: camera and social monitoring for HCMC's 1022")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run everything in one process over the shipped samples (console on :8022)")
    _common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8022)
    p.add_argument("--var", metavar="DIR", help="state folder (database, evidence, core database); default var/")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: run until Ctrl-C)")
    p.add_argument("--json", action="store_true", help="last line: one JSON object with the counts")
    p.add_argument("--until-idle", action="store_true",
                   help="stop once the samples are replayed and every candidate is delivered (or retrying)")

    p = sub.add_parser("core", help="run the reference 1022 core (Open311 GeoReport v2 + review queue) alone")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8023)
    p.add_argument("--api-key", required=True)
    p.add_argument("--database", default="sqlite:///var/core1022.db")

    p = sub.add_parser("migrate", help="create or upgrade the database schema (Alembic)")
    _common(p)

    p = sub.add_parser("bridge", help="consume candidates, merge, deliver to the core, sync verdicts")
    _common(p)

    p = sub.add_parser("monitor", help="watch the configured cameras and publish candidates")
    _common(p)

    p = sub.add_parser("social", help="read the configured social sources and publish candidates")
    _common(p)
    p.add_argument("--once", action="store_true", help="read each source once, then exit")

    p = sub.add_parser("console", help="serve the operator console")
    _common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8022)

    # Each part adds its own commands (eval, cameras, ...): `register(subparsers, common)` in these modules,
    # with `set_defaults(func=...)` taking the parsed args and returning the exit code.
    for name in PART_COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(sub, _common)
    return ap


PART_COMMANDS = ["vision.cli", "monitors.cli", "social.cli"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "core":
            from core1022.cli import run
            run(args.host, args.port, args.api_key, args.database)
            return 0
        if hasattr(args, "func"):
            return args.func(args)
        from watch1022 import commands
        return getattr(commands, args.command)(args)
    except ConfigError as e:
        print(f"configuration error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
