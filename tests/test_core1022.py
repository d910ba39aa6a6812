"""The reference 1022 core, served for real on loopback, spoken to over HTTP like the bridge does."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import select

from core1022.app import create_app
from core1022.store import ServiceRequest, Store
from tests.live_server import LiveServer, free_port

ROOT = Path(__file__).resolve().parents[1]
KEY = "test-key"
V2 = "/open311/v2"
CITY = timezone(timedelta(hours=7))


# -- helpers (also used by test_core1022_postgres.py) -------------------------------------------

def form(**overrides) -> dict:
    data = {
        "api_key": KEY,
        "service_code": "TN-NGAP",
        "lat": "10.7769",
        "long": "106.7009",
        "description": "Ngập sâu khoảng 30 cm trên đường Nguyễn Hữu Cảnh",
        "media_url": "http://127.0.0.1/evidence/abc.jpg",
        "attribute[watch_id]": "cand-0001",
        "attribute[watch_source]": "camera",
        "attribute[watch_confidence]": "0.87",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def create(base: str, fmt: str = "json", **overrides) -> str:
    r = httpx.post(f"{base}{V2}/requests.{fmt}", data=form(**overrides))
    assert r.status_code == 201, r.text
    if fmt == "xml":
        return ET.fromstring(r.content).findtext("request/service_request_id")
    return r.json()[0]["service_request_id"]


def get_one(base: str, rid: str, **params) -> dict:
    r = httpx.get(f"{base}{V2}/requests/{rid}.json", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    return body[0]


def list_ids(base: str, **params) -> list[str]:
    r = httpx.get(f"{base}{V2}/requests.json", params=params)
    assert r.status_code == 200, r.text
    return [x["service_request_id"] for x in r.json()]


def review(base: str, rid: str, action: str, **fields) -> httpx.Response:
    return httpx.post(f"{base}/review/requests/{rid}/{action}", data=fields, headers={"Accept": "application/json"})


def errors_of(r: httpx.Response, fmt: str) -> list[tuple[int, str]]:
    """The GeoReport error body, parsed by the format the client asked for."""
    if fmt == "xml":
        assert r.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(r.content)
        assert root.tag == "errors"
        return [(int(e.findtext("code")), e.findtext("description")) for e in root.findall("error")]
    body = r.json()
    assert isinstance(body, list) and body, body
    assert all(set(e) == {"code", "description"} for e in body)
    return [(e["code"], e["description"]) for e in body]


def parse_dt(s: str) -> datetime:
    dt = datetime.fromisoformat(s)
    assert dt.utcoffset() == timedelta(hours=7), s
    return dt


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'core.db'}"


@pytest.fixture
def core(db_url):
    with LiveServer(create_app(db_url, [KEY])) as srv:
        yield srv.url


# -- services ---------------------------------------------------------------------------------------

def test_services_yaml_follows_categories():
    categories = yaml.safe_load((ROOT / "configs" / "categories.yaml").read_text(encoding="utf-8"))["categories"]
    services = yaml.safe_load((ROOT / "core1022" / "services.yaml").read_text(encoding="utf-8"))["services"]
    expected = [(c["service_code"], c["name_vi"], c["field"]) for c in categories]
    assert [(s["service_code"], s["service_name"], s["group"]) for s in services] == expected


def test_services_json(core):
    r = httpx.get(f"{core}{V2}/services.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    services = {s["service_code"]: s for s in r.json()}
    assert {"TN-NGAP", "CX-CAYNGA", "GT-OGA", "MT-RAC", "DT-LANCHIEM"} <= set(services)
    flood = services["TN-NGAP"]
    assert flood["service_name"] == "Ngập nước" and flood["group"] == "Thoát nước"
    assert flood["metadata"] is False and flood["type"] == "realtime"
    assert set(flood) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}


def test_services_xml(core):
    r = httpx.get(f"{core}{V2}/services.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "services"
    by_code = {s.findtext("service_code"): s for s in root.findall("service")}
    assert by_code["CX-CAYNGA"].findtext("service_name") == "Cây ngã, gãy đổ"
    assert by_code["CX-CAYNGA"].findtext("group") == "Cây xanh"
    assert by_code["CX-CAYNGA"].findtext("metadata") == "false"


def test_service_definition_and_unknown_service(core):
    assert httpx.get(f"{core}{V2}/services/GT-OGA.json").json() == {"service_code": "GT-OGA", "attributes": []}
    root = ET.fromstring(httpx.get(f"{core}{V2}/services/GT-OGA.xml").content)
    assert root.tag == "service_definition" and root.findtext("service_code") == "GT-OGA"
    assert root.find("attributes") is not None and list(root.find("attributes")) == []
    for fmt in ("json", "xml"):
        r = httpx.get(f"{core}{V2}/services/NOPE.{fmt}")
        assert r.status_code == 404
        assert errors_of(r, fmt) == [(404, "service_code 'NOPE' not found")]


def test_custom_services_with_required_attribute(tmp_path):
    services = [{
        "service_code": "X1", "service_name": "Thử", "group": "Nhóm",
        "attributes": [{"variable": True, "code": "depth_cm", "datatype": "number", "required": True,
                        "datatype_description": "cm", "order": 1, "description": "Độ sâu"}],
    }]
    with LiveServer(create_app(f"sqlite:///{tmp_path}/c.db", [KEY], services=services)) as srv:
        assert httpx.get(f"{srv.url}{V2}/services.json").json()[0]["metadata"] is True
        root = ET.fromstring(httpx.get(f"{srv.url}{V2}/services/X1.xml").content)
        assert root.findtext("attributes/attribute/code") == "depth_cm"
        assert root.findtext("attributes/attribute/required") == "true"
        r = httpx.post(f"{srv.url}{V2}/requests.json", data=form(service_code="X1"))
        assert r.status_code == 400 and errors_of(r, "json") == [(400, "attribute[depth_cm] is required for service X1")]
        r = httpx.post(f"{srv.url}{V2}/requests.json", data=form(service_code="X1", **{"attribute[depth_cm]": "30"}))
        assert r.status_code == 201


def test_bad_services_config_names_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"services\[1\]\.group: required"):
        create_app(f"sqlite:///{tmp_path}/c.db", [KEY], services=[
            {"service_code": "A", "service_name": "a", "group": "g"},
            {"service_code": "B", "service_name": "b"},
        ])


# -- creating requests --------------------------------------------------------------------------------

def test_create_request_json_round_trip(core):
    before = datetime.now(timezone.utc) - timedelta(seconds=2)
    r = httpx.post(f"{core}{V2}/requests.json", data=form(zipcode="700000", email="op@example.vn"))
    assert r.status_code == 201
    [answer] = r.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] is None and answer["service_notice"]
    rid = answer["service_request_id"]

    req = get_one(core, rid)
    assert req["service_request_id"] == rid
    assert req["status"] == "open" and req["status_notes"] == ""
    assert req["service_code"] == "TN-NGAP" and req["service_name"] == "Ngập nước"
    assert req["agency_responsible"] == "Thoát nước"
    assert req["description"] == "Ngập sâu khoảng 30 cm trên đường Nguyễn Hữu Cảnh"
    assert req["lat"] == pytest.approx(10.7769) and req["long"] == pytest.approx(106.7009)
    assert req["media_url"] == "http://127.0.0.1/evidence/abc.jpg"
    assert req["zipcode"] == "700000" and req["address"] is None and req["expected_datetime"] is None
    requested = parse_dt(req["requested_datetime"])
    assert before <= requested <= datetime.now(timezone.utc) + timedelta(seconds=2)
    parse_dt(req["updated_datetime"])
    assert "extended_attributes" not in req

    # Every attribute[...] is stored; extensions=true shows them.
    ext = get_one(core, rid, extensions="true")["extended_attributes"]
    assert ext["attributes"] == {"watch_id": "cand-0001", "watch_source": "camera", "watch_confidence": "0.87"}
    assert ext["review_state"] == "new"


def test_create_request_xml_round_trip(core):
    r = httpx.post(f"{core}{V2}/requests.xml", data=form(lat=None, long=None, address_string="12 Lê Lợi, Phường Sài Gòn"))
    assert r.status_code == 201 and r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "service_requests"
    rid = root.findtext("request/service_request_id")
    assert rid and root.findtext("request/service_notice")
    assert root.find("request/account_id") is not None and root.findtext("request/account_id") == ""

    got = ET.fromstring(httpx.get(f"{core}{V2}/requests/{rid}.xml").content)
    assert got.tag == "service_requests" and len(got.findall("request")) == 1
    req = got.find("request")
    assert req.findtext("service_request_id") == rid
    assert req.findtext("status") == "open"
    assert req.findtext("address") == "12 Lê Lợi, Phường Sài Gòn"
    assert req.findtext("lat") == "" and req.findtext("long") == ""
    parse_dt(req.findtext("requested_datetime"))


def test_attribute_lists_and_address_id(core):
    rid = create(core, lat=None, long=None, address_id="ward-26734",
                 **{"attribute[tags][]": "a", "attribute[watch_id]": "cand-7"})
    ext = get_one(core, rid, extensions="true")
    assert ext["address_id"] == "ward-26734"
    assert ext["extended_attributes"]["attributes"]["tags"] == ["a"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "overrides, status, message",
    [
        ({"service_code": None}, 400, "service_code was not provided"),
        ({"service_code": "NOPE"}, 400, "service_code 'NOPE' not found"),
        ({"api_key": None}, 403, "api_key was not provided"),
        ({"api_key": "wrong"}, 403, "api_key is not valid"),
        ({"lat": None, "long": None}, 400, "a location is required: lat and long, address_string or address_id"),
        ({"lat": "91", "long": "106.7"}, 400, "lat must be between -90 and 90; got 91"),
        ({"lat": "10.7", "long": None}, 400, "lat and long must be given together"),
        ({"lat": "abc"}, 400, "lat and long must be decimal degrees (WGS84); got lat='abc', long='106.7009'"),
        ({"description": "x" * 4001}, 400, "description must be at most 4000 characters; got 4001"),
        ({"media_url": "file:///etc/passwd"}, 400, "media_url must be an absolute http(s) URL of at most 2048 characters; got 'file:///etc/passwd'"),
        ({"jurisdiction_id": "hanoi"}, 400, "jurisdiction_id 'hanoi' not served here; this endpoint serves 'hcmc.1022'"),
    ],
)
def test_create_request_errors(core, fmt, overrides, status, message):
    r = httpx.post(f"{core}{V2}/requests.{fmt}", data=form(**overrides))
    assert r.status_code == status
    assert errors_of(r, fmt) == [(status, message)]
    assert list_ids(core) == []  # nothing stored


def test_api_key_is_checked_before_the_rest(core):
    r = httpx.post(f"{core}{V2}/requests.json", data={"api_key": "wrong"})
    assert r.status_code == 403 and errors_of(r, "json") == [(403, "api_key is not valid")]


def test_several_problems_are_all_reported(core):
    r = httpx.post(f"{core}{V2}/requests.xml", data=form(service_code=None, lat=None, long=None, description="x" * 5000))
    assert r.status_code == 400
    assert [d for _, d in errors_of(r, "xml")] == [
        "service_code was not provided",
        "a location is required: lat and long, address_string or address_id",
        "description must be at most 4000 characters; got 5000",
    ]


def test_description_of_exactly_4000_chars_is_accepted(core):
    rid = create(core, description="đ" * 4000)
    assert get_one(core, rid)["description"] == "đ" * 4000


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_framework_errors_use_open311_format(core, fmt):
    r = httpx.get(f"{core}{V2}/requests.{fmt}", params={"extensions": "maybe"})  # FastAPI validation
    assert r.status_code == 400 and errors_of(r, fmt)[0][0] == 400
    assert "extensions" in errors_of(r, fmt)[0][1]
    r = httpx.delete(f"{core}{V2}/requests.{fmt}")
    assert r.status_code == 405 and errors_of(r, fmt)[0][0] == 405
    r = httpx.get(f"{core}{V2}/nothing-here.{fmt}")
    assert r.status_code == 404 and errors_of(r, fmt)[0][0] == 404


def test_unknown_format_extension(core):
    for path in ("/services.yaml", "/requests.csv", "/requests/1.html"):
        r = httpx.get(f"{core}{V2}{path}")
        assert r.status_code == 400
        assert "use .json or .xml" in errors_of(r, "json")[0][1]


# -- reading requests -------------------------------------------------------------------------------

def test_get_single_unknown_is_404(core):
    for fmt in ("json", "xml"):
        r = httpx.get(f"{core}{V2}/requests/424242.{fmt}")
        assert r.status_code == 404
        assert errors_of(r, fmt) == [(404, "service_request_id '424242' not found")]


def test_get_requests_filters(core, db_url):
    a = create(core, service_code="TN-NGAP")
    b = create(core, service_code="CX-CAYNGA")
    c = create(core, service_code="GT-OGA")
    assert review(core, b, "reject", reason="ảnh mờ").status_code == 200

    assert list_ids(core) == [c, b, a]  # newest first
    assert sorted(list_ids(core, service_request_id=f"{a}, {c}")) == sorted([a, c])
    assert list_ids(core, service_request_id="999") == []
    assert sorted(list_ids(core, service_code="TN-NGAP,GT-OGA")) == sorted([a, c])
    assert list_ids(core, status="closed") == [b]
    assert sorted(list_ids(core, status="open")) == sorted([a, c])
    assert sorted(list_ids(core, status="open,closed")) == sorted([a, b, c])
    # service_request_id overrides every other argument (spec).
    assert list_ids(core, service_request_id=b, status="open") == [b]

    now = datetime.now(CITY)
    iso = lambda dt: dt.isoformat(timespec="seconds")  # noqa: E731
    assert sorted(list_ids(core, start_date=iso(now - timedelta(hours=1)), end_date=iso(now + timedelta(hours=1)))) == sorted([a, b, c])
    assert list_ids(core, start_date=iso(now + timedelta(hours=1))) == []
    assert list_ids(core, end_date=iso(now - timedelta(hours=1))) == []
    # A '+' offset that was not URL-encoded arrives as a space and is still understood.
    raw = f"{core}{V2}/requests.json?start_date={iso(now - timedelta(hours=1))}"
    assert "+07:00" in raw and len(httpx.get(raw).json()) == 3

    bad = [
        ({"status": "pending"}, "status must be open and/or closed; got pending"),
        ({"start_date": "yesterday"}, "start_date must be an ISO 8601 (w3c) datetime"),
        ({"start_date": iso(now), "end_date": iso(now - timedelta(days=1))}, "start_date must not be after end_date"),
        ({"start_date": iso(now - timedelta(days=91)), "end_date": iso(now)}, "may not span more than 90 days"),
    ]
    for params, message in bad:
        for fmt in ("json", "xml"):
            r = httpx.get(f"{core}{V2}/requests.{fmt}", params=params)
            assert r.status_code == 400, params
            [(code, description)] = errors_of(r, fmt)
            assert code == 400 and message in description

    # The default window is the last 90 days; an old case is still reachable by id or by date.
    store = Store(db_url)
    with store.transaction() as s:
        row = s.scalars(select(ServiceRequest).where(ServiceRequest.service_request_id == a)).one()
        row.requested_at = datetime.now(timezone.utc) - timedelta(days=100)
    store.dispose()
    assert sorted(list_ids(core)) == sorted([b, c])
    assert list_ids(core, service_request_id=a) == [a]
    old = now - timedelta(days=100)
    assert list_ids(core, start_date=iso(old - timedelta(days=1)), end_date=iso(old + timedelta(days=1))) == [a]


def test_get_requests_xml_and_cap(core):
    ids = [create(core, description=f"#{i}") for i in range(3)]
    root = ET.fromstring(httpx.get(f"{core}{V2}/requests.xml").content)
    assert root.tag == "service_requests"
    assert [r.findtext("service_request_id") for r in root.findall("request")] == ids[::-1]
    assert root.find("request/status_notes") is not None


def test_find_by_watch_id_attribute_extension(core, db_url):
    x = create(core, **{"attribute[watch_id]": "cand-x"})
    create(core, **{"attribute[watch_id]": "cand-y"})
    assert list_ids(core, **{"attribute[watch_id]": "cand-x"}) == [x]
    assert list_ids(core, **{"attribute[watch_id]": "cand-zzz"}) == []
    # The bridge checks its id before re-sending, whatever the age of the case.
    store = Store(db_url)
    with store.transaction() as s:
        s.scalars(select(ServiceRequest).where(ServiceRequest.service_request_id == x)).one().requested_at -= timedelta(days=200)
    store.dispose()
    assert list_ids(core, **{"attribute[watch_id]": "cand-x"}) == [x]


# -- review queue ------------------------------------------------------------------------------------

def status_of(core: str, rid: str) -> tuple[str, str]:
    req = get_one(core, rid)
    return req["status"], req["status_notes"]


def test_review_transitions_are_visible_over_open311(core):
    new, acc, acc_note, rej, dup, res = (create(core) for _ in range(6))
    assert status_of(core, new) == ("open", "")

    r = review(core, acc, "accept")
    assert r.status_code == 200 and r.json()["review_state"] == "accepted"
    assert status_of(core, acc) == ("open", "Accepted: tiếp nhận")
    review(core, acc_note, "accept", note="chuyển Công ty Thoát nước")
    assert status_of(core, acc_note) == ("open", "Accepted: chuyển Công ty Thoát nước")

    assert review(core, rej, "reject", reason="phản chiếu mặt đường ướt").status_code == 200
    assert status_of(core, rej) == ("closed", "Rejected: phản chiếu mặt đường ướt")

    assert review(core, dup, "duplicate", duplicate_of=acc).status_code == 200
    assert status_of(core, dup) == ("closed", f"Duplicate of {acc}")

    review(core, res, "accept", operator="tdv-07")
    r = review(core, res, "resolve", note="đã bơm thoát nước", operator="tdv-07")
    assert r.status_code == 200
    assert status_of(core, res) == ("closed", "Resolved: đã bơm thoát nước")
    updated = parse_dt(get_one(core, res)["updated_datetime"])
    assert updated >= parse_dt(get_one(core, res)["requested_datetime"])

    # History of notes, in order.
    detail = httpx.get(f"{core}/review/requests/{res}").json()
    assert [(n["action"], n["from_state"], n["to_state"], n["note"], n["operator"]) for n in detail["notes"]] == [
        ("accept", "new", "accepted", "", "tdv-07"),
        ("resolve", "accepted", "resolved", "đã bơm thoát nước", "tdv-07"),
    ]
    # Re-open: a resolved case that was not really fixed can be accepted again.
    assert review(core, res, "accept", note="vẫn còn ngập").status_code == 200
    assert status_of(core, res) == ("open", "Accepted: vẫn còn ngập")
    # Resolve straight from new, without a note.
    assert review(core, new, "resolve").status_code == 200
    assert status_of(core, new) == ("closed", "Resolved: đã xử lý")

    assert sorted(list_ids(core, status="closed")) == sorted([rej, dup, new])


def test_review_refusals(core):
    a, b, c = create(core), create(core), create(core)
    review(core, a, "reject", reason="không phải sự cố")

    for action, fields in [("resolve", {"note": "x"}), ("accept", {}), ("reject", {"reason": "again"}), ("duplicate", {"duplicate_of": b})]:
        r = review(core, a, action, **fields)
        assert r.status_code == 409, action
        assert r.json()["detail"].startswith(f"cannot {action} request {a}: it is rejected")
    assert status_of(core, a) == ("closed", "Rejected: không phải sự cố")

    review(core, b, "accept")
    r = review(core, b, "accept")
    assert r.status_code == 409 and "it is accepted" in r.json()["detail"]

    r = review(core, c, "reject")
    assert r.status_code == 400 and r.json()["detail"] == "reason is required to reject a request"
    r = review(core, c, "duplicate", duplicate_of="99999")
    assert r.status_code == 400 and r.json()["detail"] == "duplicate_of 99999 does not exist"
    r = review(core, c, "duplicate", duplicate_of=c)
    assert r.status_code == 400 and r.json()["detail"] == "a request cannot be a duplicate of itself"
    r = review(core, c, "duplicate")
    assert r.status_code == 400 and "duplicate_of is required" in r.json()["detail"]
    # Chains stay one level deep.
    d = create(core)
    review(core, d, "duplicate", duplicate_of=b)
    r = review(core, c, "duplicate", duplicate_of=d)
    assert r.status_code == 409 and f"mark this one as a duplicate of {b}" in r.json()["detail"]
    assert status_of(core, c) == ("open", "")  # untouched by the refused actions

    assert review(core, "99999", "accept").status_code == 404
    assert review(core, c, "explode").status_code == 404
    assert httpx.get(f"{core}/review/requests/99999").status_code == 404
    assert len(httpx.get(f"{core}/review/requests/{c}").json()["notes"]) == 0


def test_review_accepts_json_bodies(core):
    rid = create(core)
    r = httpx.post(f"{core}/review/requests/{rid}/reject", json={"reason": "trùng camera"}, headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json()["status_notes"] == "Rejected: trùng camera"


def test_review_html_page_and_forms(core):
    rid = create(core, description="<script>alert(1)</script> ngập", media_url="http://127.0.0.1/e/f.jpg?a=1&b=2")
    page = httpx.get(f"{core}/review")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="http://127.0.0.1/e/f.jpg?a=1&amp;b=2"' in html and '<img src="http://127.0.0.1/e/f.jpg?a=1&amp;b=2"' in html
    for action in ("accept", "reject", "duplicate", "resolve"):
        assert f'action="review/requests/{rid}/{action}"' in html  # relative: works when mounted
    assert 'name="reason" required' in html and 'name="duplicate_of" required' in html
    assert ">Accept<" in html and ">Reject<" in html and ">Duplicate of<" in html and ">Resolve<" in html
    assert 'action="/' not in html and 'href="/' not in html

    # The browser's way: form post, 303 back to the page.
    r = httpx.post(f"{core}/review/requests/{rid}/reject", data={"reason": "mưa bám ống kính"})
    assert r.status_code == 303
    assert urljoin(str(r.url), r.headers["location"]) == f"{core}/review#r{rid}"
    assert status_of(core, rid) == ("closed", "Rejected: mưa bám ống kính")
    after = httpx.get(f"{core}/review").text
    assert "Rejected: mưa bám ống kính" in after and f'action="review/requests/{rid}/reject"' not in after

    # A refused form post shows an HTML error with the status code.
    r = httpx.post(f"{core}/review/requests/{rid}/resolve", data={"note": "x"})
    assert r.status_code == 409 and r.headers["content-type"].startswith("text/html") and "cannot resolve" in r.text

    assert f'id="r{rid}"' in httpx.get(f"{core}/review", params={"state": "closed"}).text
    assert f'id="r{rid}"' not in httpx.get(f"{core}/review", params={"state": "new"}).text


def test_health(core):
    assert httpx.get(f"{core}/health").json() == {"ok": True}


# -- token mode --------------------------------------------------------------------------------------

def test_token_mode(tmp_path):
    with LiveServer(create_app(f"sqlite:///{tmp_path}/t.db", [KEY], token_mode=True)) as srv:
        for fmt in ("json", "xml"):
            r = httpx.post(f"{srv.url}{V2}/requests.{fmt}", data=form())
            assert r.status_code == 201
            if fmt == "json":
                [answer] = r.json()
                assert set(answer) == {"token"}
                token = answer["token"]
            else:
                token = ET.fromstring(r.content).findtext("request/token")
            assert token
            r = httpx.get(f"{srv.url}{V2}/tokens/{token}.{fmt}")
            assert r.status_code == 200
            if fmt == "json":
                [found] = r.json()
                assert found["token"] == token
                rid = found["service_request_id"]
            else:
                rid = ET.fromstring(r.content).findtext("request/service_request_id")
            assert rid and get_one(srv.url, rid)["status"] == "open"
        r = httpx.get(f"{srv.url}{V2}/tokens/nope.json")
        assert r.status_code == 404 and errors_of(r, "json") == [(404, "token 'nope' not found")]


def test_token_mode_issues_the_id_later(tmp_path):
    app = create_app(f"sqlite:///{tmp_path}/t.db", [KEY], token_mode=True, token_delay_seconds=1.0)
    with LiveServer(app) as srv:
        token = httpx.post(f"{srv.url}{V2}/requests.json", data=form()).json()[0]["token"]
        assert httpx.get(f"{srv.url}{V2}/tokens/{token}.json").json() == [{"service_request_id": None, "token": token}]
        assert list_ids(srv.url) == []  # no id yet, nothing to list
        time.sleep(1.2)
        [found] = httpx.get(f"{srv.url}{V2}/tokens/{token}.json").json()
        assert found["service_request_id"] and list_ids(srv.url) == [found["service_request_id"]]


# -- mounted inside another app ---------------------------------------------------------------------

def test_mounted_under_core(tmp_path):
    parent = FastAPI()

    @parent.get("/")
    def home():
        return {"app": "console"}

    parent.mount("/core", create_app(f"sqlite:///{tmp_path}/m.db", [KEY]))
    with LiveServer(parent) as srv:
        base = f"{srv.url}/core"
        assert httpx.get(srv.url + "/").json() == {"app": "console"}
        assert httpx.get(f"{base}/health").json() == {"ok": True}
        assert len(httpx.get(f"{base}{V2}/services.json").json()) == 11
        rid = create(base)
        assert get_one(base, rid)["status"] == "open"
        r = httpx.get(f"{base}{V2}/requests/777.xml")
        assert r.status_code == 404 and errors_of(r, "xml")[0][0] == 404
        r = httpx.get(f"{base}{V2}/missing.json")
        assert r.status_code == 404 and errors_of(r, "json")[0][0] == 404

        # Follow the page's own relative form action, as a browser would.
        page_url = f"{base}/review"
        assert f'action="review/requests/{rid}/accept"' in httpx.get(page_url).text
        action_url = urljoin(page_url, f"review/requests/{rid}/accept")
        assert action_url == f"{base}/review/requests/{rid}/accept"
        r = httpx.post(action_url, data={"note": "ok"}, follow_redirects=True)
        assert r.status_code == 200 and str(r.url) == f"{page_url}#r{rid}"
        assert r.history[0].status_code == 303
        assert status_of(base, rid) == ("open", "Accepted: ok")


# -- the command-line entry --------------------------------------------------------------------------

def test_cli_runs_a_server(tmp_path):
    port = free_port()
    db = tmp_path / "sub" / "cli.db"  # parent directory is created on demand
    code = (
        "import sys; from core1022.cli import run; "
        f"run('127.0.0.1', {port}, 'k1,k2', {str('sqlite:///' + str(db))!r})"
    )
    log = tmp_path / "cli.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "cli server did not start"
            time.sleep(0.1)
        assert httpx.post(f"{base}{V2}/requests.json", data=form(api_key="k2")).status_code == 201
        assert httpx.post(f"{base}{V2}/requests.json", data=form(api_key="k3")).status_code == 403
        assert db.exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
