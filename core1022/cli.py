"""Run the reference 1022 core as its own process (`watch1022 core ...` calls `run`)."""
from __future__ import annotations

import argparse

import uvicorn

from core1022.app import create_app


def run(host: str, port: int, api_key: str | list[str], database_url: str, **options) -> None:
    """Serve the core under uvicorn until stopped. `api_key` may be one key, a comma-separated
    string or a list; `options` go to create_app (services, jurisdiction_id, token_mode, ...)."""
    keys = [k.strip() for k in api_key.split(",")] if isinstance(api_key, str) else list(api_key)
    app = create_app(database_url, [k for k in keys if k], **options)
    uvicorn.run(app, host=host, port=int(port))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m core1022.cli", description="Reference 1022 core (Open311 GeoReport v2)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8311)
    p.add_argument("--api-key", required=True, help="key clients must send as api_key (comma-separated for several)")
    p.add_argument("--database", default="sqlite:///var/core1022.db", help="SQLAlchemy URL of the core's own database")
    p.add_argument("--token-mode", action="store_true", help="answer POST with a token instead of an id")
    a = p.parse_args(argv)
    run(a.host, a.port, a.api_key, a.database, token_mode=a.token_mode)


if __name__ == "__main__":
    main()
