"""Social sources against real loopback servers (X API v2 look-alike, RSS/Atom feeds, the webhook), the runner's
cursors and source states, near-duplicate collapsing, intersections/landmarks, eval-social and the bench.

All example posts are written for these tests.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bridge.bus.embedded import EmbeddedBus
from bridge.publish import CandidatePublisher
from configs.loader import ConfigError, load_file
from configs.schema import CategoriesFile, SocialFile, SocialSourceConf
from models.candidate import Candidate
from models.db import Database
from social.locate import locate
from social.pipeline import MissLog, SocialPipeline
from social.rss import RssSource, parse_feed
from social.runner import SocialRunner, load_cursor, read_source
from social.sources import SOURCE_KINDS, Post, SourceAuthError, SourceDelayed, build_source
from social.webhook import create_router
from social.x import XSource
from tests.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[1]
ICT = timezone(timedelta(hours=7))


@pytest.fixture(scope="module")
def categories() -> CategoriesFile:
    return load_file(ROOT / "configs" / "categories.yaml", CategoriesFile)


@pytest.fixture()
def db(tmp_path) -> Database:
    d = Database(f"sqlite:///{tmp_path / 'w.db'}")
    d.migrate()
    yield d
    d.dispose()


class Recorder:
    def __init__(self):
        self.published: list[Candidate] = []
        self.dead: list[tuple[str, str, str]] = []

    def publish(self, c):
        self.published.append(c)

    def dead_letter(self, stage, reason, payload):
        self.dead.append((stage, reason, payload))

    def flush(self):
        pass


# ---- X: a loopback server answering like API v2 /2/tweets/search/recent ----------------------------------
TWEETS = [  # newest first, as X answers
    {"id": "1900000000000000005", "text": "Cây xanh ngã chắn ngang đường Võ Văn Ngân sáng nay, kẹt xe dài",
     "author_id": "11", "created_at": "2025-11-03T01:10:00.000Z", "lang": "vi", "geo": {"place_id": "pl1"}},
    {"id": "1900000000000000004", "text": "Dạo này deadline ngập đầu, không thở nổi", "author_id": "12",
     "created_at": "2025-11-03T01:05:00.000Z", "lang": "vi"},
    {"id": "1900000000000000003", "text": "Đường Lê Văn Sỹ đang ngập tới yên xe, xe chết máy hàng loạt",
     "author_id": "11", "created_at": "2025-11-03T01:00:00.000Z", "lang": "vi"},
]


class FakeX:
    """Pages of 2 tweets; since_id filters; optional 429 / 401 answers."""

    def __init__(self):
        self.tweets = list(TWEETS)
        self.requests: list[dict] = []
        self.mode = "ok"  # ok | rate_limited_page2 | unauthorized
        self.reset_at = int(time.time()) + 900
        app = FastAPI()

        @app.get("/2/tweets/search/recent")
        def search(request: Request):
            q = dict(request.query_params)
            self.requests.append({**q, "_auth": request.headers.get("authorization")})
            if self.mode == "unauthorized":
                return JSONResponse({"title": "Unauthorized", "type": "about:blank", "status": 401,
                                     "detail": "Unauthorized"}, 401)
            if self.mode == "rate_limited_page2" and q.get("next_token"):
                return JSONResponse({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
                                     "status": 429}, 429, headers={"x-rate-limit-reset": str(self.reset_at)})
            since = int(q.get("since_id", 0))
            match = [t for t in self.tweets if int(t["id"]) > since]
            start = int(q.get("next_token", "0").removeprefix("p") or 0)
            page = match[start:start + 2]
            meta = {"result_count": len(page)}
            if page:
                meta["newest_id"], meta["oldest_id"] = page[0]["id"], page[-1]["id"]
            if start + 2 < len(match):
                meta["next_token"] = f"p{start + 2}"
            body = {"meta": meta}
            if page:
                body["data"] = page
                body["includes"] = {
                    "users": [{"id": "11", "username": "saigon_mua", "name": "SG"},
                              {"id": "12", "username": "vanphong", "name": "VP"}],
                    "places": [{"id": "pl1", "full_name": "Thủ Đức, Hồ Chí Minh", "name": "Thủ Đức"}]}
            return body

        self.app = app


@pytest.fixture()
def fake_x():
    fx = FakeX()
    with LiveServer(fx.app) as srv:
        fx.url = srv.url
        yield fx


def _x_source(fake_x, **kw) -> XSource:
    # tweepy's host is fixed (https://api.twitter.com): XSource mounts a host-rewriting adapter on tweepy's
    # requests session (api_base), so the real tweepy client talks HTTP to our loopback server.
    return XSource(["(ngập OR cây đổ) lang:vi"], "test-token", "x-test", max_results=10, api_base=fake_x.url, **kw)


def test_x_source_pages_through_and_resumes_with_since_id(fake_x):
    src = _x_source(fake_x)
    items, cursor = src.fetch(None)
    assert sorted(p.id for p in items) == sorted(t["id"] for t in TWEETS)
    assert len(fake_x.requests) == 2 and fake_x.requests[1]["next_token"] == "p2"  # pagination
    r0 = fake_x.requests[0]
    assert r0["_auth"] == "Bearer test-token"
    assert "geo.place_id" in r0["expansions"] and "author_id" in r0["expansions"] and "full_name" in r0["place.fields"]
    tree = {p.id: p for p in items}[TWEETS[0]["id"]]
    assert tree.platform == "x" and tree.author == "saigon_mua" and tree.place == "Thủ Đức, Hồ Chí Minh"
    assert tree.url == f"https://x.com/saigon_mua/status/{TWEETS[0]['id']}"
    assert tree.posted_at == datetime(2025, 11, 3, 8, 10, tzinfo=ICT)
    state = json.loads(cursor)
    assert state["(ngập OR cây đổ) lang:vi"]["since_id"] == TWEETS[0]["id"]
    # a restart with the cursor asks only for newer tweets, gets nothing, repeats nothing
    again, cursor2 = _x_source(fake_x).fetch(cursor)
    assert again == [] and fake_x.requests[-1]["since_id"] == TWEETS[0]["id"]
    fake_x.tweets.insert(0, {"id": "1900000000000000009", "text": "Ổ gà to giữa đường Cộng Hòa", "author_id": "11",
                             "created_at": "2025-11-03T02:00:00.000Z"})
    new, _ = _x_source(fake_x).fetch(cursor2)
    assert [p.id for p in new] == ["1900000000000000009"]


def test_x_rate_limit_delays_only_that_source_and_keeps_pages_read(fake_x, db, categories):
    fake_x.mode = "rate_limited_page2"
    src = _x_source(fake_x)
    with pytest.raises(SourceDelayed) as e:
        src.fetch(None)
    assert e.value.retry_at == fake_x.reset_at and len(e.value.items) == 2
    state = json.loads(e.value.cursor)["(ngập OR cây đổ) lang:vi"]
    assert state["next_token"] == "p2" and "since_id" not in state  # the series continues where it stopped

    # in the runner: the X source is delayed until the reset, a JSONL source next to it keeps running
    posts = ROOT / "samples" / "social" / "posts.jsonl"
    from social.sources import JsonlFileSource
    rec = Recorder()
    now = [1_000_000.0]
    runner = SocialRunner([(src, 30.0), (JsonlFileSource(posts, name="samples"), 30.0)],
                          SocialPipeline(categories, 0.5, "s"), db, rec, clock=lambda: now[0])
    runner.step()
    assert runner.states["x-test"].state == "rate_limited" and runner.states["x-test"].next_at == fake_x.reset_at
    assert runner.states["samples"].state == "ok" and rec.published
    n_requests = len(fake_x.requests)
    now[0] += 31
    runner.step()  # the JSONL source is read again; X is not asked before its reset
    assert len(fake_x.requests) == n_requests and runner.states["samples"].reads == 2
    # the cursor saved after the 429 continues with page 2 once the limit is over
    fake_x.mode = "ok"
    now[0] = fake_x.reset_at + 1
    runner.step()
    assert fake_x.requests[-1].get("next_token") == "p2" and runner.states["x-test"].state == "ok"
    assert json.loads(load_cursor(db, "social:x-test"))["(ngập OR cây đổ) lang:vi"]["since_id"] == TWEETS[0]["id"]


def test_x_auth_errors_are_a_source_state_not_a_crash(fake_x, db, categories):
    fake_x.mode = "unauthorized"
    with pytest.raises(SourceAuthError, match="401"):
        _x_source(fake_x).fetch(None)
    runner = SocialRunner([(_x_source(fake_x), 30.0)], SocialPipeline(categories, 0.5, "s"), db, Recorder(),
                          clock=lambda: 5000.0)
    runner.step()
    st = runner.states["x-test"]
    assert st.state == "auth_error" and "401" in st.detail and st.next_at >= 5000.0 + 900
    no_token = XSource(["ngập"], None, "x-none", api_base=fake_x.url, token_env="MY_X_TOKEN")
    with pytest.raises(SourceAuthError, match="MY_X_TOKEN"):
        no_token.fetch(None)


def test_x_source_from_config(monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "abc")
    conf = SocialSourceConf(name="x1", kind="x", queries=["ngập lang:vi"], bearer_token_env="MY_TOKEN",
                            api_base="http://127.0.0.1:9")
    src = build_source(conf)
    assert isinstance(src, XSource) and src.bearer_token == "abc" and SOURCE_KINDS["x"] is XSource


# ---- config validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize("yaml_text, needle", [
    ("sources: [{name: a, kind: x}]", "needs `queries`"),
    ("sources: [{name: a, kind: rss}]", "needs `url`"),
    ("sources: [{name: a, kind: rss, url: 'ftp://x'}]", "http"),
    ("sources: [{name: a, kind: jsonl, path: a}, {name: a, kind: jsonl, path: b}]", "more than once"),
    ("near_duplicates: {threshold: 2}", "near_duplicates.threshold"),
])
def test_social_config_errors_name_the_key(tmp_path, yaml_text, needle):
    f = tmp_path / "social.yaml"
    f.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match="social.yaml") as e:
        load_file(f, SocialFile)
    assert needle in str(e.value)


def test_shipped_social_config_builds_every_source():
    conf = load_file(ROOT / "configs" / "social.yaml", SocialFile)
    kinds = {s.kind for s in conf.sources}
    assert {"jsonl", "x", "rss"} <= kinds
    for s in conf.sources:
        build_source(s, resolve=lambda p: ROOT / p)


# ---- RSS / Atom -------------------------------------------------------------------------------------------
def _rss(items: list[tuple[str, str, str]]) -> str:
    body = "".join(f"<item><title>{t}</title><link>https://bao.example/{g}</link><guid>{g}</guid>"
                   f"<description><![CDATA[<p>{t} – <b>ảnh</b></p>]]></description><pubDate>{d}</pubDate></item>"
                   for g, t, d in items)
    return f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Tin</title>{body}</channel></rss>'


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Tin nhanh</title>
<entry><id>urn:tin:2</id><title>Cây đổ đè xe máy trên đường Điện Biên Phủ</title>
<link rel="alternate" href="https://tin.example/2"/><updated>2025-11-03T09:00:00+07:00</updated>
<summary type="html">&lt;p&gt;Sáng nay một cây xanh bật gốc.&lt;/p&gt;</summary><author><name>PV</name></author></entry>
<entry><id>urn:tin:1</id><title>Dự báo mưa lớn cuối tuần</title><link href="https://tin.example/1"/>
<updated>2025-11-02T09:00:00Z</updated><summary>Có thể ngập.</summary></entry>
</feed>"""


