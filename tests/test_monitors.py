"""monitors/: frame sources (folder, video file, HTTP snapshot on a real loopback server), the
camera monitor over the shipped samples, and the loop keeping healthy cameras running."""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi import FastAPI, Request, Response

from configs.schema import CameraConf
from models.candidate import Candidate, candidate_id
from monitors.netpolicy import UrlPolicy
from monitors.runner import CameraMonitor, MonitorLoop
from monitors.sources import (SOURCE_KINDS, HttpSnapshotSource, ImageFolderSource, SourceError, VideoFileSource,
                              open_source)
from tests.live_server import LiveServer
from vision.evidence import EvidenceStore

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "cameras"
CAM_A, CAM_B = "cam-nguyen-huu-canh", "cam-dien-bien-phu"


def jpeg(color=(40, 90, 160), size=(48, 64)) -> bytes:
    img = np.zeros((*size, 3), np.uint8)
    img[:] = color
    return cv2.imencode(".jpg", img)[1].tobytes()


def camera_conf(cam_id: str, kind: str = "image_folder", url: str | None = None, **over) -> CameraConf:
    sample = cam_id if cam_id in (CAM_A, CAM_B) else CAM_A  # other cameras borrow camera A's zone
    zone = json.loads((SAMPLES / sample / "labels.json").read_text(encoding="utf-8"))["zone"]
    data = {
        "id": cam_id, "name": f"Camera {cam_id}", "kind": kind,
        "url": url if url is not None else f"samples/cameras/{cam_id}",
        "interval_s": 15, "timeout_s": 2,
        "location": {"lat": 10.7906, "lon": 106.7189, "ward": "Thạnh Mỹ Tây", "street": "Nguyễn Hữu Cảnh"},
        "zones": [{"name": "mặt đường", "polygon": zone,
                   "analyzers": {"flooding": {"threshold": 0.5, "confirm_k": 3, "confirm_n": 5}}}],
    }
    data.update(over)
    return CameraConf.model_validate(data)


# ---- image_folder -----------------------------------------------------------------------------------
def test_image_folder_reads_sorted_images_then_ends(tmp_path):
    for name, color in (("b.jpg", (0, 0, 200)), ("a.png", (200, 0, 0)), ("c.jpeg", (0, 200, 0))):
        data = jpeg(color) if name.endswith(("jpg", "jpeg")) else cv2.imencode(".png", np.full((48, 64, 3), color, np.uint8))[1].tobytes()
        (tmp_path / name).write_bytes(data)
    (tmp_path / "notes.txt").write_text("not a frame")
    src = ImageFolderSource(tmp_path)
    frames = [src.read() for _ in range(3)]
    assert [f.ref for f in frames] == ["a.png", "b.jpg", "c.jpeg"]
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image[0, 0, 0] > 150  # a.png is blue
    assert all(f.captured_at.utcoffset() == timedelta(hours=7) for f in frames)
    assert src.read() is None and src.read() is None


def test_image_folder_loops_with_unique_refs(tmp_path):
    for i in range(2):
        (tmp_path / f"f{i}.jpg").write_bytes(jpeg())
    src = ImageFolderSource(tmp_path, loop=True)
    refs = [src.read().ref for _ in range(5)]
    assert refs == ["f0.jpg", "f1.jpg", "f0.jpg@pass1", "f1.jpg@pass1", "f0.jpg@pass2"]
    assert len(set(refs)) == 5


