"""Per-frame time of each vision analyzer/backend at 1280x720, next to a bare cv2.imdecode of the same
JPEG in the same run. Median and p95 in ms. Last line: {"decode_ms": m, "analyzer_ms": {...}} (medians),
plus "monitor_320": the camera monitor's call (classical flooding, per-camera mode with its baseline, on
frames decoded at analysis width 320 as monitors.sources.decode_image does) and the reduced decode's time.

    python bench/vision.py [--frames 40]
    python bench/vision.py --model-dir var/models     (learned: the store's current model)
Targets: classical <= 10 ms/frame, learned classify <= 25 ms/frame. Frames are synthetic (vision.scenes),
upscaled to 1280x720. The learned backend runs the store's current model when --model-dir is given,
else a tiny model trained in this run (1 epoch on a few generated scenes: its speed is the real one,
its accuracy is not); without ultralytics installed (the `train` extra) the learned rows are skipped.
The learned analyzer's per-frame answer cache is switched off so every look pays a full inference.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vision.analyzer import ANALYZERS, AnalyzeContext, make_analyzer  # noqa: E402
from vision.scenes import render_frame  # noqa: E402
from vision.zones import Zone  # noqa: E402


def stats(ms: list[float]) -> tuple[float, float]:
    a = np.asarray(ms)
    return float(np.median(a)), float(np.percentile(a, 95))


def learned_model(model_dir: str | None):
    """(store directory, temporary folder to remove) for the learned rows, or (None, None) to skip them."""
    if model_dir:
        return Path(model_dir), None
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        print("learned: ultralytics not installed (the train extra): learned rows skipped", file=sys.stderr)
        return None, None
    import contextlib
    import tempfile
    from vision.modelstore import ModelStore
    from vision.train import promote, synthetic_dataset, train
    tmp = Path(tempfile.mkdtemp(prefix="bench-vision-"))
    synthetic_dataset(tmp / "data", {"train": 2, "val": 1, "test": 1}, seed=99)
    store = ModelStore(tmp / "models")
    with contextlib.redirect_stdout(sys.stderr):
        info = train(tmp / "data", store, epochs=1, imgsz=64, log=lambda m: print(m, file=sys.stderr))
        promote(store, info["version"], log=lambda m: print(m, file=sys.stderr))
    return store.directory, tmp


MONITOR_ZONE = ((0.05, 0.55), (0.95, 0.55), (1.0, 1.0), (0.0, 1.0))  # bench/monitors.py's road zone


def monitor_320(jpegs: list, looks: int) -> dict:
    """What the camera monitor pays per look at analysis width 320: the reduced JPEG decode (1/4 scale of
    1280x720) and the classical flooding analyzer in per-camera mode (baseline learned, then compared)."""
    from vision.flooding import FloodingAnalyzer
    images, dec = [], []
    for i in range(looks):
        buf = jpegs[i % len(jpegs)]
        t = time.perf_counter()
        img = cv2.imdecode(buf, cv2.IMREAD_REDUCED_COLOR_4)
        dec.append((time.perf_counter() - t) * 1000)
        if i < len(jpegs):
            images.append(img)
    zone = Zone("road", MONITOR_ZONE)
    a = FloodingAnalyzer()
    ms = []
    for i in range(looks + 10):
        ctx = AnalyzeContext("bench", mode="camera")
        t = time.perf_counter()
        obs = a.analyze(images[i % len(images)], zone, ctx)
        if i >= 10:  # baseline warm-up looks not counted
            ms.append((time.perf_counter() - t) * 1000)
    med, p95 = stats(ms)
    dmed, _ = stats(dec)
    print(f"monitor 320 px: flooding/classical per-camera ({obs.detail['mode']}) median {med:.2f} ms  p95 {p95:.2f} ms;"
          f" reduced decode {dmed:.2f} ms  ({images[0].shape[1]}x{images[0].shape[0]})")
    return {"flooding_camera_ms": round(med, 2), "flooding_camera_p95_ms": round(p95, 2),
            "decode_reduced_ms": round(dmed, 2), "width": int(images[0].shape[1])}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--model-dir", help="model store whose current model the learned backend runs")
    args = ap.parse_args()
    model_dir, tmp = learned_model(args.model_dir)
    cv2.setNumThreads(1)
    frames = []
    for i, kw in enumerate(({"water": 0.8}, {"tree": True}, {"wet": True}, {"rain": True}, {})):
        img, label = render_frame(900 + i, i, **kw)
        img = cv2.resize(img, (1280, 720), interpolation=cv2.INTER_CUBIC)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        frames.append((buf, Zone("road", label.zone)))
    decode = []
    for i in range(args.frames):
        buf = frames[i % len(frames)][0]
        t = time.perf_counter()
        cv2.imdecode(buf, cv2.IMREAD_COLOR)
        decode.append((time.perf_counter() - t) * 1000)
    images = [(cv2.imdecode(b, cv2.IMREAD_COLOR), z) for b, z in frames]
    results = {}
    for category, backends in ANALYZERS.items():
        for backend in backends:
            if backend == "learned":
                if model_dir is None:
                    continue
                a = make_analyzer(category, backend, model_dir=model_dir, threads=1)
                a._classifier().cache_size = 0  # measure inference, not the shared per-frame answer
            else:
                a = make_analyzer(category, backend)
            ms = []
            for i in range(args.frames + 5):
                img, zone = images[i % len(images)]
                ctx = AnalyzeContext("bench", mode="camera")
                t = time.perf_counter()
                a.analyze(img, zone, ctx)
                if i >= 5:  # warm-up looks (baseline learning) not counted
                    ms.append((time.perf_counter() - t) * 1000)
            med, p95 = stats(ms)
            results[f"{category}/{backend}"] = round(med, 2)
            print(f"{category}/{backend:<10} median {med:6.2f} ms   p95 {p95:6.2f} ms")
    dmed, dp95 = stats(decode)
    print(f"{'cv2.imdecode':<21} median {dmed:6.2f} ms   p95 {dp95:6.2f} ms  (1280x720 JPEG q85)")
    monitor = monitor_320([b for b, _ in frames], max(args.frames, 200))
    print(json.dumps({"decode_ms": round(dmed, 2), "analyzer_ms": results, "monitor_320": monitor}))
    if tmp is not None:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
