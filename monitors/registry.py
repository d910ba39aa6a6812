"""The live camera registry: the `cameras` and `zones` tables are the truth of which feeds exist.

cameras.yaml seeds it: a camera it lists is inserted once, the first time the registry is opened (by a
monitor, the API or `watch1022 cameras`); the table wins after that, so a camera changed through the
API is not overwritten and a camera removed stays removed. The ids already taken from the file are
kept as the cursor of the source "cameras.yaml" (source_cursors). `watch1022 cameras
add|remove` and the API change it; every monitor worker re-reads it (MonitorLoop.sync) and starts,
restarts or stops cameras without a restart. Workers write each camera's health to `camera_status`.

Row mapping: the typed columns (name, kind, url, lat, lon, ward, street, interval_s, enabled) plus
`settings` (JSON: timeout_s, headers, auth, loop, live, analysis_width, max_pixels, address); zones are
`zones` rows (polygon, thresholds = the zone's analyzers and their settings).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from configs.schema import CameraConf
from models.candidate import CITY_TZ, now_city
from models.db import Database
from models.tables import Camera, CameraStatus, SourceCursor, Zone

_SETTINGS = ("timeout_s", "headers", "auth", "loop", "live", "analysis_width", "max_pixels")
SECRET_HEADERS = ("authorization", "cookie", "x-api-key")
SEED_SOURCE = "cameras.yaml"  # its cursor: the ids the registry has taken from the file


class RegistryError(Exception):
    """A registry change was refused; `status` is the HTTP status the API answers with."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _conf_error(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or '(camera)'}: {err['msg']}" for err in e.errors())


def to_conf(row: Camera) -> CameraConf:
    s = dict(row.settings or {})
    data = {
        "id": row.id, "name": row.name, "kind": row.kind, "url": row.url, "interval_s": row.interval_s,
        "enabled": row.enabled,
        "location": {"lat": row.lat, "lon": row.lon, "ward": row.ward, "street": row.street,
                     "address": s.pop("address", None)},
        "zones": [{"name": z.name, "polygon": z.polygon, "analyzers": z.thresholds or {}}
                  for z in sorted(row.zones, key=lambda z: z.id or 0)],
        **{k: v for k, v in s.items() if k in _SETTINGS},
    }
    return CameraConf.model_validate(data)


def to_row(conf: CameraConf) -> Camera:
    dumped = conf.model_dump(mode="json")
    settings = {k: dumped[k] for k in _SETTINGS}
    settings["address"] = conf.location.address
    row = Camera(id=conf.id, name=conf.name, kind=conf.kind, url=conf.url, lat=conf.location.lat,
                 lon=conf.location.lon, ward=conf.location.ward, street=conf.location.street,
                 interval_s=conf.interval_s, enabled=conf.enabled, settings=settings, created_at=now_city())
    row.zones = [Zone(name=z["name"], polygon=[list(p) for p in z["polygon"]], thresholds=z["analyzers"])
                 for z in dumped["zones"]]
    return row


def redact(conf: CameraConf) -> dict[str, Any]:
    """The camera as shown to people: secrets (auth, Authorization/Cookie headers) masked."""
    d = conf.model_dump(mode="json")
    if d.get("auth"):
        d["auth"] = {k: ("***" if k in ("password", "token") and v else v) for k, v in d["auth"].items()}
    d["headers"] = {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in d["headers"].items()}
    return d


class CameraRegistry:
    def __init__(self, db: Database):
        self.db = db

    # -- cameras ---------------------------------------------------------------------------------
    def list_cameras(self) -> list[CameraConf]:
        with self.db.session() as s:
            rows = s.scalars(select(Camera).options(selectinload(Camera.zones)).order_by(Camera.id)).all()
            out = []
            for row in rows:
                try:
                    out.append(to_conf(row))
                except ValidationError:  # a row edited by hand into nonsense: skip it, do not stop the rest
                    continue
            return out

    def get(self, camera_id: str) -> CameraConf | None:
        with self.db.session() as s:
            row = s.get(Camera, camera_id, options=[selectinload(Camera.zones)])
            return to_conf(row) if row is not None else None

    def add(self, conf: CameraConf | dict, *, replace: bool = False) -> CameraConf:
        if isinstance(conf, dict):
            try:
                conf = CameraConf.model_validate(conf)
            except ValidationError as e:
                raise RegistryError(f"invalid camera: {_conf_error(e)}", 422) from None
        with self.db.session() as s:
            existing = s.get(Camera, conf.id)
            if existing is not None:
                if not replace:
                    raise RegistryError(f"camera {conf.id!r} already exists", 409)
                s.delete(existing)
                s.flush()
            s.add(to_row(conf))
        return conf

    def remove(self, camera_id: str) -> bool:
        with self.db.session() as s:
            row = s.get(Camera, camera_id)
            if row is None:
                return False
            s.delete(row)
            s.execute(delete(CameraStatus).where(CameraStatus.camera_id == camera_id))
        return True

    def seed(self, cameras: Iterable[CameraConf]) -> list[str]:
        """Insert the cameras of the file that were never taken from it before; return their ids.
        One taken earlier and removed since is not brought back."""
        cameras = list(cameras)
        try:
            return self._seed(cameras)
        except IntegrityError:  # another process seeded at the same moment: read what it wrote
            return self._seed(cameras)

    def _seed(self, cameras: list[CameraConf]) -> list[str]:
        with self.db.session() as s:
            cursor = s.get(SourceCursor, SEED_SOURCE, with_for_update=True)
            taken = set(json.loads(cursor.cursor)) if cursor is not None else set()
            have = set(s.scalars(select(Camera.id)).all())
            added = []
            for conf in cameras:
                if conf.id not in have and conf.id not in taken:
                    s.add(to_row(conf))
                    added.append(conf.id)
            now_taken = sorted(taken | {c.id for c in cameras})
            if cursor is None:
                s.add(SourceCursor(source=SEED_SOURCE, cursor=json.dumps(now_taken)))
            elif now_taken != sorted(taken):
                cursor.cursor = json.dumps(now_taken)
        return added

    # -- health ----------------------------------------------------------------------------------
    def write_status(self, worker: str, health: dict[str, dict[str, Any]]) -> None:
        if not health:
            return
        now = now_city()
        with self.db.session() as s:
            rows = {r.camera_id: r for r in s.scalars(select(CameraStatus).where(
                CameraStatus.camera_id.in_(list(health)))).all()}
            for cid, h in health.items():
                row = rows.get(cid)
                if row is None:
                    row = CameraStatus(camera_id=cid)
                    s.add(row)
                row.worker = worker
                row.state = h.get("state") or "unknown"
                row.quality = h.get("quality") or "unknown"
                row.reason = h.get("reason")
                row.health = h
                row.updated_at = now

    def statuses(self) -> dict[str, dict[str, Any]]:
        """Each camera's last written health, with `status_age_s` (how old the write is) and ages
        brought up to date."""
        now = datetime.now(CITY_TZ)
        out = {}
        with self.db.session() as s:
            for r in s.scalars(select(CameraStatus)).all():
                h = dict(r.health or {})
                updated = r.updated_at if r.updated_at.tzinfo else r.updated_at.replace(tzinfo=CITY_TZ)
                age = max(0.0, (now - updated).total_seconds())
                if h.get("last_frame_age_s") is not None:
                    h["last_frame_age_s"] = round(h["last_frame_age_s"] + age, 3)
                h.update(worker=r.worker, state=r.state, quality=r.quality, reason=r.reason,
                         status_updated_at=updated.isoformat(timespec="seconds"), status_age_s=round(age, 1))
                out[r.camera_id] = h
        return out
