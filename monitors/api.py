"""The cameras API: the live registry and every camera's health, for the console and integrators.

    app.include_router(create_router(CameraRegistry(db), settings=cfg.cameras.monitor))

    GET    /api/cameras                 every camera (secrets masked) with its health
    GET    /api/cameras/{id}            one camera
    POST   /api/cameras                 add a camera (a CameraConf as JSON); 201, or 400 refused URL,
                                        409 id taken, 422 invalid; ?test=true fetches a frame first
    PUT    /api/cameras/{id}            replace a camera's configuration
    DELETE /api/cameras/{id}            remove it (the monitors stop it at their next registry read)
    POST   /api/cameras/test            fetch one frame of a camera not (yet) registered
    POST   /api/cameras/{id}/test       fetch one frame of a registered camera
    GET    /metrics                     Prometheus text format

Reads are open (the console shows them). Changes and test fetches need a key from the comma-separated
list in the environment variable named by monitor.api_keys_env (`X-API-Key` header): 401 without a
valid one, 403 when no key is configured (then cameras change only through `watch1022 cameras`).

Health comes from `health()` when the monitor runs in this process, else from the camera_status table
the monitor workers write.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from fastapi import APIRouter, Body, Depends, HTTPException, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, ValidationError

from configs.apikeys import require_key
from configs.schema import CameraAuth, CameraConf, MonitorConf
from monitors.netpolicy import UrlPolicy
from monitors.registry import CameraRegistry, RegistryError, redact
from monitors.service import metrics_text, probe, vet


class ProbeRequest(BaseModel):
    """A feed to try before registering it: kind, url, and how to fetch it."""
    model_config = ConfigDict(extra="forbid")
    kind: str = "http_snapshot"
    url: str
    headers: dict[str, str] = {}
    auth: CameraAuth | None = None
    timeout_s: float = 10.0
    analysis_width: int = 640


def probe_conf(req: ProbeRequest) -> CameraConf:
    return CameraConf.model_validate({
        "id": "probe", "name": "probe", "kind": req.kind, "url": req.url, "headers": req.headers,
        "auth": req.auth.model_dump() if req.auth else None, "timeout_s": req.timeout_s,
        "analysis_width": req.analysis_width, "location": {"lat": 10.7769, "lon": 106.7009},
        "zones": [{"name": "all", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}]})


def _errors(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or '(body)'}: {err['msg']}" for err in e.errors())


def create_router(registry: CameraRegistry, *, settings: MonitorConf | None = None,
                  policy: UrlPolicy | None = None, health: Callable[[], dict[str, dict]] | None = None,
                  project_root: str | Path | None = None, api_keys: Iterable[str] = ()) -> APIRouter:
    """api_keys: the keys accepted for changes and test fetches (none: those endpoints answer 403)."""
    settings = settings or MonitorConf()
    policy = policy if policy is not None else UrlPolicy(settings.allow_networks)
    router = APIRouter()
    # a test fetch makes this server reach out to a URL: it needs a key as much as a change does
    keyed = [Depends(require_key(api_keys, off_reason=(
        f"camera changes through the API are off: no key in ${settings.api_keys_env}; "
        "use `watch1022 cameras` or set the variable")))]

    def current_health() -> dict[str, dict[str, Any]]:
        return health() if health is not None else registry.statuses()

    def view(conf: CameraConf, h: dict[str, dict]) -> dict[str, Any]:
        return {**redact(conf), "health": h.get(conf.id) or {"state": "unwatched", "quality": "unknown"}}

    def parse(body: dict) -> CameraConf:
        try:
            return CameraConf.model_validate(body)
        except ValidationError as e:
            raise HTTPException(422, f"invalid camera: {_errors(e)}") from None

    @router.get("/api/cameras")
    async def list_cameras() -> list[dict[str, Any]]:
        cams = await run_in_threadpool(registry.list_cameras)
        h = await run_in_threadpool(current_health)
        return [view(c, h) for c in cams]

    @router.get("/api/cameras/{camera_id}")
    async def get_camera(camera_id: str) -> dict[str, Any]:
        conf = await run_in_threadpool(registry.get, camera_id)
        if conf is None:
            raise HTTPException(404, f"no camera {camera_id!r}")
        return view(conf, await run_in_threadpool(current_health))

    async def _store(body: dict, replace: bool, test: bool) -> Response | dict:
        conf = parse(body)
        try:
            vet(conf, policy)
        except RegistryError as e:
            raise HTTPException(e.status, e.reason) from None
        result = None
        if test:
            result = await run_in_threadpool(probe, conf, policy, project_root=project_root, settings=settings)
            if not result["ok"]:
                raise HTTPException(400, f"test fetch failed: {result['error']}")
        try:
            await run_in_threadpool(lambda: registry.add(conf, replace=replace))
        except RegistryError as e:
            raise HTTPException(e.status, e.reason) from None
        return {**redact(conf), "test": result}

    @router.post("/api/cameras", status_code=201, dependencies=keyed)
    async def add_camera(body: dict = Body(...), test: bool = False):
        return await _store(body, False, test)

    @router.put("/api/cameras/{camera_id}", dependencies=keyed)
    async def replace_camera(camera_id: str, body: dict = Body(...), test: bool = False):
        if body.get("id", camera_id) != camera_id:
            raise HTTPException(422, f"id in the body ({body.get('id')!r}) differs from the URL ({camera_id!r})")
        if await run_in_threadpool(registry.get, camera_id) is None:
            raise HTTPException(404, f"no camera {camera_id!r}")
        return await _store({**body, "id": camera_id}, True, test)

    @router.delete("/api/cameras/{camera_id}", status_code=204, dependencies=keyed)
    async def remove_camera(camera_id: str) -> Response:
        if not await run_in_threadpool(registry.remove, camera_id):
            raise HTTPException(404, f"no camera {camera_id!r}")
        return Response(status_code=204)

    @router.post("/api/cameras/test", dependencies=keyed)
    async def test_feed(req: ProbeRequest) -> dict[str, Any]:
        try:
            conf = probe_conf(req)
        except ValidationError as e:
            raise HTTPException(422, _errors(e)) from None
        return await run_in_threadpool(probe, conf, policy, project_root=project_root, settings=settings)

    @router.post("/api/cameras/{camera_id}/test", dependencies=keyed)
    async def test_camera(camera_id: str) -> dict[str, Any]:
        conf = await run_in_threadpool(registry.get, camera_id)
        if conf is None:
            raise HTTPException(404, f"no camera {camera_id!r}")
        return await run_in_threadpool(probe, conf, policy, project_root=project_root, settings=settings)

    @router.get("/metrics")
    async def metrics() -> Response:
        cams = await run_in_threadpool(registry.list_cameras)
        text = metrics_text(cams, await run_in_threadpool(current_health))
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return router
