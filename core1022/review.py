"""The operators' review queue of the reference core: an HTML page and its form/JSON endpoints.

Decisions are written as status + status_notes in a fixed wording so that any Open311 client (the
bridge) can read verdicts over plain GeoReport v2, without knowing this queue exists:
    new        -> open,   ""
    accepted   -> open,   "Accepted: <note or 'tiếp nhận'>"
    rejected   -> closed, "Rejected: <reason>"
    duplicate  -> closed, "Duplicate of <id>"
    resolved   -> closed, "Resolved: <note or 'đã xử lý'>"
"""
from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool

from core1022.open311 import CoreContext, iso, request_to_dict
from core1022.store import ReviewNote, ServiceRequest, Store, utcnow

STATUS_OF = {"new": "open", "accepted": "open", "rejected": "closed", "duplicate": "closed", "resolved": "closed"}

# action -> (states it may start from, state it leads to). Rejected and duplicate are final: a new
# report makes a new request. Accepting a resolved request re-opens it, as 1022 lets citizens do
# when a case was not really fixed.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "accept": (frozenset({"new", "resolved"}), "accepted"),
    "reject": (frozenset({"new", "accepted"}), "rejected"),
    "duplicate": (frozenset({"new", "accepted"}), "duplicate"),
    "resolve": (frozenset({"new", "accepted"}), "resolved"),
}
STATE_LABELS = {
    "new": "Mới",
    "accepted": "Đã tiếp nhận",
    "rejected": "Từ chối",
    "duplicate": "Trùng",
    "resolved": "Đã xử lý",
}
PAGE_LIMIT = 500
NOTE_MAX = 4000


class ReviewError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def status_notes_for(state: str, note: str, duplicate_of: str | None) -> str:
    if state == "accepted":
        return f"Accepted: {note or 'tiếp nhận'}"
    if state == "rejected":
        return f"Rejected: {note}"
    if state == "duplicate":
        return f"Duplicate of {duplicate_of}"
    if state == "resolved":
        return f"Resolved: {note or 'đã xử lý'}"
    return ""


def note_to_dict(n: ReviewNote) -> dict[str, Any]:
    return {
        "action": n.action,
        "note": n.note,
        "from_state": n.from_state,
        "to_state": n.to_state,
        "duplicate_of": n.duplicate_of,
        "operator": n.operator,
        "created_datetime": iso(n.created_at),
    }


def review_view(row: ServiceRequest) -> dict[str, Any]:
    return {
        **request_to_dict(row),
        "review_state": row.review_state,
        "duplicate_of": row.duplicate_of,
        "attributes": dict(row.attributes or {}),
        "notes": [note_to_dict(n) for n in row.notes],
    }


