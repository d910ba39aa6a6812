"""Open311 GeoReport v2 routes of the reference core: JSON and XML rendering, validation, errors.

Every error under /open311/ is answered in the GeoReport error format of the requested extension
(`[{"code": 400, "description": "..."}]` or `<errors><error>...`), because a client written
against the spec (the bridge, or a city's own tooling) parses nothing else.
"""
from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from core1022.store import ServiceRequest, Store, utcnow

CITY_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
FORMATS = ("json", "xml")
MAX_DESCRIPTION = 4000
MAX_RESULTS = 1000
DEFAULT_WINDOW = timedelta(days=90)  # the spec's default and maximum date span
SERVICE_NOTICE = "Đã tiếp nhận, chờ tổng đài viên 1022 xem xét."
OPEN311_PREFIX = "/open311/"

_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# '+' of a UTC offset arrives as a space when a client forgets to URL-encode the date.
_OFFSET_AS_SPACE = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")


# -- settings shared with app.py / review.py ---------------------------------------------------

@dataclass
class CoreContext:
    store: Store
    services: dict[str, dict[str, Any]]
    api_keys: frozenset[str]
    jurisdiction_id: str
    token_mode: bool = False
    token_delay: timedelta = field(default_factory=timedelta)

    def issue_due_ids(self, session) -> None:
        """Token mode: ids become visible `token_delay` after intake (immediately by default)."""
        if self.token_mode:
            Store.issue_due_ids(session, utcnow() - self.token_delay)


