"""The Candidate v1 contract, its exported JSON Schema, and the schema/migrations on SQLite and PostgreSQL."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import inspect, select

from models.candidate import CITY_TZ, Candidate, candidate_id, city_time
from models.db import Database
from models.export_schema import SCHEMA_FILE, render
from models.tables import Base, CandidateRow, Delivery, EvidenceRow, Incident


def make_candidate(**over):
    fields = dict(source="camera", source_ref="cam-1:frame-0001", category="flooding", confidence=0.81,
                  observed_at=datetime(2026, 11, 28, 17, 5, tzinfo=CITY_TZ),
                  location={"lat": 10.7893, "lon": 106.7193, "ward": "Thạnh Mỹ Tây", "street": "Nguyễn Hữu Cảnh",
                            "precision": "exact"},
                  summary="Ngập nước trên đường Nguyễn Hữu Cảnh",
                  evidence=[{"kind": "frame", "uri": "ab/abc.jpg", "sha256": "ab" * 32, "score": 0.81}],
                  detector={"name": "flooding", "backend": "classical", "model_version": "classical-1", "threshold": 0.5})
    fields.update(over)
    return Candidate.create(**fields)


def test_exported_json_schema_is_in_sync_with_the_model():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(), "run: python -m models.export_schema"


def test_id_is_deterministic_from_source_and_ref():
    a, b = make_candidate(), make_candidate(confidence=0.9)
    assert a.id == b.id == candidate_id("camera", "cam-1:frame-0001")
    assert make_candidate(source_ref="cam-1:frame-0002").id != a.id


def test_json_round_trip_keeps_everything():
    c = make_candidate()
    again = Candidate.model_validate_json(c.to_json())
    assert again == c and json.loads(c.to_json())["schema"] == "candidate/v1"


@pytest.mark.parametrize("over, fragment", [
    ({"observed_at": datetime(2026, 11, 28, 17, 5)}, "timezone info"),
    ({"location": {"lat": 21.03, "lon": 105.85, "precision": "exact"}}, "outside Ho Chi Minh City"),
    ({"confidence": 1.4}, "less than or equal to 1"),
    ({"evidence": []}, "at least 1"),
    ({"id": "not-derived"}, "not derived from source"),
    ({"location": {"lat": 10.78, "lon": 106.7, "precision": "street-ish"}}, "precision"),
])
def test_invalid_candidates_are_refused_with_a_reason(over, fragment):
    with pytest.raises(ValidationError) as e:
        make_candidate(**over)
    assert fragment in str(e.value)


def test_dedup_key_groups_nearby_reports_of_one_category():
    a = make_candidate()
    near = make_candidate(source_ref="x", location={"lat": 10.7894, "lon": 106.7194, "precision": "exact"})
    other = make_candidate(source_ref="y", category="fallen_tree")
    assert a.dedup_key == near.dedup_key != other.dedup_key


def test_city_time_reads_naive_values_as_city_clock():
    assert city_time(datetime(2026, 1, 1, 7, 0)).utcoffset() == timedelta(hours=7)
    assert city_time(datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)).hour == 7


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    url = f"sqlite:///{tmp_path}/w.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(url)
    database.migrate()
    yield database
    database.dispose()


def test_migrations_build_the_whole_schema_from_empty(db):
    db.migrate()  # a second run is a no-op
    assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_storage_round_trip(db):
    c = make_candidate()
    with db.session() as s:
        inc = Incident(watch_id=c.id, category=c.category, dedup_key=c.dedup_key, lat=c.location.lat,
                       lon=c.location.lon, first_seen=c.observed_at, last_seen=c.observed_at)
        s.add(inc)
        s.flush()
        row = CandidateRow(id=c.id, source=c.source, source_ref=c.source_ref, category=c.category,
                           confidence=c.confidence, observed_at=c.observed_at, lat=c.location.lat, lon=c.location.lon,
                           precision="exact", ward=c.location.ward, street=c.location.street, summary=c.summary,
                           detector="flooding", threshold=0.5, payload=c.model_dump(mode="json", by_alias=True),
                           incident_id=inc.id)
        row.evidence.append(EvidenceRow(kind="frame", uri="ab/abc.jpg", sha256="ab" * 32, score=0.81))
        s.add(row)
        s.add(Delivery(incident_id=inc.id))
    with db.session() as s:
        got = s.get(CandidateRow, c.id)
        assert got.street == "Nguyễn Hữu Cảnh" and got.payload["location"]["ward"] == "Thạnh Mỹ Tây"
        assert city_time(got.observed_at) == c.observed_at
        assert [e.sha256 for e in got.evidence] == ["ab" * 32]
        d = s.scalars(select(Delivery)).one()
        assert d.state == "pending" and d.attempts == 0 and d.next_attempt_at is not None