def test_image_folder_errors_have_reasons(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        ImageFolderSource(tmp_path / "nope")
    with pytest.raises(SourceError, match="no images"):
        ImageFolderSource(tmp_path)
    (tmp_path / "0-broken.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "1-good.jpg").write_bytes(jpeg())
    src = ImageFolderSource(tmp_path)
    with pytest.raises(SourceError, match="0-broken.jpg is not a decodable image") as e:
        src.read()
    assert "0-broken.jpg" in e.value.reason
    assert src.read().ref == "1-good.jpg"  # a bad file does not block the folder


# ---- video_file -----------------------------------------------------------------------------------------
def write_video(path: Path, n: int = 5) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((48, 64, 3), 30 + 40 * i, np.uint8))
    writer.release()


def test_video_file_reads_frames_in_order_then_ends(tmp_path):
    write_video(tmp_path / "clip.avi", 5)
    src = VideoFileSource(tmp_path / "clip.avi")
    frames = [src.read() for _ in range(5)]
    means = [f.image.mean() for f in frames]
    assert means == sorted(means) and abs(means[0] - 30) < 5 and abs(means[-1] - 190) < 5
    assert [f.ref for f in frames] == [f"clip.avi#{i:06d}" for i in range(5)]
    assert src.read() is None
    src.close()


def test_video_file_loops_and_reports_missing(tmp_path):
    write_video(tmp_path / "clip.avi", 3)
    src = VideoFileSource(tmp_path / "clip.avi", loop=True)
    frames = [src.read() for _ in range(7)]
    assert [f.ref for f in frames][2:5] == ["clip.avi#000002", "clip.avi#000000@pass1", "clip.avi#000001@pass1"]
    assert abs(frames[3].image.mean() - frames[0].image.mean()) < 3
    src.close()
    with pytest.raises(SourceError, match="does not exist"):
        VideoFileSource(tmp_path / "missing.avi")
    (tmp_path / "junk.avi").write_bytes(b"\x00" * 2000)
    with pytest.raises(SourceError):
        VideoFileSource(tmp_path / "junk.avi").read()


# ---- http_snapshot -----------------------------------------------------------------------------------------
def snapshot_app(seen: list[dict]) -> FastAPI:
    app = FastAPI()
    good = jpeg((30, 140, 200))

    @app.get("/snap.jpg")
    async def snap(request: Request):
        seen.append(dict(request.headers))
        if request.headers.get("referer") != "http://giaothong.hochiminhcity.gov.vn/":
            return Response("missing referer", status_code=403, media_type="text/plain")
        return Response(good, media_type="image/jpeg")

    @app.get("/html")
    async def html():
        return Response("<html>login</html>", media_type="text/html")

    @app.get("/garbage.jpg")
    async def garbage():
        return Response(b"\xff\xd8 definitely not a jpeg" * 10, media_type="image/jpeg")

    @app.get("/big.jpg")
    async def big():
        return Response(b"\xff" * 50_000, media_type="image/jpeg")

    @app.get("/slow.jpg")
    async def slow():
        await asyncio.sleep(2)
        return Response(good, media_type="image/jpeg")

    return app


@pytest.fixture(scope="module")
def snapshot_server():
    seen: list[dict] = []
    with LiveServer(snapshot_app(seen)) as srv:
        srv.seen = seen
        yield srv


REFERER = {"Referer": "http://giaothong.hochiminhcity.gov.vn/"}


def test_http_snapshot_sends_referer_and_decodes(snapshot_server):
    cam = camera_conf("cam-http", kind="http_snapshot", url=snapshot_server.url + "/snap.jpg", headers=REFERER)
    src = open_source(cam, ROOT)
    assert isinstance(src, HttpSnapshotSource)
    f1, f2 = src.read(), src.read()
    src.close()
    assert f1.image.shape == (48, 64, 3)
    assert abs(int(f1.image[0, 0, 2]) - 200) < 10
    assert f1.ref != f2.ref and f1.captured_at.utcoffset() == timedelta(hours=7)
    assert snapshot_server.seen[-1]["referer"] == REFERER["Referer"]


@pytest.mark.parametrize("path,headers,reason", [
    ("/snap.jpg", {}, "HTTP 403"),  # the camera server refuses requests without its Referer
    ("/missing.jpg", REFERER, "HTTP 404 Not Found"),
    ("/html", {}, "not an image: content-type text/html"),
    ("/garbage.jpg", {}, "undecodable image"),
])
def test_http_snapshot_errors_have_clear_reasons(snapshot_server, path, headers, reason):
    src = HttpSnapshotSource(snapshot_server.url + path, headers=headers, timeout_s=5)
    with pytest.raises(SourceError) as e:
        src.read()
    src.close()
    assert reason in e.value.reason and snapshot_server.url in e.value.reason


def test_http_snapshot_caps_size_and_times_out(snapshot_server):
    with pytest.raises(SourceError, match="too large"):
        HttpSnapshotSource(snapshot_server.url + "/big.jpg", max_bytes=10_000).read()
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="timeout after 0.3 s"):
        HttpSnapshotSource(snapshot_server.url + "/slow.jpg", timeout_s=0.3).read()
    assert time.monotonic() - t0 < 1.8


def test_http_snapshot_unreachable_and_bad_url():
    from tests.live_server import free_port
    with pytest.raises(SourceError, match="cannot connect"):
        HttpSnapshotSource(f"http://127.0.0.1:{free_port()}/x.jpg", timeout_s=1).read()
    with pytest.raises(SourceError, match="http"):
        HttpSnapshotSource("ftp://example/x.jpg")


