"""The reference core on PostgreSQL: same round trip as on SQLite, in a throw-away database."""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from core1022.app import create_app
from tests.live_server import LiveServer
from tests.test_core1022 import KEY, V2, create, get_one, list_ids, parse_dt, review

# Same admin URL variable as tests/conftest.py, so one setting moves every PostgreSQL test.
PG_ADMIN = os.environ.get("WATCH1022_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

pytestmark = pytest.mark.postgres


@pytest.fixture
def core_pg_url():
    """A fresh database core_test_<random>, dropped afterwards; skip (fail when CI=true) without PG."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except Exception as e:  # unreachable server, missing driver
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required when CI=true: {e}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {e}")
    name = f"core_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        # Plain postgresql:// on purpose: the core maps it to the psycopg 3 driver itself.
        yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_round_trip_on_postgresql(core_pg_url):
    with LiveServer(create_app(core_pg_url, [KEY])) as srv:
        core = srv.url
        rid = create(core, **{"attribute[watch_id]": "cand-pg-1"})
        other = create(core, "xml", service_code="CX-CAYNGA", **{"attribute[watch_id]": "cand-pg-2"})

        req = get_one(core, rid, extensions="true")
        assert req["service_code"] == "TN-NGAP" and req["status"] == "open" and req["status_notes"] == ""
        assert req["extended_attributes"]["attributes"]["watch_id"] == "cand-pg-1"
        requested = parse_dt(req["requested_datetime"])
        assert abs(requested - datetime.now(timezone.utc)) < timedelta(minutes=1)

        assert sorted(list_ids(core, service_request_id=f"{rid},{other}")) == sorted([rid, other])
        assert list_ids(core, service_code="CX-CAYNGA") == [other]
        assert list_ids(core, **{"attribute[watch_id]": "cand-pg-2"}) == [other]  # JSON path on PostgreSQL
        now = datetime.now(timezone.utc)
        assert len(list_ids(core, start_date=(now - timedelta(hours=1)).isoformat(), end_date=(now + timedelta(hours=1)).isoformat())) == 2

        assert review(core, other, "duplicate", duplicate_of=rid).status_code == 200
        assert review(core, rid, "reject", reason="bóng cây").status_code == 200
        assert review(core, rid, "resolve").status_code == 409
        assert (get_one(core, other)["status"], get_one(core, other)["status_notes"]) == ("closed", f"Duplicate of {rid}")
        assert list_ids(core, status="closed", service_code="TN-NGAP") == [rid]
        assert get_one(core, rid)["status_notes"] == "Rejected: bóng cây"
        assert httpx.get(f"{core}{V2}/requests/0.json").status_code == 404
