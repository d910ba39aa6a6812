"""The bridge against the real reference core on loopback: validation and dead letters, idempotent
storage and merging, delivery through the outbox across core outages and lost answers, verdicts."""
from dataclasses import replace
from datetime import timedelta

import uuid

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

import configs
from bridge.bus import open_bus
from bridge.bus.embedded import EmbeddedBus
from bridge.open311 import Open311Client
from bridge.outbox import marker
from bridge.publish import CandidatePublisher
from bridge.service import BridgeService
from configs.schema import BusConf, RetryConf
from core1022.app import create_app
from models.candidate import now_city
from models.db import Database
from models.tables import CandidateRow, DeadLetter, Delivery, Incident, Verdict
from tests.live_server import LiveServer, free_port
from tests.test_models import make_candidate

API_KEY = "test-key"


def core_count(core_db: str) -> int:
    eng = create_engine(core_db)
    with eng.connect() as c:
        n = c.execute(text("select count(*) from service_requests")).scalar()
    eng.dispose()
    return n


class Env:
    def __init__(self, tmp_path, core_port: int, db_url: str | None = None, kafka: str | None = None):
        cfg = configs.load()
        core = cfg.bridge.core.model_copy(update={
            "base_url": f"http://127.0.0.1:{core_port}/open311/v2", "api_key": API_KEY, "timeout_s": 3,
            "status_poll_s": 0.01, "retry": RetryConf(base_s=0.05, max_s=0.2)})
        self.cfg = replace(cfg, bridge=cfg.bridge.model_copy(update={
            "database_url": db_url or f"sqlite:///{tmp_path}/bridge.db", "core": core}))
        self.db = Database(self.cfg.database_url())
        self.db.migrate()
        if kafka:  # the distributed set-up: Kafka bus, PostgreSQL state; topics unique to this test
            suffix = uuid.uuid4().hex[:8]
            bus_conf = BusConf(backend="kafka", bootstrap_servers=[kafka], group_id=f"bridge-{suffix}",
                               candidates_topic=f"cand-{suffix}", deadletter_topic=f"dead-{suffix}", partitions=2)
            self.cfg = replace(self.cfg, bridge=self.cfg.bridge.model_copy(update={"bus": bus_conf}))
            self.bus = open_bus(bus_conf)
        else:
            self.bus = EmbeddedBus(self.db)
        bus_conf = self.cfg.bridge.bus
        self.publisher = CandidatePublisher(self.bus, bus_conf.candidates_topic, bus_conf.deadletter_topic)
        self.client = Open311Client(core.base_url, API_KEY, timeout_s=3)
        self.bridge = BridgeService(self.cfg, self.db, self.bus, self.client)
        self.poll_s = 4.0 if kafka else 0.05  # a new Kafka group member needs ~3 s to be assigned partitions

    def drain(self, rounds: int = 3) -> None:
        self.bus.flush()
        for _ in range(rounds):
            while self.bridge.consume_once(timeout_s=self.poll_s):
                pass
            self.bridge.deliver_once()

    def count(self, model, *where) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def core(tmp_path):
    url = f"sqlite:///{tmp_path}/core.db"
    port = free_port()
    with LiveServer(create_app(url, [API_KEY]), port=port) as srv:
        srv.db_url = url
        yield srv


@pytest.fixture(params=["sqlite", "postgres", "kafka+postgres"])
def env(request, tmp_path, core):
    db_url = request.getfixturevalue("pg_url") if "postgres" in request.param else None
    kafka = request.getfixturevalue("kafka_broker") if "kafka" in request.param else None
    e = Env(tmp_path, core.port, db_url, kafka)
    yield e
    e.bridge.close()
    e.bus.close()
    e.client.close()
    e.db.dispose()


def test_candidate_is_delivered_once_and_replays_are_ignored(env, core):
    cand = make_candidate()
    env.publisher.publish(cand)
    env.drain()
    assert core_count(core.db_url) == 1
    with env.db.session() as s:
        d = s.scalars(select(Delivery)).one()
        assert d.state == "sent" and d.service_request_id
    got = httpx.get(f"{core.url}/open311/v2/requests/{d.service_request_id}.json").json()[0]
    assert got["service_code"] == "TN-NGAP" and marker(cand.id) in got["description"]
    assert abs(got["lat"] - cand.location.lat) < 1e-5
    env.publisher.publish(cand)  # the same frame again (a replay)
    env.drain()
    assert core_count(core.db_url) == 1
    assert env.bridge.counts.replays == 1 and env.count(CandidateRow) == 1


def test_nearby_report_of_same_category_merges_into_one_incident(env, core):
    env.publisher.publish(make_candidate())
    env.publisher.publish(make_candidate(source="social", source_ref="x:1",
                                         location={"lat": 10.7900, "lon": 106.7195, "precision": "street"},
                                         evidence=[{"kind": "post", "text": "Nguyễn Hữu Cảnh ngập rồi",
                                                    "posted_at": now_city().isoformat()}]))
    env.publisher.publish(make_candidate(source_ref="far", location={"lat": 10.75, "lon": 106.65, "precision": "exact"}))
    env.drain()
    assert env.count(Incident) == 2 and env.count(CandidateRow) == 3
    with env.db.session() as s:
        counts = sorted(s.scalars(select(Incident.candidate_count)))
    assert counts == [1, 2]
    assert core_count(core.db_url) == 2


