"""monitors/ at city scale: every fault of a feed contained (against a real loopback server that
misbehaves that way, with a healthy camera beside it keeping its rate), stream sources with
latest-frame semantics, reduced decoding, health and its quality class, the live registry through the
API (served on loopback) and the CLI, Prometheus metrics, and the SSRF policy."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from configs.schema import MonitorConf
from models.db import Database
from monitors.api import create_router
from monitors.health import CameraHealth
from monitors.netpolicy import UrlPolicy, UrlRefused
from monitors.registry import CameraRegistry
from monitors.runner import MonitorLoop
from monitors.sources import (CaptureStreamSource, MjpegSource, SourceError, decode_image, image_header,
                              open_source, reduce_factor)
from tests.live_server import LiveServer, free_port
from tests.test_monitors_servers import FaultServer, coded_frame, read_code
from tests.test_monitors import ROOT, camera_conf

LOOPBACK = UrlPolicy(["127.0.0.1"])


@pytest.fixture(scope="module")
def faults():
    with FaultServer() as srv:
        yield srv


def settings(**over) -> MonitorConf:
    base = dict(max_workers=4, probation_workers=2, jitter=0.1, start_spread=0, backoff_base_s=0.2,
                backoff_max_s=0.6, allow_networks=["127.0.0.1"], registry_poll_s=0.3, status_every_s=0.3)
    return MonitorConf(**{**base, **over})


def run_loop(cams, seconds: float, tmp_path, **kw) -> MonitorLoop:
    stop = threading.Event()
    loop = MonitorLoop(cams, lambda c: None, stop, evidence_store=tmp_path / "ev", project_root=ROOT,
                       settings=kw.pop("settings", None) or settings(), stop_when_idle=False, **kw)
    t = loop.start()
    time.sleep(seconds)
    loop.stop()
    t.join(timeout=15)
    assert not t.is_alive()
    return loop


# ---- faults ---------------------------------------------------------------------------------------
# (name, url builder, camera overrides, expected error kind, words in the reason)
FAULTS = [
    ("timeout", lambda s: s.url + "/slow.jpg", {}, "timeout", "timeout after 0.8 s"),
    ("refused", lambda s: f"http://127.0.0.1:{free_port()}/x.jpg", {}, "refused", "connection refused"),
    ("dns", lambda s: "http://camera.invalid/snap.jpg", {}, "dns", "cannot resolve"),
    ("http_500", lambda s: s.url + "/e500.jpg", {}, "http_5xx", "HTTP 500"),
    ("http_404", lambda s: s.url + "/e404.jpg", {}, "http_4xx", "HTTP 404"),
    ("redirect_loop", lambda s: s.url + "/loop", {}, "redirect_loop", "redirect loop"),
    ("content_type", lambda s: s.url + "/html", {}, "content_type", "content-type text/html"),
    ("truncated_jpeg", lambda s: s.url + "/truncated.jpg", {}, "bad_image", "truncated JPEG"),
    ("garbage_jpeg", lambda s: s.url + "/garbage.jpg", {}, "bad_image", "undecodable image"),
    ("bomb", lambda s: s.url + "/bomb.jpg", {}, "too_large", "refused before decoding"),
    ("oversized", lambda s: s.url + "/big.jpg", {"max_pixels": 1_000_000}, "too_large", "2000x1200"),
    ("trickle", lambda s: s.url + "/trickle.jpg", {}, "too_slow", "overall read deadline"),
    ("frozen_stream", lambda s: s.url + "/mjpeg-freeze", {"kind": "mjpeg"}, "frozen", "stream frozen"),
]


@pytest.mark.parametrize("name,url,over,kind,words", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_is_contained_and_healthy_camera_keeps_its_rate(faults, tmp_path, name, url, over, kind, words):
    healthy = camera_conf("cam-ok", kind="http_snapshot", url=faults.url + f"/good/{name}.jpg", interval_s=0.1,
                          timeout_s=2)
    bad = camera_conf("cam-bad", kind=over.pop("kind", "http_snapshot"), url=url(faults), interval_s=0.1,
                      timeout_s=0.8, **over)
    seconds = 2.5
    loop = run_loop([healthy, bad], seconds, tmp_path)
    h = loop.health()
    ok, failing = h["cam-ok"], h["cam-bad"]
    # the healthy camera kept its rate (0.1 s interval): nothing the faulty one did held it up
    assert ok["state"] == "ok" and ok["last_error"] is None, ok
    assert ok["frames"] >= 0.75 * seconds / 0.1, ok["frames"]
    # the faulty camera: a clear state, kind and reason, and backoff
    assert words in failing["last_error"], failing["last_error"]
    assert failing["quality"] in ("poor", "unusable")
    if kind == "frozen":  # a stream that freezes after 3 frames: flagged, reconnected, counted as stalls
        assert failing["stalls_1h"] >= 1 and failing["reconnects_1h"] >= 1, failing
        return
    assert failing["state"] == "failing" and failing["error_kind"] == kind, failing
    assert words in failing["reason"], failing["reason"]
    assert failing["consecutive_failures"] >= 1 and failing["backoff_s"] and failing["backoff_s"] >= 0.1
    if kind in ("http_4xx", "http_5xx", "content_type", "bad_image", "too_large", "redirect_loop"):
        # backoff: far fewer attempts than the 25 its interval would give
        assert failing["errors"] <= 8, failing["errors"]


def test_a_crowd_of_hanging_cameras_cannot_take_the_healthy_ones_workers(faults, tmp_path):
    """12 cameras whose server never answers in time beside 2 healthy ones, with 4 workers: after their
    first failed look the hanging ones wait in the (2-worker) probation pool, and the healthy ones keep
    their rate."""
    cams = [camera_conf(f"cam-hang-{i}", kind="http_snapshot", url=faults.url + "/slow.jpg", interval_s=0.1,
                        timeout_s=0.5) for i in range(12)]
    cams += [camera_conf(f"cam-fine-{i}", kind="http_snapshot", url=faults.url + f"/good/crowd{i}.jpg",
                         interval_s=0.1) for i in range(2)]
    stop = threading.Event()
    loop = MonitorLoop(cams, lambda c: None, stop, evidence_store=tmp_path / "ev", project_root=ROOT,
                       settings=settings(max_workers=4, probation_workers=2), stop_when_idle=False)
    t = loop.start()
    try:
        time.sleep(2.0)  # the first round: every hanging camera's first look times out once
        before = {i: loop.health()[f"cam-fine-{i}"]["frames"] for i in range(2)}
        time.sleep(2.5)
        h = loop.health()
    finally:
        loop.stop()
        t.join(timeout=15)
    for i in range(2):
        assert h[f"cam-fine-{i}"]["frames"] - before[i] >= 0.7 * 2.5 / 0.1, (before, h[f"cam-fine-{i}"])
    assert all(h[f"cam-hang-{i}"]["error_kind"] == "timeout" for i in range(12))


def test_bomb_is_refused_from_the_header_alone(faults):
    fmt, w, h = image_header(faults.bomb_jpeg)
    assert (fmt, w, h) == ("jpeg", 60000, 60000)
    with pytest.raises(SourceError) as e:
        decode_image(faults.bomb_jpeg, max_pixels=25_000_000)
    assert e.value.kind == "too_large" and "3600.0 MP" in e.value.reason


def test_frozen_snapshot_is_noticed(faults, tmp_path):
    cam = camera_conf("cam-static", kind="http_snapshot", url=faults.url + "/static.jpg", interval_s=0.05)
    h = run_loop([cam], 1.0, tmp_path).health()["cam-static"]
    assert h["state"] == "frozen" and "same image" in h["reason"] and h["stalls_1h"] >= 1


# ---- http snapshot: headers, auth, reduced decode --------------------------------------------------
def test_snapshot_referer_basic_and_bearer_auth(faults):
    ref = {"Referer": "http://giaothong.hochiminhcity.gov.vn/"}
    cases = [
        (dict(url=faults.url + "/good/referer.jpg", headers=ref), True),
        (dict(url=faults.url + "/good/referer.jpg"), False),
        (dict(url=faults.url + "/good/auth.jpg", auth={"type": "basic", "username": "user", "password": "s3cret"}), True),
        (dict(url=faults.url + "/good/auth.jpg", auth={"type": "bearer", "token": "t0ken"}), True),
        (dict(url=faults.url + "/good/auth.jpg", auth={"type": "bearer", "token": "wrong"}), False),
    ]
    for over, good in cases:
        src = open_source(camera_conf("cam-h", kind="http_snapshot", **over), ROOT)
        try:
            if good:
                f = src.read()
                assert f.image.shape[:2] == (240, 320) and f.nbytes > 0 and f.latency_s > 0
            else:
                with pytest.raises(SourceError, match="HTTP 40[13]"):
                    src.read()
        finally:
            src.close()


def test_reduced_decode_picks_smallest_scale_the_analyzers_need():
    big = cv2.imencode(".jpg", np.full((720, 1280, 3), 100, np.uint8))[1].tobytes()
    assert [reduce_factor(1280, w) for w in (1280, 640, 400, 320, 160, 100)] == [1, 2, 2, 4, 8, 8]
    img, full = decode_image(big, analysis_width=320)
    assert full == (1280, 720) and img.shape[:2] == (180, 320)
    img, _ = decode_image(big, analysis_width=None)
    assert img.shape[:2] == (720, 1280)


# ---- streams: MJPEG, RTSP-like capture, live video file ----------------------------------------------
def test_mjpeg_reads_the_newest_frame_not_the_next(faults):
    src = MjpegSource(faults.url + "/mjpeg", timeout_s=3)
    try:
        first = read_code(src.read().image)
        time.sleep(0.6)  # ~15 frames arrive meanwhile at 25 fps
        newest_sent = faults.stream_seq
        second = read_code(src.read().image)
        assert second > first + 5, (first, second)
        assert second >= newest_sent - 2, (second, newest_sent)  # the newest, not a queued old one
    finally:
        src.close()


def test_mjpeg_bad_content_type_and_refused_policy(faults):
    src = MjpegSource(faults.url + "/html", timeout_s=2)
    with pytest.raises(SourceError) as e:
        src.read()
    src.close()
    assert e.value.kind == "content_type"
    with pytest.raises(SourceError, match="loopback"):
        MjpegSource(faults.url + "/mjpeg", timeout_s=2, policy=UrlPolicy())


def write_clip(path: Path, n: int = 60, fps: int = 20) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 240))
    for i in range(n):
        w.write(cv2.imdecode(np.frombuffer(coded_frame(i), np.uint8), cv2.IMREAD_COLOR))
    w.release()


def test_live_video_file_plays_at_its_speed_with_latest_frame(tmp_path):
    write_clip(tmp_path / "clip.avi", n=100, fps=20)
    cam = camera_conf("cam-file", kind="video_file", url=str(tmp_path / "clip.avi"), live=True, timeout_s=3)
    src = open_source(cam, ROOT)
    try:
        a = read_code(src.read().image)
        time.sleep(1.0)  # 20 frames go by
        b = read_code(src.read().image)
        assert 12 <= b - a <= 30, (a, b)
    finally:
        src.close()


def test_rtsp_source_against_ffmpeg_stream(tmp_path):
    """A real RTSP session: OpenCV's FFmpeg backend listens (rtsp_flags=listen) and Debian's ffmpeg
    publishes a test pattern to it over loopback."""
    import os
    import shutil
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed (scripts/setup.sh --test-tools)")
    port = free_port()
    url = f"rtsp://127.0.0.1:{port}/cam"
    os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = "rtsp_flags;listen|listen_timeout;10"
    try:
        src = CaptureStreamSource(url, open_timeout_s=10, read_timeout_s=3)
        time.sleep(0.5)
        ff = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                               "testsrc=size=320x240:rate=10", "-t", "20", "-c:v", "mpeg4", "-f", "rtsp",
                               "-rtsp_transport", "tcp", url], stdin=subprocess.DEVNULL)
        try:
            f1 = src.read()
            assert f1.image.shape == (240, 320, 3)
            f2 = src.read()
            assert f2.captured_at > f1.captured_at and f2.ref != f1.ref
            ff.kill()  # the stream stops: the source reports a stall and marks itself broken
            with pytest.raises(SourceError) as e:
                for _ in range(3):
                    src.read()
            assert e.value.kind in ("frozen", "closed")
            deadline = time.monotonic() + 8
            while not src.broken and time.monotonic() < deadline:
                time.sleep(0.1)
            assert src.broken  # the monitor will reopen it (a reconnect)
        finally:
            ff.kill()
            ff.wait()
            src.close()
    finally:
        os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)


def test_rtsp_unreachable_is_a_clear_reason():
    src = CaptureStreamSource(f"rtsp://127.0.0.1:{free_port()}/cam", open_timeout_s=2, read_timeout_s=2)
    with pytest.raises(SourceError) as e:
        src.read()
    src.close()
    assert e.value.kind == "refused" and "cannot open stream" in e.value.reason


# ---- health ---------------------------------------------------------------------------------------
def test_quality_classes():
    t = [1000.0]
    def make():
        return CameraHealth("c", 10.0, clock=lambda: t[0])
    h = make()
    assert h.quality() == "unknown"
    for _ in range(60):  # 10 minutes at the expected rate
        h.frame()
        t[0] += 10
    assert h.quality() == "excellent" and h.snapshot()["frames_per_min"] == 6
    h.reconnect()
    assert h.quality() == "fair"
    for _ in range(5):
        h.error("timeout after 10 s", "timeout")
        t[0] += 10
    h.frame()
    assert h.quality() == "poor" and h.snapshot()["stalls_1h"] == 5
    for _ in range(3):
        h.error("HTTP 503", "http_5xx")
    assert h.quality() == "unusable"
    h2 = make()
    h2.frame()
    t[0] += 200  # nothing for 200 s at a 10 s interval
    assert h2.quality() == "unusable"


# ---- SSRF -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("url,why", [
    ("http://127.0.0.1:8022/x.jpg", "loopback"),
    ("http://localhost/x.jpg", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://10.1.2.3/snap.jpg", "private"),
    ("http://192.168.1.10/snap.jpg", "private"),
    ("http://[::1]/snap.jpg", "loopback"),
    ("http://[::ffff:127.0.0.1]/snap.jpg", "loopback"),
    ("http://100.64.0.1/snap.jpg", "reserved / not global"),
])
def test_policy_refuses_internal_addresses(url, why):
    with pytest.raises(UrlRefused) as e:
        UrlPolicy().check(url)
    assert why in e.value.reason
    UrlPolicy(["127.0.0.0/8", "10.0.0.0/8", "192.168.0.0/16", "::1", "169.254.0.0/16", "100.64.0.0/10"]).check(url)


def test_loop_refuses_a_loopback_camera_that_is_not_allow_listed(faults, tmp_path):
    cam = camera_conf("cam-lo", kind="http_snapshot", url=faults.url + "/good/lo.jpg", interval_s=0.1)
    before = faults.hits.get("/good/lo.jpg", 0)
    h = run_loop([cam], 0.5, tmp_path, settings=settings(allow_networks=[])).health()["cam-lo"]
    assert h["state"] == "failing" and h["error_kind"] == "policy" and "loopback" in h["reason"]
    assert faults.hits.get("/good/lo.jpg", 0) == before  # not a single request reached the server


def test_redirect_to_a_forbidden_address_is_refused(tmp_path):
    # a public-looking first hop is simulated by allow-listing only the redirecting server's port's host
    # alias 127.0.0.2; its redirect to 127.0.0.1 must be checked again and refused.
    app = FastAPI()

    @app.get("/r.jpg")
    async def r():
        from fastapi.responses import RedirectResponse
        return RedirectResponse("http://127.0.0.1:9/secret")

    with LiveServer(app, host="127.0.0.2") as srv:
        cam = camera_conf("cam-r", kind="http_snapshot", url=srv.url + "/r.jpg", interval_s=0.1)
        h = run_loop([cam], 0.5, tmp_path, settings=settings(allow_networks=["127.0.0.2"])).health()["cam-r"]
    assert h["error_kind"] == "policy" and "127.0.0.1" in h["reason"]


# ---- live registry: API, metrics, CLI ----------------------------------------------------------------
@pytest.fixture
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'w.db'}")
    d.migrate()
    yield d
    d.dispose()


def camera_json(cam_id: str, url: str, **over) -> dict:
    return json.loads(camera_conf(cam_id, kind="http_snapshot", url=url, interval_s=0.1, **over).model_dump_json())


def test_api_add_test_list_remove_live_with_metrics(faults, db, tmp_path):
    registry = CameraRegistry(db)
    st = settings()
    stop = threading.Event()
    loop = MonitorLoop((), lambda c: None, stop, evidence_store=tmp_path / "ev", project_root=ROOT, settings=st,
                       registry=registry, stop_when_idle=False, worker_id="w1")
    t = loop.start()
    app = FastAPI()
    app.include_router(create_router(registry, settings=st, api_keys=["k-integrator"]))
    try:
        with LiveServer(app) as srv:
            # changes and test fetches need a key; reads do not
            anon = httpx.Client(base_url=srv.url, timeout=20)
            assert anon.post("/api/cameras", json=camera_json("cam-z", faults.url + "/good/z.jpg")).status_code == 401
            assert anon.post("/api/cameras/test", json={"url": faults.url + "/good/z.jpg"}).status_code == 401
            assert anon.post("/api/cameras/test", json={"url": faults.url + "/good/z.jpg"},
                             headers={"X-API-Key": "wrong"}).status_code == 401
            assert anon.get("/api/cameras").json() == [] and "/good/z.jpg" not in faults.hits
            api = httpx.Client(base_url=srv.url, timeout=20, headers={"X-API-Key": "k-integrator"})
            # test a feed before adding it: resolution, size, latency
            r = api.post("/api/cameras/test", json={"url": faults.url + "/good/api.jpg"}).json()
            assert r["ok"] and (r["width"], r["height"]) == (320, 240) and r["bytes"] > 1000 and r["latency_ms"] > 0
            r = api.post("/api/cameras/test", json={"url": faults.url + "/e404.jpg"}).json()
            assert not r["ok"] and "HTTP 404" in r["error"]
            # add two cameras live (one with a secret), the monitor picks them up without a restart
            assert api.post("/api/cameras", json=camera_json("cam-a", faults.url + "/good/a.jpg")).status_code == 201
            body = camera_json("cam-b", faults.url + "/e500.jpg", auth={"type": "bearer", "token": "t0ken"})
            assert api.post("/api/cameras", json=body).status_code == 201
            assert api.post("/api/cameras", json=body).status_code == 409
            bad = camera_json("cam-c", faults.url + "/x.jpg")
            bad["zones"][0]["polygon"] = [[0, 0], [2, 0], [1, 1]]
            r = api.post("/api/cameras", json=bad)
            assert r.status_code == 422 and "outside 0..1" in r.json()["detail"]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                rows = {c["id"]: c for c in api.get("/api/cameras").json()}
                if rows["cam-a"]["health"].get("frames", 0) >= 3 and rows["cam-b"]["health"].get("errors", 0) >= 1:
                    break
                time.sleep(0.1)
            assert rows["cam-a"]["health"]["state"] == "ok" and rows["cam-a"]["health"]["quality"] != "unknown"
            assert rows["cam-b"]["health"]["state"] == "failing" and "HTTP 500" in rows["cam-b"]["health"]["last_error"]
            assert rows["cam-b"]["auth"]["token"] == "***"
            assert api.post("/api/cameras/cam-a/test").json()["ok"]
            # Prometheus text
            m = api.get("/metrics")
            assert m.headers["content-type"].startswith("text/plain")
            text = m.text
            assert 'watch1022_camera_up{camera="cam-a",kind="http_snapshot"} 1' in text
            assert 'watch1022_camera_up{camera="cam-b",kind="http_snapshot"} 0' in text
            assert "# TYPE watch1022_camera_frames_total counter" in text
            assert 'watch1022_camera_quality{camera="cam-b",quality="unusable"}' in text
            # remove live: the monitor stops it
            assert anon.delete("/api/cameras/cam-a").status_code == 401
            assert api.delete("/api/cameras/cam-a").status_code == 204
            assert api.delete("/api/cameras/cam-a").status_code == 404
            deadline = time.monotonic() + 5
            while "cam-a" in loop.monitors and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "cam-a" not in loop.monitors
            hits = faults.hits.get("/good/a.jpg", 0)
            time.sleep(0.5)
            assert faults.hits.get("/good/a.jpg", 0) <= hits + 1
    finally:
        loop.stop()
        t.join(timeout=15)


def test_api_refuses_loopback_url_not_allow_listed(db):
    app = FastAPI()
    app.include_router(create_router(CameraRegistry(db), settings=MonitorConf(), api_keys=["k"]))  # nothing allow-listed
    with LiveServer(app) as srv:
        key = {"X-API-Key": "k"}
        r = httpx.post(srv.url + "/api/cameras", json=camera_json("cam-x", "http://127.0.0.1:8080/snap.jpg"), headers=key)
        assert r.status_code == 400 and "loopback" in r.json()["detail"]
        r = httpx.post(srv.url + "/api/cameras/test", json={"url": "http://169.254.169.254/latest/meta-data"},
                       headers=key)
        assert r.json()["ok"] is False and r.json()["error_kind"] == "policy"
        assert httpx.get(srv.url + "/api/cameras").json() == []


def test_api_without_configured_keys_refuses_changes_and_says_how_to_allow_them(db):
    app = FastAPI()
    app.include_router(create_router(CameraRegistry(db), settings=MonitorConf()))
    with LiveServer(app) as srv:
        r = httpx.post(srv.url + "/api/cameras", json=camera_json("cam-x", "http://camera.example/snap.jpg"),
                       headers={"X-API-Key": "anything"})
        assert r.status_code == 403 and "$WATCH1022_CAMERA_API_KEYS" in r.json()["detail"]
        assert httpx.delete(srv.url + "/api/cameras/cam-x").status_code == 403
        assert httpx.get(srv.url + "/api/cameras").status_code == 200


def test_cameras_yaml_seeds_once_and_a_removed_camera_stays_removed(db):
    registry = CameraRegistry(db)
    a, b = camera_conf("cam-yaml-a"), camera_conf("cam-yaml-b")
    assert registry.seed([a, b]) == ["cam-yaml-a", "cam-yaml-b"]
    assert registry.seed([a, b]) == []
    assert registry.remove("cam-yaml-a")
    c = camera_conf("cam-yaml-c")
    assert registry.seed([a, b, c]) == ["cam-yaml-c"]  # a new camera in the file is taken, the removed one is not
    assert [x.id for x in registry.list_cameras()] == ["cam-yaml-b", "cam-yaml-c"]


def write_config(tmp_path: Path, allow: list[str], db_url: str, **bus) -> Path:
    import shutil
    import yaml
    d = tmp_path / "conf"
    d.mkdir(parents=True, exist_ok=True)
    for name in ("categories.yaml", "social.yaml"):
        shutil.copy(ROOT / "configs" / name, d / name)
    (d / "cameras.yaml").write_text(yaml.safe_dump({"monitor": {"allow_networks": allow, "registry_poll_s": 0.3,
                                                                 "status_every_s": 0.3, "start_spread": 0,
                                                                 "backoff_base_s": 0.3, "backoff_max_s": 1,
                                                                 "assignment_partitions": 6},
                                                     "cameras": []}))
    bridge = {"database_url": db_url, "evidence_dir": str(tmp_path / "ev")}
    if bus:
        bridge["bus"] = bus
    (d / "bridge.yaml").write_text(yaml.safe_dump(bridge))
    return d


def cli(*args, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "watch1022", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_cli_add_test_list_remove_with_a_running_monitor(faults, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    conf = write_config(tmp_path, ["127.0.0.1"], db_url)
    common = ["--config", str(conf)]
    # before any monitor ran, the file's cameras are listed, not yet watched
    yaml_cam = camera_json("cam-from-yaml", faults.url + "/good/yaml.jpg")
    yaml_cam["interval_s"] = 0.3
    import yaml
    conf_file = conf / "cameras.yaml"
    conf_file.write_text(yaml.safe_dump({**yaml.safe_load(conf_file.read_text()), "cameras": [yaml_cam]}))
    table = cli("cameras", "list", *common).stdout
    assert "cam-from-yaml" in table and "unwatched" in table and "1 camera(s)" in table
    p = cli("cameras", "remove", "cam-from-yaml", *common)
    assert "will not add it again" in p.stdout
    assert "0 camera(s)" in cli("cameras", "list", *common).stdout
    p = cli("cameras", "test", "--url", faults.url + "/good/cli.jpg", *common)
    assert "ok: 320x240" in p.stdout and " ms" in p.stdout
    p = cli("cameras", "test", "--url", "http://camera.invalid/x.jpg", *common, check=False)
    assert p.returncode == 1 and "DNS failure" in p.stdout
    mon = subprocess.Popen([sys.executable, "-m", "watch1022", "monitor", *common], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cli("cameras", "add", "--id", "cam-cli", "--url", faults.url + "/good/cli-a.jpg", "--lat", "10.78",
            "--lon", "106.70", "--interval", "0.2", "--header", "Referer: http://giaothong.hochiminhcity.gov.vn/",
            "--test", *common)
        cli("cameras", "add", "--id", "cam-dead", "--url", faults.url + "/e404.jpg", "--lat", "10.78",
            "--lon", "106.70", "--interval", "0.2", *common)
        deadline = time.monotonic() + 30
        rows = {}
        while time.monotonic() < deadline:
            rows = {c["id"]: c for c in json.loads(cli("cameras", "list", "--json", *common).stdout)}
            h = rows.get("cam-cli", {}).get("health") or {}
            if h.get("frames", 0) >= 3 and (rows.get("cam-dead", {}).get("health") or {}).get("errors", 0) >= 1:
                break
            time.sleep(0.3)
        assert rows["cam-cli"]["health"]["state"] == "ok", rows
        assert rows["cam-dead"]["health"]["state"] == "failing" and "HTTP 404" in rows["cam-dead"]["health"]["reason"]
        table = cli("cameras", "list", *common).stdout
        assert "cam-cli" in table and "cam-dead" in table and "HTTP 404" in table and "QUALITY" in table
        cli("cameras", "remove", "cam-cli", *common)
        time.sleep(1.0)
        hits = faults.hits.get("/good/cli-a.jpg", 0)
        time.sleep(1.0)
        assert faults.hits.get("/good/cli-a.jpg", 0) <= hits + 1  # the running monitor stopped it
        assert mon.poll() is None
    finally:
        mon.terminate()
        mon.wait(timeout=20)
    # refused without the allow-list
    conf2 = write_config(tmp_path / "strict", [], f"sqlite:///{tmp_path / 'w2.db'}")
    p = cli("cameras", "add", "--id", "cam-lo", "--url", faults.url + "/good/x.jpg", "--lat", "10.78", "--lon",
            "106.70", "--config", str(conf2), check=False)
    assert p.returncode == 1 and "loopback" in p.stderr


# ---- the benchmark still runs and keeps its contract -------------------------------------------------
def test_monitor_benchmark_runs_small_and_ends_with_its_json_line():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "monitors.py"), "--cameras", "20", "--interval", "0.5",
                          "--duration", "3", "--warmup", "1", "--workers", "2"],
                         capture_output=True, text=True, timeout=180, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert set(result) == {"cameras", "frames_per_s", "p95_frame_age_s", "rss_mb", "decode_only_frames_per_s"}
    assert result["cameras"] == 20
    assert 10 <= result["frames_per_s"] <= 60  # 20 cameras every 0.5 s: about 40 looks a second
    assert 0 < result["p95_frame_age_s"] < 5 and result["rss_mb"] > 50 and result["decode_only_frames_per_s"] > 0


def test_malloc_arenas_are_capped_on_glibc():
    from monitors.runner import cap_malloc_arenas
    import platform
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert cap_malloc_arenas(2) is True
