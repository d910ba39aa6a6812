"""Delivery of incidents to the core through the outbox table.

The deliveries row is the truth of what was sent. Before each POST the row is marked `sending` with the
next retry time already set, so a crash mid-request leaves a row that will be retried; and a row found in
`sending` is first looked up at the core by our id (it travels in the description), so a request the core
did receive is never created twice."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select

from bridge.open311 import CoreRejected, CoreUnavailable, Open311Client
from configs.schema import Category, RetryConf
from models.candidate import city_time, now_city
from models.db import Database
from models.tables import CandidateRow, Delivery, Incident

MARKER_PREFIX = "Mã 1022 Watch:"


def marker(watch_id: str) -> str:
    return f"{MARKER_PREFIX} {watch_id}"


def backoff_s(attempts: int, retry: RetryConf, rng: random.Random = random.Random()) -> float:
    """Exponential backoff with ±20 % jitter, so many rows failing together do not retry together."""
    base = min(retry.max_s, retry.base_s * 2 ** max(0, attempts - 1))
    return base * rng.uniform(0.8, 1.2)


@dataclass(frozen=True)
class DeliveryEvent:
    incident_id: int
    watch_id: str
    category: str
    outcome: str  # sent | found (already at the core) | retry | failed
    service_request_id: str | None
    detail: str


def describe(incident: Incident, candidates: list[CandidateRow], cat: Category) -> tuple[str, str | None, str | None]:
    """Description, address and media path (relative evidence URI) for the core."""
    lead = max(candidates, key=lambda c: c.confidence)
    sources = sorted({c.source for c in candidates})
    lines = [lead.summary, f"Loại: {cat.name_vi} ({cat.field}). Nguồn: {', '.join(sources)}; "
                           f"{len(candidates)} phát hiện; độ tin cậy {lead.confidence:.2f}."]
    media = None
    for c in candidates:
        for ev in c.evidence:
            if ev.kind == "post" and ev.text:
                lines.append(f"Bài đăng: {ev.text[:500]}" + (f" ({ev.uri})" if ev.uri else ""))
            elif ev.kind == "frame" and media is None:
                media = ev.uri
    lines.append(marker(incident.watch_id))
    tail = "\n" + lines[-1]
    body = "\n".join(lines[:-1])[: 4000 - len(tail)]  # the marker must survive the 4000-char limit
    address = ", ".join(p for p in (lead.street, lead.ward, "TP. Hồ Chí Minh") if p)
    return body + tail, address, media


class OutboxSender:
    def __init__(self, db: Database, client: Open311Client, categories: dict[str, Category], retry: RetryConf,
                 evidence_base_url: str, on_event: Callable[[DeliveryEvent], None] | None = None):
        self.db, self.client, self.categories, self.retry = db, client, categories, retry
        self.evidence_base_url = evidence_base_url.rstrip("/")
        self.on_event = on_event or (lambda e: None)

    def due(self, now: datetime, limit: int) -> list[int]:
        with self.db.session() as s:
            return list(s.scalars(
                select(Delivery.id).where(Delivery.state.in_(("pending", "sending")), Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at).limit(limit)))

    def send_due(self, now: datetime | None = None, limit: int = 50) -> list[DeliveryEvent]:
        now = now or now_city()
        return [ev for did in self.due(now, limit) if (ev := self._attempt(did, now)) is not None]

    def _attempt(self, delivery_id: int, now: datetime) -> DeliveryEvent | None:
        # Claim the row: a competing sender (another bridge process on PostgreSQL) skips a locked row.
        with self.db.session() as s:
            d = s.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update(skip_locked=True)).first()
            if d is None or d.state not in ("pending", "sending") or city_time(d.next_attempt_at) > now:
                return None
            incident = s.get(Incident, d.incident_id)
            candidates = list(s.scalars(select(CandidateRow).where(CandidateRow.incident_id == incident.id)))
            cat = self.categories[incident.category]
            description, address, media = describe(incident, candidates, cat)
            lead = max(candidates, key=lambda c: c.confidence)
            was_sending = d.state == "sending"
            d.state, d.attempts = "sending", d.attempts + 1
            d.next_attempt_at = now + timedelta(seconds=backoff_s(d.attempts, self.retry))
            attempts, watch_id, category = d.attempts, incident.watch_id, incident.category
            first_seen = city_time(incident.first_seen)
        try:
            found = None
            if was_sending:  # an earlier attempt may have reached the core: look before re-sending
                found = self.client.find_by_marker(marker(watch_id), cat.service_code, first_seen - timedelta(days=1))
            if found:
                answer, outcome = {"service_request_id": found}, "found"
            else:
                answer = self.client.create_request(
                    service_code=cat.service_code, lat=incident.lat, lon=incident.lon, description=description,
                    address=address, media_url=f"{self.evidence_base_url}/{media}" if media else None,
                    attributes={"watch_id": watch_id, "watch_source": lead.source,
                                "watch_confidence": f"{lead.confidence:.3f}", "watch_candidates": str(len(candidates))})
                outcome = "sent"
        except CoreUnavailable as e:
            give_up = self.retry.max_attempts and attempts >= self.retry.max_attempts
            return self._finish(delivery_id, watch_id, category, "failed" if give_up else "retry", None, None, str(e))
        except CoreRejected as e:
            return self._finish(delivery_id, watch_id, category, "failed", None, None, str(e))
        return self._finish(delivery_id, watch_id, category, outcome, answer.get("service_request_id"),
                            answer.get("token"), "")

    def _finish(self, delivery_id: int, watch_id: str, category: str, outcome: str, request_id, token, error: str):
        with self.db.session() as s:
            d = s.get(Delivery, delivery_id)
            d.last_error = error or None
            if outcome in ("sent", "found"):
                d.state, d.sent_at = "sent", now_city()
                d.service_request_id = str(request_id) if request_id else None
                d.token = token
                incident = s.get(Incident, d.incident_id)
                incident.status, incident.core_request_id = "delivered", d.service_request_id
            elif outcome == "failed":
                d.state = "failed"
            event = DeliveryEvent(d.incident_id, watch_id, category, outcome, d.service_request_id, error)
        self.on_event(event)
        return event
