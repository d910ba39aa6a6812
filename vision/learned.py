"""The learned backend: a YOLO classify model (classes flooding / fallen_tree / normal, trained here by
`watch1022 train`, see vision.train), exported to ONNX and run with ONNX Runtime. Nothing here imports
torch or ultralytics: a camera with `backend: learned` needs only onnxruntime, numpy and OpenCV.

The analyzer crops the bounding box of the zone, resizes it to the model's square input (as the
classify models were trained: RGB, 0..1, no mean/std), and answers its category's class probability as
the score. Both incident analyzers of one zone share one model session and one inference per frame (a
small cache keyed by the digest of the model input), so a camera with flooding and fallen_tree pays once.

Model versions come from the model store (vision.modelstore): `model: current` (the default) is the
promoted one, read again when the promotion changes; a named version is pinned.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vision.analyzer import AnalyzeContext, Analyzer, Observation
from vision.modelstore import CURRENT, ModelStore, ModelStoreError, default_model_dir
from vision.zones import Zone

CLASSES = ("fallen_tree", "flooding", "normal")


class OnnxClassifier:
    """One ONNX classify model: BGR crop in, class probabilities out. Thread-safe (ORT sessions are)."""

    def __init__(self, onnx_path: str | Path, classes: list[str] | None = None, imgsz: int | None = None,
                 threads: int = 1):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.path = Path(onnx_path)
        self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape  # [1, 3, h, w]
        h = shape[2] if isinstance(shape[2], int) else None
        self.imgsz = int(imgsz or h or 64)
        if classes is None:  # ultralytics writes its class names into the ONNX metadata
            names = self.session.get_modelmeta().custom_metadata_map.get("names")
            classes = _parse_names(names) if names else list(CLASSES)
        self.classes = list(classes)
        # the last few inputs' answers: a zone's flooding and fallen_tree checks look at the same crop
        self.cache_size = 8
        self._cache: "OrderedDict[bytes, np.ndarray]" = OrderedDict()
        self._lock = threading.Lock()

    def preprocess(self, bgr: np.ndarray) -> np.ndarray:
        x = cv2.resize(bgr, (self.imgsz, self.imgsz), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(x[:, :, ::-1])  # RGB uint8 h×w×3

    def predict_input(self, rgb: np.ndarray) -> np.ndarray:
        """Probabilities for one preprocessed RGB image (cached: two analyzers of a zone ask for the same)."""
        key = hashlib.blake2b(rgb.tobytes(), digest_size=16).digest()
        with self._lock:
            hit = self._cache.get(key) if self.cache_size else None
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        x = rgb.transpose(2, 0, 1)[None].astype(np.float32) * (1.0 / 255.0)
        out = np.asarray(self.session.run(None, {self.input_name: x})[0], np.float64).reshape(-1)
        if out.min() < 0 or abs(out.sum() - 1.0) > 1e-3:  # logits (not a softmax head): normalise
            e = np.exp(out - out.max())
            out = e / e.sum()
        with self._lock:
            self._cache[key] = out
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def predict(self, bgr: np.ndarray) -> dict[str, float]:
        probs = self.predict_input(self.preprocess(bgr))
        return {c: float(p) for c, p in zip(self.classes, probs)}


def _parse_names(text: str) -> list[str]:
    """ultralytics' metadata `names` is a Python dict literal {0: 'a', 1: 'b'}."""
    import ast
    try:
        d = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return list(CLASSES)
    return [d[k] for k in sorted(d)] if isinstance(d, dict) else list(d)


_models: dict[tuple[str, float, int], OnnxClassifier] = {}
_models_lock = threading.Lock()


def load_classifier(onnx_path: str | Path, meta: dict[str, Any] | None = None, threads: int = 1) -> OnnxClassifier:
    """One shared session per model file (and its mtime, so a replaced file is reloaded)."""
    p = Path(onnx_path)
    key = (str(p.resolve()), p.stat().st_mtime, threads)
    with _models_lock:
        clf = _models.get(key)
        if clf is None:
            meta = meta or {}
            clf = OnnxClassifier(p, meta.get("classes"), meta.get("imgsz"), threads)
            _models[key] = clf
    return clf