def test_parse_feed_rss_and_atom():
    items = parse_feed(_rss([("a1", "Ngập sâu đường Nguyễn Hữu Cảnh", "Mon, 03 Nov 2025 18:00:00 +0700")]))
    assert items[0]["id"] == "a1" and items[0]["summary"] == "Ngập sâu đường Nguyễn Hữu Cảnh – ảnh"
    assert items[0]["published"] == datetime(2025, 11, 3, 18, 0, tzinfo=ICT)
    atom = parse_feed(ATOM)
    assert [i["id"] for i in atom] == ["urn:tin:2", "urn:tin:1"]
    assert atom[0]["link"] == "https://tin.example/2" and atom[0]["summary"] == "Sáng nay một cây xanh bật gốc."
    with pytest.raises(ValueError):
        parse_feed("<html><body>no</body></html>")


class FeedServer:
    def __init__(self):
        self.rss = _rss([("n2", "Cây đổ chắn đường Lê Lợi", "Mon, 03 Nov 2025 10:00:00 +0700"),
                         ("n1", "Ngập sâu đường Nguyễn Hữu Cảnh sáng nay", "Mon, 03 Nov 2025 08:00:00 +0700")])
        self.hits = 0
        app = FastAPI()

        @app.get("/rss")
        def rss(request: Request):
            self.hits += 1
            if request.headers.get("if-none-match") == '"v-final"':
                return Response(status_code=304)
            return Response(self.rss, media_type="application/rss+xml", headers={"ETag": self.etag})

        @app.get("/atom")
        def atom():
            return Response(ATOM, media_type="application/atom+xml")

        @app.get("/broken")
        def broken():
            return Response("<rss><channel><item>", media_type="application/rss+xml")
        self.etag = '"v1"'
        self.app = app


