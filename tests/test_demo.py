"""End to end: `watch1022 demo` as a real process over the shipped samples delivers camera and social
candidates into the reference core over HTTP (counted in the core's own database), serves the console,
and a replay of the same samples creates no case twice."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def core_cases(var: Path) -> list[dict]:
    eng = create_engine(f"sqlite:///{var / 'core1022.db'}")
    with eng.connect() as c:
        rows = c.execute(text("select service_code, attributes, description from service_requests")).all()
    eng.dispose()
    return [{"service_code": r[0], "attributes": json.loads(r[1]) if isinstance(r[1], str) else r[1],
             "description": r[2]} for r in rows]


WEBHOOK_KEY = "test-webhook-key"


def start_demo(var: Path, port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "watch1022", "demo", "--var", str(var), "--port", str(port), "--duration", "90",
         "--until-idle", "--json"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "WATCH1022_SOCIAL_API_KEYS": WEBHOOK_KEY})


def finish(proc: subprocess.Popen) -> tuple[dict, str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"demo failed ({proc.returncode}):\n{out}\n{err}"
    lines = out.strip().splitlines()
    return json.loads(lines[-1]), out


def test_demo_delivers_camera_and_social_candidates_once(tmp_path):
    var, port = tmp_path / "var", free_port()
    proc = start_demo(var, port)
    base = f"http://127.0.0.1:{port}"
    # While it runs: the console lists incidents with their core status.
    page = None
    for _ in range(300):
        try:
            rows = httpx.get(f"{base}/api/incidents", timeout=2).json()
            if any("camera" in r["sources"] and r["core_request_id"] for r in rows):
                page = httpx.get(f"{base}/", timeout=5).text
                cameras = httpx.get(f"{base}/api/cameras", timeout=5).json()
                metrics = httpx.get(f"{base}/metrics", timeout=5).text
                hook = httpx.post(f"{base}/social/posts", headers={"X-API-Key": WEBHOOK_KEY}, timeout=10, json={
                    "id": "hook-1", "platform": "zalo", "posted_at": "2026-11-28T18:00:00+07:00",
                    "text": "Cây me cổ thụ ngã chắn ngang đường Trần Quang Khải, phường Tân Định, xe không qua được"})
                break
        except httpx.HTTPError:
            if proc.poll() is not None:
                break
        time.sleep(0.1)
    summary, out = finish(proc)
    assert page is not None, f"console never showed a delivered camera incident:\n{out}"
    # posts with a cue that were not raised are logged for review inside --var, not in the project's var/
    misses = [json.loads(x) for x in (var / "social" / "misses.jsonl").read_text(encoding="utf-8").splitlines()]
    assert misses and all(m["ref"] for m in misses)
    assert "Ngập nước" in page and "1022 #" in page
    # The parts' APIs are mounted in the console: cameras with their health, metrics, the social webhook.
    assert {"cam-nguyen-huu-canh", "cam-dien-bien-phu"} <= {c["id"] for c in cameras}
    assert "cam-nguyen-huu-canh" in metrics
    assert hook.status_code == 200, hook.text

    assert summary["raised"]["camera"] >= 1 and summary["raised"]["social"] >= 1
    assert summary["deadletter"] >= 1  # the sample file holds one malformed line, kept with its reason
    cases = core_cases(var)
    assert summary["delivered"] == len(cases)
    by_source = {c["attributes"]["watch_source"] for c in cases}
    assert by_source == {"camera", "social"}
    camera = [c for c in cases if c["attributes"]["watch_source"] == "camera"]
    assert all(c["service_code"] == "TN-NGAP" for c in camera)
    assert "raised    camera flooding" in out and "delivered incident" in out
    assert any(c["service_code"] == "CX-CAYNGA" and "Trần Quang Khải" in c["description"] for c in cases)

    # Replay the same samples into the same state: nothing new reaches the core.
    again, _ = finish(start_demo(var, free_port()))
    assert again["raised"]["camera"] == summary["raised"]["camera"]
    assert again["delivered"] == 0 and again["replays"] >= len(cases) - 1  # all but the webhook post replayed
    assert len(core_cases(var)) == len(cases)
    ids = [c["attributes"]["watch_id"] for c in core_cases(var)]
    assert len(ids) == len(set(ids))