def apply_review(store: Store, service_request_id: str, action: str, fields: dict[str, str]) -> dict[str, Any]:
    """Check the transition, write the note, set status/status_notes; all in one transaction."""
    allowed_from, to_state = TRANSITIONS[action]
    note = (fields.get("reason") if action == "reject" else fields.get("note")) or ""
    note = note.strip()
    if action == "reject" and not note:
        raise ReviewError(400, "reason is required to reject a request")
    if len(note) > NOTE_MAX:
        raise ReviewError(400, f"note must be at most {NOTE_MAX} characters")
    operator = (fields.get("operator") or "").strip() or None
    target = (fields.get("duplicate_of") or "").strip() if action == "duplicate" else None

    with store.transaction() as s:
        row = Store.by_public_id(s, service_request_id, for_update=True)
        if row is None:
            raise ReviewError(404, f"request {service_request_id} not found")
        if row.review_state not in allowed_from:
            raise ReviewError(
                409,
                f"cannot {action} request {service_request_id}: it is {row.review_state} "
                f"({action} is allowed only from {', '.join(sorted(allowed_from))})",
            )
        if action == "duplicate":
            if not target:
                raise ReviewError(400, "duplicate_of is required: the id of the request this one repeats")
            if target == service_request_id:
                raise ReviewError(400, "a request cannot be a duplicate of itself")
            original = Store.by_public_id(s, target)
            if original is None:
                raise ReviewError(400, f"duplicate_of {target} does not exist")
            if original.review_state == "duplicate":
                # Keep chains one level deep so the bridge can merge into the real case directly.
                raise ReviewError(409, f"request {target} is itself a duplicate of {original.duplicate_of}; mark this one as a duplicate of {original.duplicate_of}")
        from_state = row.review_state
        row.review_state = to_state
        row.status = STATUS_OF[to_state]
        row.status_notes = status_notes_for(to_state, note, target)
        row.duplicate_of = target if action == "duplicate" else None
        row.updated_at = utcnow()
        row.notes.append(
            ReviewNote(action=action, note=note, from_state=from_state, to_state=to_state,
                       duplicate_of=target, operator=operator, created_at=row.updated_at)
        )
        s.flush()
        return review_view(row)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def read_fields(request: Request) -> dict[str, str]:
    """Form fields from the HTML page, or a JSON object from API clients."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise ReviewError(400, "body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ReviewError(400, "body must be a JSON object")
        return {k: str(v) for k, v in body.items() if v is not None}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def build_router(ctx: CoreContext) -> APIRouter:
    router = APIRouter()
    store = ctx.store

    @router.get("/review", response_class=HTMLResponse)
    def review_page(state: str = "all"):
        with store.transaction() as s:
            ctx.issue_due_ids(s)
            stmt = (
                select(ServiceRequest)
                .where(ServiceRequest.service_request_id.is_not(None))
                .options(selectinload(ServiceRequest.notes))
                .order_by(ServiceRequest.requested_at.desc(), ServiceRequest.pk.desc())
                .limit(PAGE_LIMIT)
            )
            if state in ("open", "closed"):
                stmt = stmt.where(ServiceRequest.status == state)
            elif state in STATUS_OF:
                stmt = stmt.where(ServiceRequest.review_state == state)
            rows = s.scalars(stmt).all()
            return HTMLResponse(render_page(rows, state))

    @router.get("/review/requests/{service_request_id}")
    def review_detail(service_request_id: str):
        with store.transaction() as s:
            row = Store.by_public_id(s, service_request_id)
            if row is None:
                return JSONResponse({"detail": f"request {service_request_id} not found"}, status_code=404)
            return review_view(row)

    @router.post("/review/requests/{service_request_id}/{action}")
    async def review_action(service_request_id: str, action: str, request: Request) -> Response:
        as_json = wants_json(request)
        try:
            if action not in TRANSITIONS:
                raise ReviewError(404, f"unknown action {action!r}; use one of {', '.join(TRANSITIONS)}")
            fields = await read_fields(request)
            result = await run_in_threadpool(apply_review, store, service_request_id, action, fields)
        except ReviewError as e:
            if as_json:
                return JSONResponse({"detail": e.message}, status_code=e.status)
            return HTMLResponse(render_error(e.status, e.message), status_code=e.status)
        if as_json:
            return JSONResponse(result)
        # Relative to .../review/requests/{id}/{action}: three levels up is the page, mounted or not.
        return RedirectResponse(f"../../../review#r{quote(service_request_id)}", status_code=303)

    return router


# -- HTML -------------------------------------------------------------------------------------------
# Links and form actions are relative ("review/...", "?state=..."), so the page works both at
# /review and at /core/review when the core is mounted inside another app.

_CSS = """
body{font-family:system-ui,sans-serif;margin:1rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.35rem;vertical-align:top;text-align:left}
th{background:#f2f2f2}tr.closed{color:#777}.state{font-weight:600}
.new .state{color:#b35c00}.accepted .state{color:#0a6b2d}.rejected .state,.duplicate .state{color:#8a1c1c}.resolved .state{color:#1c4f8a}
form{display:inline-block;margin:0 .3rem .3rem 0}input{width:8rem}img{max-width:160px;max-height:120px;display:block}
small{color:#666}nav a{margin-right:.6rem}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _actions(row: ServiceRequest) -> str:
    rid = quote(row.service_request_id or "")
    base = f"review/requests/{rid}"
    forms = []
    if row.review_state in TRANSITIONS["accept"][0]:
        forms.append(f'<form method="post" action="{base}/accept"><input name="note" placeholder="ghi chú (note)">'
                     '<button type="submit" name="do" value="accept">Accept</button></form>')
    if row.review_state in TRANSITIONS["reject"][0]:
        forms.append(f'<form method="post" action="{base}/reject"><input name="reason" required placeholder="lý do (reason)">'
                     '<button type="submit" name="do" value="reject">Reject</button></form>')
    if row.review_state in TRANSITIONS["duplicate"][0]:
        forms.append(f'<form method="post" action="{base}/duplicate"><input name="duplicate_of" required placeholder="ID">'
                     '<button type="submit" name="do" value="duplicate">Duplicate of</button></form>')
    if row.review_state in TRANSITIONS["resolve"][0]:
        forms.append(f'<form method="post" action="{base}/resolve"><input name="note" placeholder="ghi chú (note)">'
                     '<button type="submit" name="do" value="resolve">Resolve</button></form>')
    return "".join(forms) or "<small>—</small>"


def _row(row: ServiceRequest) -> str:
    attrs = row.attributes or {}
    attr_text = ", ".join(f"{k}={v}" for k, v in attrs.items())
    where = _e(row.address_string)
    if row.lat is not None and row.long is not None:
        where += f'<br><small>{row.lat:.6f}, {row.long:.6f}</small>'
    if row.address_id:
        where += f"<br><small>address_id {_e(row.address_id)}</small>"
    media = ""
    if row.media_url:
        url = _e(row.media_url)
        media = f'<a href="{url}" target="_blank" rel="noopener"><img src="{url}" alt="media" loading="lazy">{url}</a>'
    history = ""
    if row.notes:
        items = "".join(
            f"<li>{_e(iso(n.created_at))} {_e(n.action)}: {_e(n.from_state)} → {_e(n.to_state)}"
            f"{' ' + _e(n.note) if n.note else ''}{' (' + _e(n.operator) + ')' if n.operator else ''}</li>"
            for n in row.notes
        )
        history = f"<details><summary>Lịch sử ({len(row.notes)})</summary><ul>{items}</ul></details>"
    return (
        f'<tr id="r{_e(row.service_request_id)}" class="{_e(row.review_state)} {_e(row.status)}" data-state="{_e(row.review_state)}">'
        f"<td>{_e(row.service_request_id)}</td>"
        f"<td>{_e(iso(row.requested_at))}</td>"
        f'<td><span class="state">{_e(STATE_LABELS.get(row.review_state, row.review_state))}</span>'
        f"<br><small>{_e(row.status)}</small><br><small>{_e(row.status_notes)}</small></td>"
        f"<td>{_e(row.service_name)}<br><small>{_e(row.service_code)} · {_e(row.agency_responsible)}</small></td>"
        f"<td>{_e(row.description)}{'<br><small>' + _e(attr_text) + '</small>' if attr_text else ''}</td>"
        f"<td>{where}</td><td>{media}</td><td>{_actions(row)}{history}</td></tr>"
    )


def render_page(rows: list[ServiceRequest], state: str) -> str:
    filters = [("all", "Tất cả"), ("new", "Mới"), ("accepted", "Đã tiếp nhận"), ("open", "Đang mở"), ("closed", "Đã đóng")]
    nav = " ".join(
        f'<a href="?state={k}"{" aria-current=page" if k == state else ""}>{v}</a>' for k, v in filters
    )
    body = "".join(_row(r) for r in rows) or '<tr><td colspan="8">Không có yêu cầu nào.</td></tr>'
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        "<title>1022 — Hàng chờ duyệt</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>Hàng chờ duyệt 1022 <small>(review queue)</small></h1>"
        f"<nav>{nav}</nav><p><small>{len(rows)} yêu cầu</small></p>"
        "<table><thead><tr><th>ID</th><th>Thời gian</th><th>Trạng thái</th><th>Dịch vụ</th>"
        "<th>Mô tả</th><th>Địa chỉ</th><th>Hình ảnh</th><th>Xử lý</th></tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>"
    )


def render_error(status: int, message: str) -> str:
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>1022 — lỗi</title>'
        f"<style>{_CSS}</style></head><body><h1>{status}</h1><p>{_e(message)}</p>"
        # The error page sits at .../review/requests/{id}/{action}, like the redirect.
        '<p><a href="../../../review">← Hàng chờ duyệt</a></p></body></html>'
    )