def test_rss_source_cursor_neither_skips_nor_repeats():
    fs = FeedServer()
    with LiveServer(fs.app) as srv:
        src = RssSource(srv.url + "/rss", "news")
        items, cursor = src.fetch(None)
        assert [p.id for p in items] == ["n1", "n2"]  # oldest first
        assert items[0].platform == "news" and items[0].url == "https://bao.example/n1"
        assert RssSource(srv.url + "/rss", "news").fetch(cursor)[0] == []  # a restart repeats nothing
        # a new item at the same time as the newest and a newer one; an old one that reappears is not new
        fs.rss = _rss([("n4", "Ổ gà giữa đường Cộng Hòa", "Mon, 03 Nov 2025 11:00:00 +0700"),
                       ("n3", "Mất nắp hố ga đường Lê Lợi", "Mon, 03 Nov 2025 10:00:00 +0700"),
                       ("n2", "Cây đổ chắn đường Lê Lợi", "Mon, 03 Nov 2025 10:00:00 +0700"),
                       ("n1", "Ngập sâu đường Nguyễn Hữu Cảnh sáng nay", "Mon, 03 Nov 2025 08:00:00 +0700")])
        fs.etag = '"v-final"'
        items, cursor = src.fetch(cursor)
        assert [p.id for p in items] == ["n3", "n4"]
        assert src.fetch(cursor)[0] == []  # 304 with the stored ETag
        atom, _ = RssSource(srv.url + "/atom", "tin").fetch(None)
        assert [p.id for p in atom] == ["urn:tin:1", "urn:tin:2"]
        from social.sources import SourceError
        with pytest.raises(SourceError, match="not well-formed"):
            RssSource(srv.url + "/broken", "b").fetch(None)
        with pytest.raises(SourceError, match="404"):
            RssSource(srv.url + "/nope", "b").fetch(None)


