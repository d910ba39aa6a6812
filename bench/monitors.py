"""Benchmark of the camera monitor at city scale.

    python bench/monitors.py --cameras 3000 [--interval 15] [--duration 60] [--analysis-width 640]

N HTTP snapshot cameras, all served by a loopback HTTP server in another process (so the server does
not take this process's GIL; it answers from memory with real 1280x720 JPEGs made from the sample
scenes), watched by one MonitorLoop, in a process of its own, for a fixed time through the full path: fetch (pooled keep-alive
connections), header check, reduced decode, the configured analyzers (the classical flooding analyzer
on a road zone), K-of-N confirmation. Prints sustained frames/s, p95 frame age (from the moment a look
was due to its analysis done: queueing + fetch + decode + analysis), p95 fetch-to-result, peak RSS of the
monitor's process, and the bare-decode frames/s of the same JPEGs in the same run (same decode scale, as many threads as
cores). Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def make_jpegs(k: int = 8) -> list[bytes]:
    """Real 1280x720 JPEGs (quality 85) of the sample street scenes, with sensor-like noise."""
    files = sorted((ROOT / "samples" / "cameras").glob("*/frame_*.jpg"))[:: max(1, 32 // k)][:k]
    rng = np.random.default_rng(1)
    out = []
    for f in files:
        img = cv2.resize(cv2.imread(str(f)), (1280, 720), interpolation=cv2.INTER_CUBIC)
        noise = rng.normal(0, 4, img.shape).astype(np.int16)
        img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes())
    return out


# ---- the camera server (another process) ------------------------------------------------------------
def serve(port_q, jpegs: list[bytes]) -> None:
    responses = [b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(j)).encode()
                 + b"\r\nConnection: keep-alive\r\n\r\n" + j for j in jpegs]
    counter = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                counter[0] += 1
                writer.write(responses[counter[0] % len(responses)])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port_q.put(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# ---- measurements ------------------------------------------------------------------------------------
def decode_rate(jpegs: list[bytes], analysis_width: int, seconds: float = 3.0, threads: int = 2) -> float:
    from monitors.sources import decode_image

    def work(deadline: float) -> int:
        n = 0
        while time.monotonic() < deadline:
            decode_image(jpegs[n % len(jpegs)], analysis_width=analysis_width)
            n += 1
        return n

    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(threads) as ex:
        total = sum(ex.map(work, [deadline] * threads))
    return total / seconds


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100)[94] if len(values) >= 20 else max(values)


def watch(args, port: int, out) -> None:
    """The monitor, in a process of its own so that its RSS and CPU are the monitor's alone (not the
    benchmark's JPEG preparation or decode measurement)."""
    from configs.schema import CameraConf, MonitorConf
    from monitors.netpolicy import UrlPolicy
    from monitors.runner import MonitorLoop

    zone = [[0.05, 0.55], [0.95, 0.55], [1.0, 1.0], [0.0, 1.0]]
    cams = [CameraConf.model_validate({
        "id": f"cam-{i:05d}", "name": f"Bench camera {i}", "kind": "http_snapshot",
        "url": f"http://127.0.0.1:{port}/cam/{i}.jpg", "interval_s": args.interval, "timeout_s": 10,
        "headers": {"Referer": "http://giaothong.hochiminhcity.gov.vn/"}, "analysis_width": args.analysis_width,
        "location": {"lat": 10.78, "lon": 106.70},
        "zones": [{"name": "road", "polygon": zone,
                   "analyzers": {"flooding": {"threshold": 0.5, "confirm_k": 3, "confirm_n": 5}}}],
    }) for i in range(args.cameras)]

    lock = threading.Lock()
    t0 = [0.0]
    ages: list[float] = []
    fetch_to_result: list[float] = []
    counts = {"ok": 0, "error": 0}
    errors: dict[str, int] = {}

    def on_look(cid, result, due, started, finished):
        if finished < t0[0] + args.warmup:
            return
        with lock:
            if result.status == "ok":
                counts["ok"] += 1
                ages.append(finished - due)
                if result.frame is not None and result.frame.latency_s is not None:
                    fetch_to_result.append(finished - started)
            else:
                counts["error"] += 1
                errors[result.error_kind or "other"] = errors.get(result.error_kind or "other", 0) + 1

    settings = MonitorConf(max_workers=args.workers, probation_workers=4, allow_networks=["127.0.0.1"],
                           start_spread=1.0, jitter=0.1)
    stop = threading.Event()
    with tempfile.TemporaryDirectory() as ev:
        loop = MonitorLoop(cams, lambda c: None, stop, evidence_store=ev, settings=settings, stop_when_idle=False,
                           url_policy=UrlPolicy(["127.0.0.1"]), on_look=on_look, worker_id="bench")
        t0[0] = time.monotonic()
        thread = loop.start()
        time.sleep(args.warmup)
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(args.duration)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        loop.stop()
        thread.join(timeout=60)
    with lock:
        out.put({"counts": dict(counts), "errors": dict(errors), "ages": list(ages),
                 "fetch_to_result": list(fetch_to_result),
                 "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
                 "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=3000)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds measured (after --warmup)")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--analysis-width", type=int, default=320,
                    help="the cameras' analysis_width (decode scale; 640 = the flooding analyzer's full working width)")
    ap.add_argument("--workers", type=int, default=8, help="monitor.max_workers (loopback needs few)")
    args = ap.parse_args(argv)

    jpegs = make_jpegs()
    mean_kb = sum(map(len, jpegs)) / len(jpegs) / 1024
    decode_only = decode_rate(jpegs, args.analysis_width)
    full_decode = decode_rate(jpegs, 0, seconds=2.0)

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    server = ctx.Process(target=serve, args=(q, jpegs), daemon=True)
    server.start()
    port = q.get(timeout=30)
    out = ctx.Queue()
    monitor = ctx.Process(target=watch, args=(args, port, out), daemon=True)
    monitor.start()
    r = out.get(timeout=args.warmup + args.duration + 300)
    monitor.join(timeout=60)
    server.terminate()

    counts, errors, ages = r["counts"], r["errors"], r["ages"]
    fps = counts["ok"] / args.duration
    rss_mb = r["rss_mb"]
    cpu = r["cpu_s"]
    print(f"cameras {args.cameras} every {args.interval:g} s (expected {args.cameras / args.interval:.1f} frames/s), "
          f"{args.duration:g} s measured after {args.warmup:g} s warm-up, {args.workers} workers, "
          f"JPEG 1280x720 ~{mean_kb:.0f} KB, analysis_width {args.analysis_width}")
    print(f"sustained frames/s     {fps:.1f}  ({counts['ok']} looks ok, {counts['error']} failed {errors or ''})")
    print(f"p95 frame age          {p95(ages):.3f} s  (due -> analysed; median {statistics.median(ages) if ages else float('nan'):.3f} s)")
    print(f"p95 fetch -> result    {p95(r['fetch_to_result']):.3f} s")
    print(f"monitor CPU            {cpu / args.duration * 100:.0f} % of one core "
          f"({cpu / max(counts['ok'], 1) * 1000:.1f} ms per frame; {os.cpu_count()} cores; machine load "
          f"{os.getloadavg()[0]:.1f})")
    print(f"monitor peak RSS       {rss_mb:.0f} MB  (the monitor's own process)")
    print(f"bare decode frames/s   {decode_only:.0f} at analysis_width {args.analysis_width} "
          f"({full_decode:.0f} at full size), 2 threads")
    print(json.dumps({"cameras": args.cameras, "frames_per_s": round(fps, 1), "p95_frame_age_s": round(p95(ages), 3),
                      "rss_mb": round(rss_mb, 1), "decode_only_frames_per_s": round(decode_only, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