def test_registry_and_unknown_kind():
    assert set(SOURCE_KINDS) >= {"image_folder", "video_file", "http_snapshot", "mjpeg", "rtsp"}
    with pytest.raises(SourceError, match="unknown camera kind 'carrier_pigeon'"):
        open_source(camera_conf("cam-x", kind="carrier_pigeon"), ROOT)
    src = open_source(camera_conf(CAM_B), ROOT)  # relative paths resolve against the project root
    assert isinstance(src, ImageFolderSource) and src.read().ref == "frame_000.jpg"


# ---- CameraMonitor over the samples ---------------------------------------------------------------
def run_to_end(mon: CameraMonitor, limit: int = 100):
    results = []
    for _ in range(limit):
        r = mon.step()
        if r.status == "ended":
            return results
        assert r.status == "ok", r.error
        results.append(r)
    raise AssertionError("source did not end")


def test_camera_a_raises_one_flooding_candidate_per_episode(tmp_path):
    cam = camera_conf(CAM_A)
    store = EvidenceStore(tmp_path / "evidence")
    published: list[Candidate] = []
    mon = CameraMonitor(cam, open_source(cam, ROOT), None, published.append, evidence_store=store)
    results = run_to_end(mon)
    assert len(results) == 16
    transitions = [(r.frame_ref, t) for r in results for t in r.transitions]
    assert transitions == [("frame_007.jpg", ("mặt đường/flooding", "started")),
                           ("frame_015.jpg", ("mặt đường/flooding", "ended"))]
    assert len(published) == 1
    c = published[0]
    assert Candidate.model_validate_json(c.to_json()) == c  # survives the bus
    assert c.source == "camera" and c.category == "flooding"
    assert c.source_ref == f"{CAM_A}/mặt đường/flooding/frame_007.jpg"
    assert c.id == candidate_id("camera", c.source_ref)
    assert c.observed_at.utcoffset() == timedelta(hours=7)
    assert 0.5 <= c.confidence <= 1
    assert c.location.precision == "exact" and c.location.street == "Nguyễn Hữu Cảnh"
    assert "ngập" in c.summary and cam.name in c.summary
    assert c.detector.name == "flooding" and c.detector.backend == "classical" and c.detector.threshold == 0.5
    assert c.attributes["water_share"] > 0.5 and c.attributes["camera_id"] == CAM_A
    ev = c.evidence[0]
    assert ev.score >= 0.5 and "water_share" in ev.mask_summary
    data = store.get(ev.uri)
    assert hashlib.sha256(data).hexdigest() == ev.sha256 and data[:2] == b"\xff\xd8"
    raw = store.get(c.attributes["raw_frame_uri"])  # the frame without drawings, for training
    assert raw[:2] == b"\xff\xd8" and raw != data
    h = mon.health()
    assert h["state"] == "ended" and h["frames"] == 16 and h["candidates"] == 1 and h["active"] == []


def test_camera_a_replay_yields_the_same_candidate_id(tmp_path):
    ids = []
    for _ in range(2):
        cam = camera_conf(CAM_A)
        got: list[Candidate] = []
        run_to_end(CameraMonitor(cam, open_source(cam, ROOT), None, got.append, evidence_store=EvidenceStore(tmp_path)))
        ids.append([c.id for c in got])
    assert ids[0] == ids[1] and len(ids[0]) == 1


def test_camera_b_rain_raises_nothing(tmp_path):
    cam = camera_conf(CAM_B)
    published: list[Candidate] = []
    mon = CameraMonitor(cam, open_source(cam, ROOT), None, published.append, evidence_store=EvidenceStore(tmp_path))
    results = run_to_end(mon)
    assert len(results) == 16 and published == []
    assert max(o.score for r in results for o in r.observations) < 0.5
    assert not list(tmp_path.rglob("*.jpg"))


def test_failed_publish_is_retried_on_the_next_step(tmp_path):
    cam = camera_conf(CAM_A)
    calls: list[str] = []

    def flaky(c: Candidate):
        calls.append(c.id)
        if len(calls) == 1:
            raise ConnectionError("bus down")

    mon = CameraMonitor(cam, open_source(cam, ROOT), None, flaky, evidence_store=EvidenceStore(tmp_path))
    for _ in range(8):  # up to frame_007: the episode starts, publishing fails
        mon.step()
    assert len(calls) == 1 and mon.health()["unpublished"] == 1 and "bus down" in mon.health()["last_error"]
    mon.step()
    assert calls == [calls[0], calls[0]] and mon.health()["unpublished"] == 0


