"""Several monitor workers over the Kafka backend (a real Tansu broker): two `watch1022 monitor`
processes share the cameras of one registry; when one is killed its cameras are picked up by the
other within a bounded time, and no camera is ever watched by both at once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from models.db import Database
from monitors.cluster import partition_of
from monitors.registry import CameraRegistry
from tests.test_monitors_servers import FaultServer
from tests.test_monitors import ROOT, camera_conf
from tests.test_monitors_scale import write_config

N_CAMERAS = 8
INTERVAL = 0.25


def start_worker(conf_dir, name: str) -> subprocess.Popen:
    env = {**os.environ, "WATCH1022_WORKER_ID": name}
    return subprocess.Popen([sys.executable, "-m", "watch1022", "monitor", "--config", str(conf_dir)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def fetchers(server: FaultServer, since: float) -> dict[str, list[tuple[float, str]]]:
    """camera -> [(time, worker)] of the snapshot requests after `since`."""
    out: dict[str, list] = {}
    with server.lock:
        reqs = list(server.requests)
    for t, path, ua in reqs:
        if t >= since and path.startswith("/good/kc-"):
            out.setdefault(path.split("/")[-1][:-4], []).append((t, ua.rsplit("/", 1)[-1]))
    return out


def wait_for(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_two_workers_share_cameras_and_survive_one_killed(kafka_broker, tmp_path):
    tag = uuid.uuid4().hex[:8]
    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    conf = write_config(tmp_path, ["127.0.0.1"], db_url, backend="kafka", bootstrap_servers=[kafka_broker],
                        candidates_topic=f"cand-{tag}", deadletter_topic=f"dead-{tag}")
    text = (conf / "cameras.yaml").read_text()
    (conf / "cameras.yaml").write_text(text.replace("monitor:", f"monitor:\n  group_id: monitors-{tag}\n"
                                                    f"  assignments_topic: assign-{tag}", 1))
    db = Database(db_url)
    db.migrate()
    ids = [f"kc-{i}" for i in range(N_CAMERAS)]
    assert len({partition_of(c, 6) for c in ids}) >= 3  # the cameras spread over the partitions
    with FaultServer() as srv:
        CameraRegistry(db).seed([camera_conf(c, kind="http_snapshot", url=f"{srv.url}/good/{c}.jpg",
                                             interval_s=INTERVAL, timeout_s=2) for c in ids])
        a = start_worker(conf, "wa")
        b = None
        try:
            # worker A alone takes every camera
            t_a = time.time()
            wait_for(lambda: (f := fetchers(srv, t_a)) and len(f) == N_CAMERAS and
                     all(w == "wa" for v in f.values() for _, w in v), 60, "worker A watching all cameras")
            # worker B joins: the group splits the cameras, none is watched by both
            b = start_worker(conf, "wb")
            t_b = time.time()

            def split():
                recent = fetchers(srv, time.time() - 1.5)
                if len(recent) != N_CAMERAS:
                    return None
                owners = {c: {w for _, w in v} for c, v in recent.items()}
                if all(len(o) == 1 for o in owners.values()) and {w for o in owners.values() for w in o} == {"wa", "wb"}:
                    return owners
                return None
            owners = wait_for(split, 60, "the cameras split between A and B")
            b_cams = {c for c, o in owners.items() if o == {"wb"}}
            assert 0 < len(b_cams) < N_CAMERAS
            # kill A: its cameras move to B within a bounded time (session timeout 6 s + rejoin)
            a.send_signal(signal.SIGKILL)
            a.wait(timeout=10)
            t_kill = time.time()
            wait_for(lambda: (f := fetchers(srv, time.time() - 1.0)) and len(f) == N_CAMERAS and
                     all(w == "wb" for v in f.values() for _, w in v), 30, "worker B taking over A's cameras")
            took_over = time.time() - t_kill
            assert took_over < 25, took_over
            assert b.poll() is None
            # never watched twice: per camera, once B has fetched it, A never fetches it again
            for cam, seq in fetchers(srv, t_a).items():
                workers = [w for _, w in sorted(seq)]
                first_b = workers.index("wb")
                assert "wa" not in workers[first_b:], (cam, workers)
                assert set(workers) <= {"wa", "wb"}
            # and a camera never had two workers' fetches closer together than its interval would allow
            for cam, seq in fetchers(srv, t_b).items():
                seq.sort()
                for (t1, w1), (t2, w2) in zip(seq, seq[1:]):
                    if w1 != w2:
                        assert t2 - t1 > 0.5 * INTERVAL, (cam, t1, w1, t2, w2)
        finally:
            for p in (a, b):
                if p is not None and p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        p.kill()
    db.dispose()
