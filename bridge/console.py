"""Operator console of 1022 Watch: the incidents raised, their evidence and what the core decided.
Review itself happens in the core (1022); this page shows what Watch sent and the verdicts that came back."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from configs.schema import Category
from models.candidate import city_time
from models.db import Database
from models.tables import CandidateRow, DeadLetter, Delivery, Incident

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def incident_rows(db: Database, categories: dict[str, Category], limit: int = 200) -> list[dict]:
    with db.session() as s:
        incidents = list(s.scalars(select(Incident).order_by(Incident.last_seen.desc()).limit(limit)))
        deliveries = {d.incident_id: d for d in s.scalars(
            select(Delivery).where(Delivery.incident_id.in_([i.id for i in incidents])))}
        cands = {}
        for c in s.scalars(select(CandidateRow).where(CandidateRow.incident_id.in_([i.id for i in incidents]))):
            cands.setdefault(c.incident_id, []).append(c)
        rows = []
        for inc in incidents:
            cs = cands.get(inc.id, [])
            lead = max(cs, key=lambda c: c.confidence) if cs else None
            d = deliveries.get(inc.id)
            frame = next((e.uri for c in cs for e in c.evidence if e.kind == "frame"), None)
            rows.append({
                "id": inc.id, "watch_id": inc.watch_id, "category": inc.category,
                "category_vi": categories[inc.category].name_vi if inc.category in categories else inc.category,
                "sources": sorted({c.source for c in cs}), "candidates": inc.candidate_count,
                "confidence": round(lead.confidence, 3) if lead else None,
                "summary": lead.summary if lead else "", "street": lead.street if lead else None,
                "ward": lead.ward if lead else None, "precision": lead.precision if lead else None,
                "lat": inc.lat, "lon": inc.lon,
                "first_seen": city_time(inc.first_seen).isoformat(timespec="seconds"),
                "last_seen": city_time(inc.last_seen).isoformat(timespec="seconds"),
                "status": inc.status, "core_request_id": inc.core_request_id,
                "delivery_state": d.state if d else None, "delivery_attempts": d.attempts if d else 0,
                "delivery_error": d.last_error if d else None, "core_status_notes": d.core_status_notes if d else None,
                "frame": frame, "posts": [e.uri or "" for c in cs for e in c.evidence if e.kind == "post"],
            })
        return rows


def create_console(db: Database, categories: dict[str, Category], evidence_dir: Path, core_path: str | None = None) -> FastAPI:
    app = FastAPI(title="1022 Watch console")
    evidence_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/evidence", StaticFiles(directory=str(evidence_dir)), name="evidence")

    def summary() -> dict:
        with db.session() as s:
            by_status = dict(s.execute(select(Incident.status, func.count()).group_by(Incident.status)).all())
            by_state = dict(s.execute(select(Delivery.state, func.count()).group_by(Delivery.state)).all())
            dead = s.scalar(select(func.count()).select_from(DeadLetter))
        return {"incidents": by_status, "deliveries": by_state, "deadletter": dead}

    @app.get("/api/incidents")
    def api_incidents(limit: int = 200) -> list[dict]:
        return incident_rows(db, categories, limit)

    @app.get("/api/summary")
    def api_summary() -> dict:
        return summary()

    @app.get("/api/deadletters")
    def api_deadletters(limit: int = 100) -> list[dict]:
        with db.session() as s:
            rows = s.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit))
            return [{"id": r.id, "stage": r.stage, "reason": r.reason, "payload": r.payload[:2000],
                     "received_at": city_time(r.received_at).isoformat(timespec="seconds")} for r in rows]

    @app.get("/health")
    def health() -> dict:
        return {"ok": True}

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        return TEMPLATES.TemplateResponse(request, "console.html", {
            "rows": incident_rows(db, categories), "summary": summary(), "core_path": core_path,
            "deadletters": api_deadletters(20)})

    @app.get("/incidents/{incident_id}", response_class=HTMLResponse)
    def incident(request: Request, incident_id: int):
        rows = [r for r in incident_rows(db, categories, 10_000) if r["id"] == incident_id]
        if not rows:
            raise HTTPException(404, f"no incident {incident_id}")
        return TEMPLATES.TemplateResponse(request, "incident.html", {"r": rows[0], "core_path": core_path})

    return app
