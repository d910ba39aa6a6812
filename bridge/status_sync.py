"""Status sync: poll the core for the cases we created and turn its status + notes into verdicts.
Verdicts are what threshold tuning and training data are built from."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select

from bridge.open311 import CoreRejected, CoreUnavailable, Open311Client
from models.candidate import now_city
from models.db import Database
from models.tables import Delivery, Incident, Verdict

FINAL_VERDICTS = {"rejected", "duplicate", "resolved"}


@dataclass(frozen=True)
class VerdictEvent:
    incident_id: int
    service_request_id: str
    verdict: str
    notes: str


class VerdictRules:
    """First matching rule wins; rules come from bridge.yaml (core.verdict_rules) because each city's core
    words its notes differently. A case that is open with no matching note has no verdict yet."""

    def __init__(self, rules: list[dict[str, str]]):
        self.rules = [(re.compile(r["notes"], re.IGNORECASE), r.get("status"), r["verdict"]) for r in rules]

    def verdict(self, status: str, notes: str) -> str | None:
        for pattern, want_status, verdict in self.rules:
            if (want_status is None or want_status == status) and pattern.search(notes or ""):
                return verdict
        return None


class StatusSync:
    def __init__(self, db: Database, client: Open311Client, rules: VerdictRules, batch: int = 50,
                 on_event: Callable[[VerdictEvent], None] | None = None):
        self.db, self.client, self.rules, self.batch = db, client, rules, batch
        self.on_event = on_event or (lambda e: None)

    def poll(self) -> list[VerdictEvent]:
        """One pass over every delivered case without a final verdict. Transient core errors end the pass;
        the next pass picks up where this one could not."""
        self._resolve_tokens()
        with self.db.session() as s:
            pending = list(s.execute(
                select(Delivery.service_request_id, Delivery.incident_id)
                .join(Incident, Incident.id == Delivery.incident_id)
                .where(Delivery.state == "sent", Delivery.service_request_id.is_not(None),
                       Incident.status.not_in(FINAL_VERDICTS))))
        events: list[VerdictEvent] = []
        for i in range(0, len(pending), self.batch):
            chunk = dict(pending[i:i + self.batch])
            try:
                answers = self.client.get_requests(list(chunk))
            except (CoreUnavailable, CoreRejected):
                break
            for req in answers:
                rid = str(req.get("service_request_id"))
                if rid in chunk:
                    ev = self._record(chunk[rid], rid, str(req.get("status") or ""), str(req.get("status_notes") or ""))
                    if ev:
                        events.append(ev)
        return events

    def _resolve_tokens(self) -> None:
        """A core that answered with a token gets asked for the case id it has since made."""
        with self.db.session() as s:
            waiting = list(s.execute(select(Delivery.id, Delivery.token)
                                     .where(Delivery.state == "sent", Delivery.service_request_id.is_(None),
                                            Delivery.token.is_not(None))))
        for delivery_id, token in waiting:
            try:
                rid = self.client.request_for_token(token)
            except (CoreUnavailable, CoreRejected):
                return
            if rid:
                with self.db.session() as s:
                    d = s.get(Delivery, delivery_id)
                    d.service_request_id = rid
                    s.get(Incident, d.incident_id).core_request_id = rid

    def _record(self, incident_id: int, rid: str, status: str, notes: str) -> VerdictEvent | None:
        verdict = self.rules.verdict(status, notes)
        with self.db.session() as s:
            d = s.scalars(select(Delivery).where(Delivery.incident_id == incident_id)).one()
            d.status_checked_at, d.core_status, d.core_status_notes = now_city(), status, notes
            incident = s.get(Incident, incident_id)
            if verdict is None or incident.status == verdict:
                return None
            incident.status = verdict
            s.add(Verdict(incident_id=incident_id, verdict=verdict, core_status=status, status_notes=notes))
        event = VerdictEvent(incident_id, rid, verdict, notes)
        self.on_event(event)
        return event