@pytest.mark.parametrize("raw, reason", [
    ("{not json", "not JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"schema": "candidate/v9"}', "schema is 'candidate/v9'"),
])
def test_malformed_messages_go_to_dead_letters_and_the_bridge_goes_on(env, core, raw, reason):
    env.bus.publish(env.publisher.topic, "k", raw)
    env.publisher.publish(make_candidate())
    env.drain()
    with env.db.session() as s:
        dead = s.scalars(select(DeadLetter)).all()
    assert len(dead) == 1 and reason in dead[0].reason and dead[0].payload == raw
    assert dead[0].stage == "bridge.validate"
    assert core_count(core.db_url) == 1


def test_invalid_fields_and_unknown_category_are_dead_lettered_with_the_field(env):
    good = make_candidate()
    bad_conf = good.to_json().replace('"confidence":0.81', '"confidence":7')
    unknown = make_candidate(category="volcano").to_json()
    env.bus.publish(env.publisher.topic, "k", bad_conf)
    env.bus.publish(env.publisher.topic, "k", unknown)
    env.drain()
    with env.db.session() as s:
        reasons = sorted(r.reason for r in s.scalars(select(DeadLetter)))
    assert any(r.startswith("confidence:") for r in reasons)
    assert any("unknown category 'volcano'" in r for r in reasons)
    assert env.count(CandidateRow) == 0


def test_producer_dead_letters_are_stored(env):
    env.publisher.dead_letter("social.import", "line 3: missing posted_at", '{"id": 3}')
    env.drain()
    with env.db.session() as s:
        row = s.scalars(select(DeadLetter)).one()
    assert (row.stage, row.reason, row.payload) == ("social.import", "line 3: missing posted_at", '{"id": 3}')


def test_core_outage_delays_delivery_and_never_drops_it(tmp_path):
    port = free_port()  # nothing listens here yet: the core is down
    env = Env(tmp_path, port)
    env.publisher.publish(make_candidate())
    env.drain()
    with env.db.session() as s:
        d = s.scalars(select(Delivery)).one()
        assert d.state == "sending" and d.attempts >= 1 and "ConnectError" in d.last_error
    core_url = f"sqlite:///{tmp_path}/core.db"
    with LiveServer(create_app(core_url, [API_KEY]), port=port):
        for _ in range(40):
            env.bridge.deliver_once()
            if env.count(Delivery, Delivery.state == "sent"):
                break
            import time; time.sleep(0.05)
        assert env.count(Delivery, Delivery.state == "sent") == 1
        assert core_count(core_url) == 1
    env.bridge.close()


def test_lost_answer_is_found_at_the_core_not_sent_twice(env, core):
    """The core created the case but the answer never reached us (crash or timeout after the POST)."""
    cand = make_candidate()
    env.publisher.publish(cand)
    env.bus.flush()
    for _ in range(5):
        if env.bridge.consume_once(timeout_s=env.poll_s):
            break
    env.client.create_request(service_code="TN-NGAP", lat=10.7893, lon=106.7193,
                              description=f"earlier attempt\n{marker(cand.id)}", attributes={"watch_id": cand.id})
    with env.db.session() as s:
        d = s.scalars(select(Delivery)).one()
        d.state, d.attempts = "sending", 1  # what a crash mid-POST leaves behind
    env.drain()
    assert core_count(core.db_url) == 1
    with env.db.session() as s:
        assert s.scalars(select(Delivery)).one().state == "sent"


def test_core_refusal_is_a_permanent_failure_with_the_reason(tmp_path, core):
    env = Env(tmp_path, core.port)
    env.client.api_key = "wrong-key"
    env.publisher.publish(make_candidate())
    env.drain()
    with env.db.session() as s:
        d = s.scalars(select(Delivery)).one()
    assert d.state == "failed" and "403" in d.last_error
    assert core_count(core.db_url) == 0


def test_verdicts_come_back_from_the_core(env, core):
    env.publisher.publish(make_candidate())
    env.publisher.publish(make_candidate(source_ref="b", category="fallen_tree"))
    env.drain()
    with env.db.session() as s:
        ids = dict(s.execute(select(Incident.category, Incident.core_request_id)).all())
    hdr = {"Accept": "application/json"}
    assert httpx.post(f"{core.url}/review/requests/{ids['flooding']}/accept", headers=hdr).status_code == 200
    assert httpx.post(f"{core.url}/review/requests/{ids['fallen_tree']}/reject", data={"reason": "bóng cây"},
                      headers=hdr).status_code == 200
    events = env.bridge.sync_once(force=True)
    assert sorted(e.verdict for e in events) == ["accepted", "rejected"]
    httpx.post(f"{core.url}/review/requests/{ids['flooding']}/resolve", data={"note": "đã rút"}, headers=hdr)
    assert [e.verdict for e in env.bridge.sync_once(force=True)] == ["resolved"]
    assert env.bridge.sync_once(force=True) == []  # nothing changes twice
    with env.db.session() as s:
        assert dict(s.execute(select(Incident.category, Incident.status)).all()) == {
            "flooding": "resolved", "fallen_tree": "rejected"}
        assert s.scalar(select(func.count()).select_from(Verdict)) == 3