def normalise_services(services: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Validate service dicts from config; errors name the entry and the key."""
    out: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(services):
        if not isinstance(raw, dict):
            raise ValueError(f"services[{i}]: expected a mapping, got {type(raw).__name__}")
        for key in ("service_code", "service_name", "group"):
            if not str(raw.get(key) or "").strip():
                raise ValueError(f"services[{i}].{key}: required")
        code = str(raw["service_code"]).strip()
        if code in out:
            raise ValueError(f"services[{i}].service_code: duplicate {code!r}")
        keywords = raw.get("keywords") or ""
        if isinstance(keywords, (list, tuple)):
            keywords = ", ".join(map(str, keywords))
        attributes = list(raw.get("attributes") or [])
        out[code] = {
            "service_code": code,
            "service_name": str(raw["service_name"]),
            "description": str(raw.get("description") or ""),
            # metadata=true tells clients to fetch the service definition for extra attributes.
            "metadata": bool(attributes),
            "type": str(raw.get("type") or "realtime"),
            "keywords": str(keywords),
            "group": str(raw["group"]),
            "attributes": attributes,
        }
    return out


# -- errors and rendering ------------------------------------------------------------------------

class Open311Error(Exception):
    def __init__(self, status: int, *descriptions: str):
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = list(descriptions) or ["error"]


def route_path(scope) -> str:
    """Path inside this app, also when it is mounted under a prefix (root_path)."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def is_open311_path(scope) -> bool:
    return route_path(scope).startswith(OPEN311_PREFIX)


def format_of(scope) -> str:
    return "xml" if route_path(scope).lower().endswith(".xml") else "json"


def error_response(fmt: str, status: int, descriptions: list[str]) -> Response:
    errors = [{"code": status, "description": d} for d in descriptions]
    if fmt == "xml":
        return xml_response(errors, "errors", "error", status)
    return JSONResponse(errors, status_code=status)


def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    el = ET.SubElement(parent, tag if _XML_NAME.match(tag) else "item")
    if not _XML_NAME.match(tag):
        el.set("key", tag)
    if value is None:
        return
    if isinstance(value, bool):
        el.text = "true" if value else "false"
    elif isinstance(value, dict):
        for k, v in value.items():
            _xml_value(el, str(k), v)
    elif isinstance(value, (list, tuple)):
        # <attributes><attribute>, <values><value>: the spec's plural/singular nesting.
        child = tag[:-1] if tag.endswith("s") else "item"
        for v in value:
            _xml_value(el, child, v)
    else:
        el.text = str(value)


def xml_response(items: list[dict[str, Any]] | dict[str, Any], root: str, item: str | None, status: int = 200) -> Response:
    top = ET.Element(root)
    if item is None:  # a single object (service definition)
        for k, v in items.items():  # type: ignore[union-attr]
            _xml_value(top, k, v)
    else:
        for obj in items:  # type: ignore[union-attr]
            _xml_value(top, item, obj)
    body = ET.tostring(top, encoding="utf-8", xml_declaration=True)
    return Response(body, status_code=status, media_type="application/xml; charset=utf-8")


def render(fmt: str, data: Any, root: str, item: str | None, status: int = 200) -> Response:
    if fmt == "xml":
        return xml_response(data, root, item, status)
    return JSONResponse(data, status_code=status)


def check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise Open311Error(400, f"unsupported format '.{fmt}': use .json or .xml")
    return fmt


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(CITY_TZ).isoformat(timespec="seconds") if dt else None


def parse_w3c(name: str, value: str) -> datetime:
    value = _OFFSET_AS_SPACE.sub(r"\1+\2", value.strip())
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise Open311Error(400, f"{name} must be an ISO 8601 (w3c) datetime, e.g. 2025-06-01T08:00:00+07:00; got {value!r}") from None
    # A date without an offset means city time: that is what an operator in HCMC typed.
    return dt if dt.tzinfo else dt.replace(tzinfo=CITY_TZ)


def split_csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def request_to_dict(row: ServiceRequest, extensions: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "service_request_id": row.service_request_id,
        "status": row.status,
        "status_notes": row.status_notes or "",
        "service_name": row.service_name,
        "service_code": row.service_code,
        "description": row.description,
        "agency_responsible": row.agency_responsible,
        "service_notice": row.service_notice,
        "requested_datetime": iso(row.requested_at),
        "updated_datetime": iso(row.updated_at),
        "expected_datetime": iso(row.expected_at),
        "address": row.address_string,
        "address_id": row.address_id,
        "zipcode": row.zipcode,
        "lat": row.lat,
        "long": row.long,
        "media_url": row.media_url,
    }
    if extensions:
        # GeoReport v2 "extensions=true": what the spec leaves out but a client may need to check
        # (the bridge looks for its own watch_id before re-sending).
        out["extended_attributes"] = {
            "attributes": dict(row.attributes or {}),
            "review_state": row.review_state,
            "duplicate_of": row.duplicate_of,
        }
    return out


# -- input parsing ---------------------------------------------------------------------------------

def _first(form, name: str) -> str | None:
    v = form.get(name)
    if v is None or not isinstance(v, str):
        return None
    v = v.strip()
    return v or None


def parse_attributes(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """attribute[KEY]=V pairs; repeated keys or attribute[KEY][]= give a list (multivaluelist)."""
    attrs: dict[str, Any] = {}
    for key, value in items:
        m = _ATTRIBUTE_KEY.match(key)
        if not m or not isinstance(value, str):
            continue
        name, is_list = m.group(1), bool(m.group(2))
        if name in attrs:
            prev = attrs[name]
            attrs[name] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            attrs[name] = [value] if is_list else value
    return attrs


def _parse_location(form, errors: list[str]) -> tuple[float | None, float | None, bool]:
    """(lat, long, whether the client tried to give coordinates); problems go to `errors`."""
    lat_s, long_s = _first(form, "lat"), _first(form, "long")
    if lat_s is None and long_s is None:
        return None, None, False
    if lat_s is None or long_s is None:
        errors.append("lat and long must be given together")
        return None, None, True
    try:
        lat, lon = float(lat_s), float(long_s)
    except ValueError:
        errors.append(f"lat and long must be decimal degrees (WGS84); got lat={lat_s!r}, long={long_s!r}")
        return None, None, True
    # Written as "not inside" so NaN fails too.
    if not (-90.0 <= lat <= 90.0):
        errors.append(f"lat must be between -90 and 90; got {lat_s}")
    if not (-180.0 <= lon <= 180.0):
        errors.append(f"long must be between -180 and 180; got {long_s}")
    return lat, lon, True


# -- routes -----------------------------------------------------------------------------------------

def build_router(ctx: CoreContext) -> APIRouter:
    router = APIRouter(prefix="/open311/v2")
    store = ctx.store

    def check_jurisdiction(value: str | None) -> None:
        if value and value != ctx.jurisdiction_id:
            raise Open311Error(400, f"jurisdiction_id {value!r} not served here; this endpoint serves {ctx.jurisdiction_id!r}")

    @router.get("/services.{fmt}")
    def list_services(fmt: str, jurisdiction_id: str | None = None):
        fmt = check_format(fmt)
        check_jurisdiction(jurisdiction_id)
        data = [{k: v for k, v in s.items() if k != "attributes"} for s in ctx.services.values()]
        return render(fmt, data, "services", "service")

    @router.get("/services/{service_code}.{fmt}")
    def service_definition(service_code: str, fmt: str, jurisdiction_id: str | None = None):
        fmt = check_format(fmt)
        check_jurisdiction(jurisdiction_id)
        service = ctx.services.get(service_code)
        if service is None:
            raise Open311Error(404, f"service_code {service_code!r} not found")
        return render(fmt, {"service_code": service_code, "attributes": service["attributes"]}, "service_definition", None)

    @router.post("/requests.{fmt}")
    async def create_request(fmt: str, request: Request):
        fmt = check_format(fmt)
        form = await request.form()
        query = request.query_params
        # api_key belongs in the form, but some clients put it in the query string; accept both.
        api_key = _first(form, "api_key") or _first(query, "api_key")
        if not api_key:
            raise Open311Error(403, "api_key was not provided")
        if api_key not in ctx.api_keys:
            raise Open311Error(403, "api_key is not valid")
        check_jurisdiction(_first(form, "jurisdiction_id") or _first(query, "jurisdiction_id"))

        errors: list[str] = []
        code = _first(form, "service_code")
        service = None
        if code is None:
            errors.append("service_code was not provided")
        else:
            service = ctx.services.get(code)
            if service is None:
                errors.append(f"service_code {code!r} not found")
        lat, lon, coordinates_given = _parse_location(form, errors)
        address_string, address_id = _first(form, "address_string"), _first(form, "address_id")
        if not coordinates_given and not address_string and not address_id:
            errors.append("a location is required: lat and long, address_string or address_id")
        description = _first(form, "description")
        if description and len(description) > MAX_DESCRIPTION:
            errors.append(f"description must be at most {MAX_DESCRIPTION} characters; got {len(description)}")
        media_url = _first(form, "media_url")
        if media_url:
            parts = urlsplit(media_url)
            if parts.scheme not in ("http", "https") or not parts.netloc or len(media_url) > 2048:
                errors.append(f"media_url must be an absolute http(s) URL of at most 2048 characters; got {media_url[:80]!r}")
        attributes = parse_attributes(form.multi_items())
        for attr in (service or {}).get("attributes", []):
            if attr.get("required") and attr.get("code") and attr["code"] not in attributes:
                errors.append(f"attribute[{attr['code']}] is required for service {code}")
        if errors:
            raise Open311Error(400, *errors)

        assert service is not None
        values = dict(
            service_code=service["service_code"],
            service_name=service["service_name"],
            agency_responsible=service["group"],
            service_notice=SERVICE_NOTICE,
            description=description,
            lat=lat,
            long=lon,
            address_string=address_string,
            address_id=address_id,
            zipcode=_first(form, "zipcode"),
            media_url=media_url,
            email=_first(form, "email"),
            first_name=_first(form, "first_name"),
            last_name=_first(form, "last_name"),
            phone=_first(form, "phone"),
            device_id=_first(form, "device_id"),
            account_id=_first(form, "account_id"),
            attributes=attributes,
        )
        row = await run_in_threadpool(_insert, store, values, ctx.token_mode, ctx.token_delay)
        if ctx.token_mode:
            return render(fmt, [{"token": row.token}], "service_requests", "request", 201)
        answer = {"service_request_id": row.service_request_id, "service_notice": row.service_notice, "account_id": None}
        return render(fmt, [answer], "service_requests", "request", 201)

    @router.get("/tokens/{token}.{fmt}")
    def token_lookup(token: str, fmt: str, jurisdiction_id: str | None = None):
        fmt = check_format(fmt)
        check_jurisdiction(jurisdiction_id)
        with store.transaction() as s:
            ctx.issue_due_ids(s)
            row = s.scalars(select(ServiceRequest).where(ServiceRequest.token == token)).first()
            if row is None:
                raise Open311Error(404, f"token {token!r} not found")
            # service_request_id stays null until the id is issued; the client polls again.
            data = [{"service_request_id": row.service_request_id, "token": row.token}]
        return render(fmt, data, "service_requests", "request")

    # Typed query parameters are validated by FastAPI; a bad value (extensions=maybe) becomes a
    # RequestValidationError that app.py answers as a GeoReport 400.
    @router.get("/requests.{fmt}")
    def list_requests(fmt: str, request: Request, extensions: bool = False, jurisdiction_id: str | None = None):
        fmt = check_format(fmt)
        q = request.query_params
        check_jurisdiction(jurisdiction_id)
        stmt = select(ServiceRequest).where(ServiceRequest.service_request_id.is_not(None))

        ids = split_csv(q.get("service_request_id"))
        if ids:
            # Spec: service_request_id overrides all other arguments (so old cases stay pollable).
            if len(ids) > MAX_RESULTS:
                raise Open311Error(400, f"at most {MAX_RESULTS} service_request_id values per call")
            stmt = stmt.where(ServiceRequest.service_request_id.in_(ids))
        else:
            codes = split_csv(q.get("service_code"))
            if codes:
                stmt = stmt.where(ServiceRequest.service_code.in_(codes))
            statuses = [s.lower() for s in split_csv(q.get("status"))]
            bad = [s for s in statuses if s not in ("open", "closed")]
            if bad:
                raise Open311Error(400, f"status must be open and/or closed; got {', '.join(bad)}")
            if statuses:
                stmt = stmt.where(ServiceRequest.status.in_(statuses))
            # Extension: attribute[KEY]=VALUE finds requests by a stored attribute (the bridge
            # checks its watch_id before re-sending). It lifts the default 90-day window.
            attr_filters = [(m.group(1), v) for k, v in q.multi_items() if (m := _ATTRIBUTE_KEY.match(k))]
            for key, value in attr_filters:
                stmt = stmt.where(ServiceRequest.attributes[key].as_string() == value)
            start_s, end_s = _first(q, "start_date"), _first(q, "end_date")
            start = parse_w3c("start_date", start_s) if start_s else None
            end = parse_w3c("end_date", end_s) if end_s else None
            if start and end:
                if start > end:
                    raise Open311Error(400, "start_date must not be after end_date")
                if end - start > DEFAULT_WINDOW:
                    raise Open311Error(400, f"start_date..end_date may not span more than {DEFAULT_WINDOW.days} days")
            elif start:
                end = start + DEFAULT_WINDOW
            elif end:
                start = end - DEFAULT_WINDOW
            elif not attr_filters:
                start = utcnow() - DEFAULT_WINDOW
            if start:
                stmt = stmt.where(ServiceRequest.requested_at >= start)
            if end:
                stmt = stmt.where(ServiceRequest.requested_at <= end)

        stmt = stmt.order_by(ServiceRequest.requested_at.desc(), ServiceRequest.pk.desc()).limit(MAX_RESULTS)
        with store.transaction() as s:
            ctx.issue_due_ids(s)
            data = [request_to_dict(r, extensions) for r in s.scalars(stmt)]
        return render(fmt, data, "service_requests", "request")

    @router.get("/requests/{service_request_id}.{fmt}")
    def get_request(service_request_id: str, fmt: str, extensions: bool = False, jurisdiction_id: str | None = None):
        fmt = check_format(fmt)
        check_jurisdiction(jurisdiction_id)
        with store.transaction() as s:
            ctx.issue_due_ids(s)
            row = Store.by_public_id(s, service_request_id)
            if row is None:
                raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
            data = [request_to_dict(row, extensions)]
        return render(fmt, data, "service_requests", "request")

    return router


def _insert(store: Store, values: dict[str, Any], token_mode: bool, token_delay: timedelta) -> ServiceRequest:
    now = utcnow()
    with store.transaction() as s:
        row = ServiceRequest(**values, requested_at=now, updated_at=now, status="open", review_state="new", status_notes="")
        if token_mode:
            row.token = uuid.uuid4().hex
        s.add(row)
        s.flush()  # the primary key becomes the public id
        if not token_mode or token_delay <= timedelta(0):
            row.service_request_id = str(row.pk)
    return row