def zone_crop(image: np.ndarray, zone: Zone) -> np.ndarray:
    """The bounding box of the zone (at least 2×2 pixels)."""
    h, w = image.shape[:2]
    pts = zone.points(h, w)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0) + 1
    x1, y1 = max(x1, x0 + 2), max(y1, y0 + 2)
    return image[y0:min(y1, h), x0:min(x1, w)]


class OnnxClassifyAnalyzer(Analyzer):
    """Learned backend for one incident class: the model's probability of that class in the zone's box."""

    backend = "learned"

    def __init__(self, model: str | None = CURRENT, model_dir: str | Path | None = None,
                 onnx_path: str | Path | None = None, threads: int | None = None):
        """model: a version in the store, or "current"; onnx_path: a model file outside the store (tests,
        `eval --model FILE`). The model is opened on first use, so a camera whose model is missing keeps
        running its other checks and reports the reason on that check."""
        self.model = model or CURRENT
        self.model_dir = Path(model_dir) if model_dir else None
        self.onnx_path = Path(onnx_path) if onnx_path else None
        self.threads = threads
        self._clf: OnnxClassifier | None = None
        self._version: str | None = None
        self.model_version = ""

    def _classifier(self) -> OnnxClassifier:
        if self.onnx_path is not None:
            if self._clf is None:
                meta_path = self.onnx_path.with_name("model.json")
                meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
                self._clf = load_classifier(self.onnx_path, meta, self.threads or 1)
                self.model_version = meta.get("version") or self.onnx_path.stem
            return self._clf
        if self.model_dir is None:
            self.model_dir = default_model_dir()
        store = ModelStore(self.model_dir)
        version = store.resolve(self.model)  # "current" follows promotions
        if self._clf is None or version != self._version:
            meta = store.info(version)
            threads = self.threads
            if threads is None:
                from vision.modelstore import vision_settings
                threads = vision_settings().onnx_threads
            self._clf = load_classifier(store.directory / version / "model.onnx", meta, threads)
            self._version = version
            self.model_version = version
        return self._clf

    def probabilities(self, image: np.ndarray, zone: Zone) -> dict[str, float]:
        return self._classifier().predict(zone_crop(image, zone))

    def analyze(self, image: np.ndarray, zone: Zone, ctx: AnalyzeContext) -> Observation:
        probs = self.probabilities(image, zone)
        if self.category not in probs:
            raise ModelStoreError(f"model {self.model_version!r} has no class {self.category!r} "
                                  f"(classes: {', '.join(probs)})")
        score = float(probs[self.category])
        top = max(probs, key=probs.get)
        h, w = image.shape[:2]
        x0, y0 = zone.points(h, w).min(axis=0)
        x1, y1 = zone.points(h, w).max(axis=0)
        detail = {"mode": ctx.mode, "model": self.model_version, "top_class": top,
                  **{f"p_{c}": round(p, 4) for c, p in probs.items()}}
        boxes = []
        if score >= ctx.threshold:  # a classifier locates nothing finer than the zone's box
            from models.candidate import Box
            boxes = [Box(label=self.category, x=round(x0 / w, 4), y=round(y0 / h, 4),
                         w=round((x1 - x0) / w, 4), h=round((y1 - y0) / h, 4), score=round(score, 4))]
        return Observation(self.category, zone.name, score, score >= ctx.threshold, ctx.threshold, detail,
                           None, boxes)


class LearnedFloodingAnalyzer(OnnxClassifyAnalyzer):
    category = "flooding"

    def summary_vi(self, obs: Observation) -> str:
        return (f"mô hình học máy ({obs.detail.get('model')}) nhận định vùng '{obs.zone}' bị ngập nước "
                f"(xác suất {obs.score:.0%})")


class LearnedFallenTreeAnalyzer(OnnxClassifyAnalyzer):
    category = "fallen_tree"

    def summary_vi(self, obs: Observation) -> str:
        return (f"mô hình học máy ({obs.detail.get('model')}) nhận định có cây đổ chắn vùng '{obs.zone}' "
                f"(xác suất {obs.score:.0%})")