# ---- webhook through a real server and a real embedded bus ---------------------------------------------------
def _consume(bus: EmbeddedBus, topic: str) -> list[str]:
    c = bus.consumer(f"t-{topic}-{time.monotonic_ns()}", [topic])
    out = []
    for _ in range(5):
        msgs = c.poll(100, 0.2)
        if not msgs and out:
            break
        out += [m.value for m in msgs]
    return out


def test_webhook_publishes_reports_and_dead_letters_bad_items(tmp_path, categories):
    db = Database(f"sqlite:///{tmp_path / 'bus.db'}")
    db.migrate()
    bus = EmbeddedBus(db)
    try:
        pipe = SocialPipeline(categories, 0.5, "salt")
        app = FastAPI()
        app.include_router(create_router(lambda: CandidatePublisher(bus), ["k-1"], pipeline=pipe))
        good = {"id": "fb-1", "platform": "facebook", "text": "Cây xanh bật gốc đè lên xe máy trước số 12 Võ Thị Sáu",
                "posted_at": "2025-11-03T08:00:00+07:00", "author": "Lan", "url": "https://facebook.com/p/1"}
        repost = dict(good, id="fb-2", text="Chia sẻ: cây xanh bật gốc đè lên xe máy trước số 12 Võ Thị Sáu!!",
                      author="Minh")
        noise = {"id": "fb-3", "text": "Hôm nay ngập tràn hạnh phúc", "posted_at": "2025-11-03T08:05:00+07:00"}
        bad = {"id": "fb-4", "text": "ngập", "posted_at": "2025-11-03T08:05:00"}  # no offset
        with LiveServer(app) as srv:
            url = srv.url + "/social/posts"
            assert httpx.post(url, json=good).status_code == 401
            assert httpx.post(url, json=good, headers={"X-API-Key": "wrong"}).status_code == 401
            r = httpx.post(url, json=[good, repost, noise, bad, "text"], headers={"X-API-Key": "k-1"})
            assert r.status_code == 207
            body = r.json()
            assert body["accepted"] == 3
            assert [(x["index"], x["id"]) for x in body["refused"]] == [(3, "fb-4"), (4, None)]
            assert "offset" in body["refused"][0]["reason"]
            assert [x["outcome"] for x in body["results"]] == ["candidate", "repost", "no_category", "refused", "refused"]
            r = httpx.post(url, content=b"{not json", headers={"X-API-Key": "k-1"})
            assert r.status_code == 400
            r = httpx.post(url, json=[bad], headers={"X-API-Key": "k-1"})
            assert r.status_code == 422
        cands = [Candidate.model_validate_json(v) for v in _consume(bus, "watch1022.candidates")]
        assert len(cands) == 1
        c = cands[0]
        assert c.source_ref == "facebook:fb-1" and c.category == "fallen_tree"
        assert len(c.evidence) == 2  # the post and its near-duplicate repost, both kept as evidence
        assert c.attributes["reports"] == 2 and "facebook:fb-2" in c.attributes["sources"]
        dead = [json.loads(v) for v in _consume(bus, "watch1022.deadletter")]
        assert len(dead) == 4 and all(d["stage"] == "social.webhook" for d in dead)
        assert any("offset" in d["reason"] for d in dead) and any("not JSON" in d["reason"] for d in dead)
    finally:
        bus.close()
        db.dispose()


