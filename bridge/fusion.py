"""De-duplication and merging: a replayed candidate is ignored; a candidate of the same category near an
open incident, inside the category's radius and time window, joins that incident; anything else opens a
new incident and queues its delivery in the same transaction (the outbox)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from configs.schema import Category
from models.candidate import Candidate, FrameEvidence, city_time
from models.tables import CandidateRow, Delivery, EvidenceRow, Incident

# Verdicts after which a new report at the same place is a new incident, not a repeat of the old one.
CLOSED_STATUSES = {"rejected", "resolved", "duplicate"}
EARTH_RADIUS_M = 6_371_000


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Stored:
    outcome: str  # "replay" | "merged" | "new"
    incident_id: int | None


def _matching_incident(s: Session, cand: Candidate, observed: datetime, cat: Category) -> Incident | None:
    window = timedelta(minutes=cat.dedup_window_min)
    rows = s.scalars(
        select(Incident)
        .where(Incident.category == cand.category,
               Incident.status.not_in(CLOSED_STATUSES),
               Incident.last_seen >= observed - window)
        .order_by(Incident.last_seen.desc())
    )
    for inc in rows:
        if distance_m(inc.lat, inc.lon, cand.location.lat, cand.location.lon) <= cat.dedup_radius_m:
            return inc
    return None


def store_candidate(s: Session, cand: Candidate, cat: Category) -> Stored:
    """Store one valid candidate. The caller commits; the bus offset is committed only after that."""
    if s.get(CandidateRow, cand.id) is not None:
        return Stored("replay", None)
    # Every timestamp is written on the city's clock, so SQLite (which drops offsets) compares them right.
    observed = city_time(cand.observed_at)
    incident = _matching_incident(s, cand, observed, cat)
    outcome = "merged"
    if incident is None:
        outcome = "new"
        incident = Incident(watch_id=cand.id, category=cand.category, dedup_key=cand.dedup_key,
                            lat=cand.location.lat, lon=cand.location.lon, first_seen=observed,
                            last_seen=observed, candidate_count=0, status="new")
        s.add(incident)
        s.flush()
        s.add(Delivery(incident_id=incident.id, kind="create", state="pending"))
    incident.candidate_count += 1
    if observed > city_time(incident.last_seen):
        incident.last_seen = observed
    row = CandidateRow(
        id=cand.id, source=cand.source, source_ref=cand.source_ref, category=cand.category,
        confidence=cand.confidence, observed_at=observed, lat=cand.location.lat, lon=cand.location.lon,
        precision=cand.location.precision, ward=cand.location.ward, street=cand.location.street,
        summary=cand.summary, detector=cand.detector.name, threshold=cand.detector.threshold,
        payload=cand.model_dump(mode="json", by_alias=True), incident_id=incident.id)
    for ev in cand.evidence:
        if isinstance(ev, FrameEvidence):
            row.evidence.append(EvidenceRow(kind="frame", uri=ev.uri, sha256=ev.sha256, score=ev.score))
        else:
            row.evidence.append(EvidenceRow(kind="post", uri=ev.url, text=ev.text, author_hash=ev.author_hash,
                                            posted_at=city_time(ev.posted_at)))
    s.add(row)
    return Stored(outcome, incident.id)
