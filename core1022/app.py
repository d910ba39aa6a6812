"""Factory of the reference 1022 core: an Open311 GeoReport v2 server with a review queue.

It stands in for the city's case system, so it shares nothing with the rest of 1022 Watch but
HTTP: its own database, its own tables, its own config (services.yaml).
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core1022 import open311, review
from core1022.open311 import CoreContext, Open311Error, error_response, format_of, is_open311_path, normalise_services
from core1022.store import Store

SERVICES_FILE = Path(__file__).resolve().parent / "services.yaml"


def load_default_services(path: str | Path = SERVICES_FILE) -> list[dict[str, Any]]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    services = raw.get("services") if isinstance(raw, dict) else None
    if not isinstance(services, list):
        raise ValueError(f"{path}: expected a top-level 'services:' list")
    return services


def create_app(
    database_url: str,
    api_keys: list[str],
    services: list[dict] | None = None,
    jurisdiction_id: str = "hcmc.1022",
    token_mode: bool = False,
    token_delay_seconds: float = 0.0,
) -> FastAPI:
    """Build the core app. `token_mode`: POST answers a token instead of an id (GeoReport v2
    "token" flow); `token_delay_seconds` holds the id back that long, so clients can be tested
    against a core that issues ids later."""
    store = Store(database_url)
    # Reference server: create tables at build time (not in lifespan), because a mounted
    # sub-app's lifespan never runs.
    store.create_all()
    ctx = CoreContext(
        store=store,
        services=normalise_services(services if services is not None else load_default_services()),
        api_keys=frozenset(k for k in api_keys if k),
        jurisdiction_id=jurisdiction_id,
        token_mode=token_mode,
        token_delay=timedelta(seconds=max(0.0, token_delay_seconds)),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        store.dispose()

    app = FastAPI(title="1022 core (reference Open311 intake)", version="1", lifespan=lifespan)
    app.state.core = ctx

    @app.exception_handler(Open311Error)
    async def _open311_error(request: Request, exc: Open311Error):
        return error_response(format_of(request.scope), exc.status, exc.descriptions)

    # Errors raised by the framework itself (no such route, wrong method, bad parameter) still use
    # the GeoReport format under /open311/; the review queue and /health keep FastAPI's defaults.
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if is_open311_path(request.scope):
            detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            if exc.status_code == 404:
                detail = f"no Open311 resource at {request.url.path}; see GET services.json or requests.json"
            response = error_response(format_of(request.scope), exc.status_code, [detail])
            if exc.headers:
                response.headers.update(exc.headers)
            return response
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        if is_open311_path(request.scope):
            problems = [
                f"{'.'.join(str(p) for p in err.get('loc', ()) if p not in ('query', 'body', 'path'))}: {err.get('msg')}"
                for err in exc.errors()
            ]
            return error_response(format_of(request.scope), 400, problems or ["invalid request"])
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception):
        if is_open311_path(request.scope):
            return error_response(format_of(request.scope), 500, ["internal error; retry later"])
        return PlainTextResponse("Internal Server Error", status_code=500)

    @app.get("/health")
    def health():
        return {"ok": True}

    app.include_router(open311.build_router(ctx))
    app.include_router(review.build_router(ctx))
    return app