# ---- near-duplicates and misses ------------------------------------------------------------------------------
def _post(id, text, minutes=0, platform="x", author="a"):
    return Post(id=id, platform=platform, text=text, author=author, url=f"https://x.com/{author}/status/{id}",
                posted_at=datetime(2025, 11, 3, 8, 0, tzinfo=ICT) + timedelta(minutes=minutes))


def test_near_duplicate_reposts_collapse_into_one_candidate_with_all_posts(categories, tmp_path):
    pipe = SocialPipeline(categories, 0.5, "s", misses=MissLog(tmp_path / "misses.jsonl"))
    batch = [
        _post("1", "Đường Lê Văn Sỹ đoạn gần chợ đang ngập tới yên xe, xe chết máy la liệt"),
        _post("2", "Lê Văn Sỹ đoạn gần chợ đang ngập tới yên xe luôn, xe chết máy la liệt 😭 #ngapnuoc", 5, "facebook"),
        _post("3", "RT @a: Đường Lê Văn Sỹ đoạn gần chợ đang ngập tới yên xe"),
        _post("4", "Đường Cộng Hòa đoạn gần chợ đang ngập tới yên xe, xe chết máy la liệt", 6),  # another street
        _post("5", "Dự báo chiều nay mưa lớn, đường Lê Văn Sỹ có thể ngập", 7),
    ]
    out = pipe.process_batch(batch)
    assert [c.source_ref for c in out] == ["x:1", "x:4"]
    first = out[0]
    assert len(first.evidence) == 2 and first.attributes["reports"] == 2
    assert {e.url for e in first.evidence} == {"https://x.com/a/status/1", "https://x.com/a/status/2"}
    # a later near-duplicate (next batch) raises a follow-up at the same place, pointing at the first
    later = pipe.process_batch([_post("6", "duong Le Van Sy doan gan cho dang ngap toi yen xe, xe chet may la liet", 30)])
    assert len(later) == 1 and later[0].attributes["duplicate_of"] == first.id
    assert len(later[0].evidence) == 3 and (later[0].location.lat, later[0].location.lon) == (first.location.lat, first.location.lon)
    # outside the window: a new report
    assert pipe.process_batch([_post("7", batch[0].text + " nữa", 60 * 24)])[0].attributes.get("duplicate_of") is None
    misses = [json.loads(l) for l in (tmp_path / "misses.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [m["ref"] for m in misses] == ["x:5"] and misses[0]["reason"] == "not_report"
    assert misses[0]["category"] == "flooding" and misses[0]["phrases"]


def test_runner_publishes_then_saves_the_cursor_and_dead_letters(tmp_path, db, categories):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "Cây đổ chắn ngang đường Lê Lợi sáng nay",
                                "posted_at": "2025-11-03T08:00:00+07:00"}, ensure_ascii=False) + "\n" + "{bad\n",
                    encoding="utf-8")
    from social.sources import JsonlFileSource
    rec = Recorder()
    raised, refused = read_source(JsonlFileSource(path, name="imp"), SocialPipeline(categories, 0.5, "s"), db, rec)
    assert (raised, refused) == (1, 1) and load_cursor(db, "social:imp") == "2"
    assert rec.dead[0][0] == "social.imp" and "record 2" in rec.dead[0][1]


# ---- location ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "Ngập sâu ở ngã tư Nguyễn Thị Minh Khai – Hai Bà Trưng",
    "giao lộ Nguyễn Thị Minh Khai và Hai Bà Trưng ngập",
    "góc Nguyễn Thị Minh Khai / Hai Bà Trưng cây đổ",
    "khu vực giao nhau giữa đường Nguyễn Thị Minh Khai và đường Hai Bà Trưng",
])
def test_intersection_of_two_known_streets_is_exact(text):
    p = locate(text)
    assert p.precision == "exact" and p.level == "intersection"
    assert p.street == "Nguyễn Thị Minh Khai" and p.cross_street == "Hai Bà Trưng"
    assert 10.775 < p.lat < 10.79 and 106.69 < p.lon < 106.70