def test_camera_outside_the_city_is_rejected_without_crashing(tmp_path):
    cam = camera_conf(CAM_A, location={"lat": 21.03, "lon": 105.85})  # Hà Nội
    published: list[Candidate] = []
    mon = CameraMonitor(cam, open_source(cam, ROOT), None, published.append, evidence_store=EvidenceStore(tmp_path))
    run_to_end(mon)
    assert published == [] and "outside Ho Chi Minh City" in mon.health()["last_error"]


def test_unknown_analyzer_is_reported_not_fatal(tmp_path):
    cam = camera_conf(CAM_B)
    cam.zones[0].analyzers["pothole_subsidence"] = cam.zones[0].analyzers["flooding"]
    mon = CameraMonitor(cam, open_source(cam, ROOT), None, None, evidence_store=EvidenceStore(tmp_path))
    assert [c.key for c in mon.checks] == ["mặt đường/flooding"]
    assert any("pothole_subsidence" in p for p in mon.health()["problems"])
    assert mon.step().status == "ok"


# ---- MonitorLoop ------------------------------------------------------------------------------------
def test_loop_publishes_sample_episode_and_stops_when_replays_end(tmp_path):
    published: list[Candidate] = []
    cams = [camera_conf(CAM_A, interval_s=0.001), camera_conf(CAM_B, interval_s=0.001),
            camera_conf("cam-off", enabled=False)]
    loop = MonitorLoop(cams, published.append, threading.Event(), evidence_store=tmp_path, project_root=ROOT)
    assert set(loop.monitors) == {CAM_A, CAM_B}
    t = loop.start()
    t.join(timeout=60)
    assert not t.is_alive()
    assert [c.source_ref.split("/")[0] for c in published] == [CAM_A]
    health = loop.health()
    assert health[CAM_A]["state"] == health[CAM_B]["state"] == "ended"
    assert health[CAM_A]["frames"] == health[CAM_B]["frames"] == 16


def test_broken_cameras_do_not_stop_a_healthy_one(tmp_path, snapshot_server, caplog):
    cams = [
        camera_conf("cam-404", kind="http_snapshot", url=snapshot_server.url + "/missing.jpg", interval_s=0.01),
        camera_conf("cam-gone", kind="image_folder", url=str(tmp_path / "no-such-folder"), interval_s=0.01),
        camera_conf(CAM_B, interval_s=0.01, loop=True),
    ]
    stop = threading.Event()
    loop = MonitorLoop(cams, lambda c: None, stop, evidence_store=tmp_path / "ev", project_root=ROOT,
                       backoff_base_s=0.05, backoff_max_s=0.2, jitter=0, url_policy=UrlPolicy(["127.0.0.1"]))
    with caplog.at_level("WARNING", logger="watch1022.monitors"):
        t = loop.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            h = loop.health()
            if h[CAM_B]["frames"] >= 20 and h["cam-404"]["consecutive_failures"] >= 3:
                break
            time.sleep(0.05)
        stop.set()
        t.join(timeout=10)
    assert not t.is_alive()
    h = loop.health()
    assert h[CAM_B]["state"] == "ok" and h[CAM_B]["frames"] >= 20 and h[CAM_B]["last_error"] is None
    assert h["cam-404"]["state"] == "failing" and "HTTP 404" in h["cam-404"]["last_error"]
    assert h["cam-404"]["consecutive_failures"] >= 3 and 0.05 <= h["cam-404"]["backoff_s"] <= 0.2
    assert h["cam-gone"]["state"] == "failing" and "does not exist" in h["cam-gone"]["last_error"]
    assert any("cam-404 failing" in r.getMessage() and "retry in" in r.getMessage() for r in caplog.records)


def test_failing_camera_recovers_and_backoff_resets(tmp_path):
    folder = tmp_path / "frames"
    cam = camera_conf("cam-late", kind="image_folder", url=str(folder), interval_s=0.01, loop=True)
    clock = [0.0]
    loop = MonitorLoop([cam], lambda c: None, threading.Event(), evidence_store=tmp_path / "ev",
                       backoff_base_s=1.0, backoff_max_s=4.0, clock=lambda: clock[0], jitter=0, start_spread=0)
    waits = []
    for _ in range(4):
        next_at = loop.run_due()
        waits.append(next_at - clock[0])
        clock[0] = next_at
    assert waits == [1.0, 2.0, 4.0, 4.0]  # exponential, capped
    assert loop.health()["cam-late"]["state"] == "failing"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg())
    next_at = loop.run_due()
    h = loop.health()["cam-late"]
    assert h["state"] == "ok" and h["frames"] == 1 and h["backoff_s"] is None
    assert abs((next_at - clock[0]) - 0.01) < 1e-9
