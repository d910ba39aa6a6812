"""Judge a labelled folder of images in single-image mode (no baseline), as `watch1022 eval` does.

Layouts (the label of an image is the nearest folder above it, below PATH, named like a class):
  PATH/flooding/..., PATH/fallen_tree/..., PATH/normal/...            (images anywhere below)
  PATH/{train,val,test}/<class>/...                                   (a YOLO classification dataset:
                                                                       the `test` split, else `val`, else all)
Class folder aliases: flood/flooded → flooding; tree/fallen-tree → fallen_tree; dry/wet/clear/
background/negative → normal.

Each image gets a score per incident class from the classical analyzers over a default zone (the lower
part of the frame, where the road is in a pole-mounted view) unless a zone is given. The predicted
class is the highest-scoring incident class when it reaches the threshold, else `normal` with
confidence 1 − max score.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np

from vision.analyzer import AnalyzeContext, make_analyzer
from vision.zones import Zone

CLASSES = ("flooding", "fallen_tree", "normal")
INCIDENTS = ("flooding", "fallen_tree")
ALIASES = {"flooding": "flooding", "flood": "flooding", "flooded": "flooding", "ngap": "flooding",
           "fallen_tree": "fallen_tree", "fallen-tree": "fallen_tree", "tree": "fallen_tree",
           "normal": "normal", "dry": "normal", "wet": "normal", "clear": "normal", "background": "normal",
           "negative": "normal"}
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
DEFAULT_ZONE = ((0.0, 0.45), (1.0, 0.45), (1.0, 1.0), (0.0, 1.0))
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.1, 0.95, 0.1))


def collect(root: str | Path, split: str | None = None) -> list[tuple[Path, str]]:
    """(image path, true label) for every image under root whose folders name a class."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    base = root
    if split:
        base = root / split
        if not base.is_dir():
            raise FileNotFoundError(f"{root} has no split folder {split!r}")
    elif not any((root / c).is_dir() for c in ALIASES):
        for s in ("test", "val"):
            if (root / s).is_dir():
                base = root / s
                break
    items = []
    for p in sorted(base.rglob("*")):
        if p.suffix.lower() not in IMAGE_EXT or not p.is_file():
            continue
        label = None
        for part in reversed(p.relative_to(base).parts[:-1]):
            label = ALIASES.get(part.lower())
            if label:
                break
        if label:
            items.append((p, label))
    return items


def read_image(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return img


@dataclass
class Judge:
    """Single-image scoring with one analyzer per incident class."""
    threshold: float = 0.5
    zone: Zone = field(default_factory=lambda: Zone("road", DEFAULT_ZONE))
    backend: str = "classical"

    def __post_init__(self):
        self.analyzers = {c: make_analyzer(c, self.backend) for c in INCIDENTS}

    def scores(self, image: np.ndarray) -> dict[str, float]:
        ctx = AnalyzeContext("eval", threshold=self.threshold, mode="single")
        return {c: float(a.analyze(image, self.zone, ctx).score) for c, a in self.analyzers.items()}

    def predict(self, scores: dict[str, float]) -> tuple[str, float]:
        best = max(INCIDENTS, key=lambda c: scores[c])
        if scores[best] >= self.threshold:
            return best, scores[best]
        return "normal", 1.0 - scores[best]


def metrics(truth: Sequence[str], predicted: Sequence[str], scores: Sequence[dict[str, float]],
            thresholds: Iterable[float] = THRESHOLDS) -> dict:
    idx = {c: i for i, c in enumerate(CLASSES)}
    cm = np.zeros((len(CLASSES), len(CLASSES)), int)
    for t, p in zip(truth, predicted):
        cm[idx[t], idx[p]] += 1
    per_class = {}
    for c, i in idx.items():
        tp = int(cm[i, i])
        fp = int(cm[:, i].sum() - tp)
        fn = int(cm[i, :].sum() - tp)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[c] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4),
                        "support": int(cm[i, :].sum())}
    table = {}
    for c in INCIDENTS:
        rows = []
        for th in thresholds:
            pos = [s[c] >= th for s in scores]
            tp = sum(1 for p, t in zip(pos, truth) if p and t == c)
            fp = sum(1 for p, t in zip(pos, truth) if p and t != c)
            fn = sum(1 for p, t in zip(pos, truth) if not p and t == c)
            rows.append({"threshold": th, "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                         "recall": round(tp / (tp + fn), 4) if tp + fn else None})
        table[c] = rows
    acc = float(np.trace(cm)) / max(int(cm.sum()), 1)
    return {"images": len(truth), "accuracy": round(acc, 4), "classes": list(CLASSES), "per_class": per_class,
            "confusion": cm.tolist(), "threshold_table": table}


def evaluate(root: str | Path, judge: Judge | None = None, split: str | None = None,
             on_prediction: Callable[[dict], None] | None = None) -> dict:
    judge = judge or Judge()
    items = collect(root, split)
    truth, pred, all_scores = [], [], []
    unreadable = 0
    for path, label in items:
        img = read_image(path)
        if img is None:
            unreadable += 1
            continue
        s = judge.scores(img)
        p, conf = judge.predict(s)
        truth.append(label)
        pred.append(p)
        all_scores.append(s)
        if on_prediction:
            on_prediction({"path": str(path), "label": p, "score": round(conf, 4), "truth": label,
                           "scores": {k: round(v, 4) for k, v in s.items()}})
    out = metrics(truth, pred, all_scores)
    out.update(threshold=judge.threshold, mode="single", backend=judge.backend, unreadable=unreadable)
    return out


def format_report(m: dict) -> str:
    lines = [f"{m['images']} images, single-image mode, backend {m['backend']}, threshold {m['threshold']}",
             f"accuracy {m['accuracy']:.3f}", "", f"{'class':<12} {'prec':>6} {'recall':>6} {'F1':>6} {'n':>5}"]
    for c, r in m["per_class"].items():
        lines.append(f"{c:<12} {r['precision']:>6.3f} {r['recall']:>6.3f} {r['f1']:>6.3f} {r['support']:>5}")
    lines += ["", "confusion (rows: true, columns: predicted)", " " * 12 + "".join(f"{c[:11]:>12}" for c in m["classes"])]
    for c, row in zip(m["classes"], m["confusion"]):
        lines.append(f"{c:<12}" + "".join(f"{v:>12}" for v in row))
    for c, rows in m["threshold_table"].items():
        lines += ["", f"{c}: precision / recall by threshold"]
        for r in rows:
            pr = "   -  " if r["precision"] is None else f"{r['precision']:.3f}"
            rc = "   -  " if r["recall"] is None else f"{r['recall']:.3f}"
            lines.append(f"  >= {r['threshold']:.1f}  {pr}  {rc}")
    return "\n".join(lines)