def test_intersection_with_an_unknown_street_keeps_both_names():
    p = locate("Mặt đường tại giao lộ Đặng Minh Khiêm - Nguyễn Tri Phương sụt lún")  # Đặng Minh Khiêm: not in streets.yaml
    assert p.cross_street == "Nguyễn Tri Phương" and p.street == "Đặng Minh Khiêm" and p.precision != "exact"


def test_landmark_and_unknown_street_and_merged_old_ward():
    p = locate("Nước ngập tới gối ở ngã tư Hàng Xanh")
    assert p.landmark == "ngã tư Hàng Xanh" and p.precision == "street" and abs(p.lat - 10.801) < 0.01
    q = locate("Trên đường Trần Văn Kiểu Mới (phường 13, quận 6) trụ đèn nghiêng")
    assert q.street == "Trần Văn Kiểu Mới" and q.district == "Quận 6" and q.precision == "ward"
    r = locate("hẻm 10 đường số 7 (phường 6, quận Bình Thạnh) ngập")
    assert r.street == "Đường số 7" and r.ward_legacy == "Phường 6, Quận Bình Thạnh"


def test_former_binh_duong_and_vung_tau_are_in_jurisdiction():
    from social.classify import classify
    a = classify("Cây đổ chắn ngang đường ở phường Dĩ An sáng nay")
    assert a.is_report and a.category == "fallen_tree"
    assert locate("Ngập sâu ở phường Thủ Dầu Một").ward == "Phường Thủ Dầu Một"
    b = classify("Đường ở Vũng Tàu ngập sâu sau cơn mưa chiều nay")
    assert b.is_report


# ---- eval-social and the bench ----------------------------------------------------------------------------------
def test_eval_social_cli_table_json_and_predictions(tmp_path):
    rows = [
        {"text": "Đường Lê Văn Sỹ (phường 13, quận 3) đang ngập sâu", "category": "flooding", "is_report": True,
         "street": "Lê Văn Sỹ", "ward": "Phường 13", "district": "Quận 3"},
        {"text": "Dự báo mưa lớn, có thể ngập", "category": "flooding", "is_report": False},
        {"text": "Hôm nay trời đẹp", "category": "not_incident", "is_report": False},
        {"text": "cay do chan ngang duong Le Loi quan 1", "category": "fallen_tree", "is_report": True,
         "street": "Lê Lợi", "district": "Quận 1 (cũ)"},
    ]
    f = tmp_path / "l.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    pred = tmp_path / "p.jsonl"
    out = subprocess.run([sys.executable, "-m", "watch1022.cli", "eval-social", str(f), "--json", "--predictions",
                          str(pred)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert "flooding" in out.stdout and "report" in out.stdout
    assert figures["report"]["precision"] == 1.0 and figures["report"]["recall"] == 1.0
    assert figures["categories"]["flooding"]["f1"] == 1.0 and figures["category_accuracy"] == 1.0
    assert figures["location_accuracy"] == 1.0
    preds = [json.loads(l) for l in pred.read_text(encoding="utf-8").splitlines()]
    assert len(preds) == 4
    keys = {"category", "is_report", "confidence", "street", "ward", "district", "lat", "lon", "precision"}
    assert all(set(p) == keys for p in preds)
    assert preds[0]["street"] == "Lê Văn Sỹ" and preds[0]["is_report"] is True
    assert preds[2]["category"] is None and preds[2]["lat"] is None and preds[2]["street"] is None


def test_eval_social_accepts_old_and_new_ward_names():
    from social.evaluate import evaluate_rows
    rows = [{"text": "Cây đổ ở phường 14, quận 6 sáng nay", "category": "fallen_tree", "is_report": True,
             "ward": locate("phường 14, quận 6").ward.split(" ", 1)[1], "district": "Quận 6"}]
    figures, _ = evaluate_rows(rows)
    assert figures["location_accuracy"] == 1.0


def test_bench_prints_json_last_line():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "social.py"), "--posts", "300"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last["posts_per_s"] > 0 and last["regex_posts_per_s"] > last["posts_per_s"]
    import social
    assert last["text_path"] == social.RUNNING
    if social.running_compiled():  # the plain Python path measured beside it, on the same posts
        assert last["python_posts_per_s"] > 0
