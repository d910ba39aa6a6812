"""Training, held-out evaluation and promotion of the learned backend's models (`watch1022 train`,
`watch1022 models list|promote`).

A model is an ultralytics YOLO *classify* network (classes fallen_tree / flooding / normal) built from its
architecture file (`yolo11n-cls.yaml`, shipped inside the ultralytics package: no weights by hub name,
nothing downloaded) or fine-tuned from a stored version's weights, trained on a YOLO classification
dataset (train/ and val/ [and test/] folders with one sub-folder per class; the folder aliases of
vision.evaluate are accepted), exported to ONNX and stored with its metrics on the held-out split (test/,
else val/), computed with vision.evaluate's logic by the ONNX model itself, as a camera would run it.

A dataset image is what the analyzer will see: the crop of a zone's bounding box (vision.learned crops
the zone of each frame the same way). `export-dataset` and `synthetic_dataset` write such crops, and the
held-out figures judge each image whole. (A model trained on whole frames but run on zone crops lost a
quarter of its accuracy on generated scenes: the input must match.)

torch and ultralytics are imported only here (the `train` extra); the inference path (vision.learned)
needs onnxruntime alone. Everything that could reach the network is switched off before ultralytics is
imported: settings sync (analytics), hub, auto-install of missing packages, online checks, and plots
(which would fetch a font).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from vision.evaluate import CLASSES, DEFAULT_ZONE, Judge, collect, evaluate
from vision.modelstore import CURRENT, ModelStore, ModelStoreError, file_sha256
from vision.zones import Zone

ARCHITECTURE = "yolo11n-cls.yaml"  # resolved inside the ultralytics package; never a .pt hub name
SPLITS = ("train", "val", "test")
OFFLINE_ENV = {
    "YOLO_OFFLINE": "1",  # ultralytics: no online checks, no downloads, no analytics
    "YOLO_AUTOINSTALL": "false",  # never `pip install` a missing requirement at run time
    "YOLO_VERBOSE": "true",  # keep the per-epoch progress bars
}


# Hyper-parameters for the small datasets operators' verdicts give (hundreds of images, CPU): a fixed
# optimiser and rate (ultralytics' "auto" picks a very low one for short runs), a short warm-up, and mild
# augmentation (random erasing or RandAugment can wipe out the one tree or puddle that makes the label).
# ultralytics accumulates gradients up to a nominal batch of 64 (`nbs`): with a few hundred images that
# leaves a handful of optimiser steps per run, so train() sets nbs to the batch size.
SMALL_DATA_HYP = {"optimizer": "AdamW", "lr0": 0.001, "warmup_epochs": 1, "auto_augment": None,
                  "erasing": 0.0, "scale": 0.3, "dropout": 0.1, "patience": 1000}


class TrainError(ValueError):
    """The dataset or the options cannot give a model; the message says why."""


def offline_ultralytics(config_dir: str | Path | None = None):
    """Import ultralytics with everything that could reach the network switched off."""
    os.environ.update(OFFLINE_ENV)
    if config_dir is not None:  # ultralytics keeps a settings.json: keep it with the models, not in ~/.config
        os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    import ultralytics
    from ultralytics.utils import SETTINGS
    try:  # no analytics, no hub callbacks (also refused by YOLO_OFFLINE, which makes ultralytics think it is offline)
        SETTINGS.update({k: False for k in ("sync", "hub") if k in SETTINGS})
    except Exception:  # a read-only settings file: the environment switches above still hold
        pass
    return ultralytics


# ---- datasets --------------------------------------------------------------------------------
def dataset_splits(root: str | Path) -> dict[str, list[tuple[Path, str]]]:
    """(image, class) per split of a YOLO classification dataset; class folders may use evaluate's aliases."""
    root = Path(root)
    if not root.is_dir():
        raise TrainError(f"{root} is not a folder")
    out = {}
    for s in SPLITS:
        if (root / s).is_dir():
            out[s] = collect(root, s)
    if "train" not in out:
        raise TrainError(f"{root} has no train/ folder (a YOLO classification dataset: train/ val/ [test/], "
                         f"one sub-folder per class: {', '.join(CLASSES)})")
    if "val" not in out and "test" not in out:
        raise TrainError(f"{root} has no val/ or test/ folder to validate on")
    missing = [c for c in CLASSES if not any(lbl == c for _, lbl in out["train"])]
    if missing:
        raise TrainError(f"{root}/train has no images of class(es) {', '.join(missing)}: each of "
                         f"{', '.join(CLASSES)} needs examples")
    return out


def heldout_split(splits: dict[str, list]) -> str:
    return "test" if splits.get("test") else "val"


def fingerprint(splits: dict[str, list[tuple[Path, str]]], root: Path) -> str:
    """sha256 over every image's split, class, relative name and content: same data, same fingerprint."""
    h = hashlib.sha256()
    for s in sorted(splits):
        for path, label in sorted(splits[s], key=lambda t: str(t[0])):
            h.update(f"{s}\0{label}\0{path.relative_to(root).as_posix()}\0{file_sha256(path)}\n".encode())
    return h.hexdigest()


def _stage(splits: dict[str, list[tuple[Path, str]]], out: Path) -> Path:
    """The dataset as ultralytics wants it: split/<canonical class>/file (symlinks), every class present."""
    for s, items in splits.items():
        for c in CLASSES:
            (out / s / c).mkdir(parents=True, exist_ok=True)
        for i, (path, label) in enumerate(items):
            dst = out / s / label / f"{i:06d}{path.suffix.lower()}"
            try:
                dst.symlink_to(path.resolve())
            except OSError:
                shutil.copyfile(path, dst)
    if "val" not in splits:  # ultralytics validates on val/: use the held-out test split
        shutil.copytree(out / "test", out / "val", symlinks=True)
    return out


# ---- held-out evaluation with the ONNX model ---------------------------------------------------
class LearnedJudge(Judge):
    """evaluate.Judge with the learned backend on a given ONNX file (single-image mode)."""

    def __init__(self, onnx_path: str | Path, threshold: float = 0.5, zone: Zone | None = None, threads: int = 1):
        self.onnx_path = Path(onnx_path)
        self.threads = threads
        super().__init__(threshold=threshold, zone=zone or Zone("road", DEFAULT_ZONE), backend="learned")

    def __post_init__(self):
        from vision.analyzer import make_analyzer
        self.analyzers = {c: make_analyzer(c, "learned", onnx_path=self.onnx_path, threads=self.threads)
                          for c in ("flooding", "fallen_tree")}


WHOLE_IMAGE = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


def evaluate_onnx(onnx_path: str | Path, data: str | Path, split: str | None = None, threshold: float = 0.5) -> dict:
    """evaluate.evaluate's figures for one ONNX model on a dataset of zone crops (each image judged whole),
    plus macro_f1 (the figure promotion compares)."""
    m = evaluate(data, LearnedJudge(onnx_path, threshold, Zone("image", WHOLE_IMAGE)), split)
    m["macro_f1"] = round(sum(r["f1"] for r in m["per_class"].values()) / len(m["per_class"]), 4)
    m["split"] = split
    return m


# ---- training ----------------------------------------------------------------------------------
def train(data: str | Path, store: ModelStore, epochs: int = 10, imgsz: int = 64, base: str | None = None,
          batch: int = 16, seed: int = 0, workers: int = 0, log: Callable[[str], None] = print,
          **train_args: Any) -> dict[str, Any]:
    """Train (or fine-tune from `base`), export ONNX, evaluate on the held-out split, store; model.json."""
    data = Path(data).resolve()
    splits = dataset_splits(data)
    held = heldout_split(splits)
    if not splits[held]:
        raise TrainError(f"{data}/{held} has no labelled images")
    base_weights = None
    if base:
        try:
            base = store.resolve(base)
        except ModelStoreError as e:
            raise TrainError(str(e)) from None
        base_weights = store.directory / base / "weights.pt"
        if not base_weights.is_file():
            raise TrainError(f"model {base!r} has no weights.pt to fine-tune from")
    fp = fingerprint(splits, data)
    counts = {s: {c: sum(1 for _, lbl in items if lbl == c) for c in CLASSES} for s, items in splits.items()}
    log(f"train: {data} (fingerprint {fp[:12]}), "
        + "; ".join(f"{s} " + ", ".join(f"{c} {n}" for c, n in cs.items()) for s, cs in counts.items()))

    work = Path(tempfile.mkdtemp(prefix="watch1022-train-"))
    try:
        offline_ultralytics(store.directory / ".ultralytics")
        from ultralytics import YOLO
        staged = _stage(splits, work / "data")
        model = YOLO(str(base_weights)) if base_weights else YOLO(ARCHITECTURE, task="classify")
        args = dict(data=str(staged), epochs=int(epochs), imgsz=int(imgsz), batch=int(batch), workers=int(workers),
                    device="cpu", project=str(work / "runs"), name="train", exist_ok=True, plots=False,
                    amp=False, seed=int(seed), deterministic=True, verbose=True, val=True, cache=False,
                    pretrained=False, nbs=int(batch), **SMALL_DATA_HYP)  # nbs=batch: a step per batch
        args.update(train_args)
        model.train(**args)
        trainer = model.trainer
        weights = Path(trainer.best if Path(trainer.best).exists() else trainer.last)
        model = YOLO(str(weights))
        onnx_file = Path(model.export(format="onnx", imgsz=int(imgsz), dynamic=False, simplify=False,
                                      device="cpu", verbose=False))
        names = model.names if isinstance(model.names, dict) else dict(enumerate(model.names))
        classes = [names[k] for k in sorted(names)]
        log(f"train: evaluating {onnx_file.name} on the held-out split {held}/ ...")
        metrics = evaluate_onnx(onnx_file, data, held)
        meta = {
            "task": "classify", "architecture": ARCHITECTURE if not base else f"fine-tuned from {base}",
            "base": base, "classes": classes, "imgsz": int(imgsz), "input": "zone_bbox, RGB, 0..1",
            "epochs": int(epochs), "seed": int(seed),
            "data": {"path": str(data), "fingerprint": fp, "counts": counts, "heldout": held},
            "metrics": metrics,
        }
        version = store.add(onnx_file, meta, weights)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return store.info(version)


# ---- promotion ---------------------------------------------------------------------------------
class PromotionRefused(Exception):
    pass


def compare(store: ModelStore, candidate: str, against: str | None = CURRENT) -> dict[str, Any]:
    """Both models evaluated on the candidate's held-out split (the same images): their figures and
    whether the candidate is worse (lower macro-F1 over the three classes)."""
    cand = store.info(candidate)
    other = store.resolve(against)
    data = cand.get("data", {})
    root, split = Path(data.get("path", "")), data.get("heldout")
    if not root.is_dir() or not split or not (root / split).is_dir():
        raise PromotionRefused(f"the held-out split of {candidate} ({root}/{split}) is gone: the models cannot "
                               "be compared on the same images (use --force to promote anyway)")
    a = evaluate_onnx(store.directory / candidate / "model.onnx", root, split)
    b = evaluate_onnx(store.directory / other / "model.onnx", root, split)
    return {"candidate": candidate, "current": other, "heldout": f"{root}/{split}", "images": a["images"],
            "candidate_metrics": a, "current_metrics": b,
            "worse": a["macro_f1"] < b["macro_f1"]}


def promote(store: ModelStore, version: str, force: bool = False, log: Callable[[str], None] = print) -> dict:
    version = store.resolve(version)
    current = store.current()
    if current is not None:
        try:
            store.resolve(current)
        except ModelStoreError:  # the promoted model's files are gone: nothing to compare against
            log(f"warning: the current model {current} is missing from {store.directory}")
            current = None
    if current is None or current == version:
        store.set_current(version, forced=force, reason="first model" if current is None else "already current")
        log(f"promoted {version} (no model was current)" if current is None else f"{version} is already current")
        return {"promoted": True, "version": version, "previous": current}
    try:
        c = compare(store, version, current)
    except PromotionRefused as e:
        if not force:
            raise
        log(f"warning: {e}")
        store.set_current(version, forced=True, reason=str(e))
        return {"promoted": True, "version": version, "previous": current, "forced": True}
    a, b = c["candidate_metrics"], c["current_metrics"]
    log(f"held-out {c['heldout']} ({c['images']} images): {version} macro-F1 {a['macro_f1']:.3f} accuracy "
        f"{a['accuracy']:.3f}  vs  current {current} macro-F1 {b['macro_f1']:.3f} accuracy {b['accuracy']:.3f}")
    if c["worse"] and not force:
        raise PromotionRefused(f"{version} is worse than the current model {current} on the held-out split "
                               f"(macro-F1 {a['macro_f1']:.3f} < {b['macro_f1']:.3f}); use --force to promote anyway")
    reason = (f"macro-F1 {a['macro_f1']:.4f} vs {b['macro_f1']:.4f} of {current} on {c['heldout']}"
              + (" (forced: worse)" if c["worse"] else ""))
    store.set_current(version, forced=bool(force and c["worse"]), reason=reason)
    return {"promoted": True, "version": version, "previous": current, "comparison": {
        "candidate_macro_f1": a["macro_f1"], "current_macro_f1": b["macro_f1"], "worse": c["worse"]}}


# ---- synthetic datasets (tests, the bench, the demo) ---------------------------------------------
def synthetic_dataset(root: str | Path, n: dict[str, int] | None = None, seed: int = 0,
                      conditions: tuple[str, ...] = ("day", "night", "rain", "wet"),
                      distractors: float = 2.0) -> dict[str, int]:
    """A YOLO classification dataset of generated scenes, as zone crops (the road zone's bounding box of
    each frame): root/{train,val,test}/<class>/..., each split from its own seeds (seed*10 + 1, 2, 3) so no
    scene is in two splits. n: images per label per condition per split. Plus, in `normal`, distractors × n
    pictures that are not a road seen from a pole (vision.scenes.render_distractor: people close up, a
    street front with a bus), whole or their lower part (what the default eval zone sees), so that a model
    does not learn "anything dark and textured is a tree". With the tests' tiny models (n 8/2/3, 12 epochs at
    64 px, dataset seeds 11..16) ultralytics' bus.jpg and zidane.jpg (whole, and the default eval zone) were
    called an incident in 16 of 24 judgments without distractors and 3 of 24 with 2 × n, at a cost on the
    generated road scenes' held-out accuracy (0.70 -> 0.65 on average, 36 images a seed: noisy). Synthetic
    scenes are test data, never a claim about real cameras."""
    import json

    import cv2

    from vision.evaluate import read_image
    from vision.learned import zone_crop
    from vision.scenes import render_distractor, write_eval_set
    root = Path(root)
    n = n or {"train": 10, "val": 3, "test": 5}
    counts: dict[str, int] = {}
    for i, (split, k) in enumerate(n.items(), start=1):
        tmp = root / f".{split}-tmp"
        write_eval_set(tmp, k, seed * 10 + i, conditions)
        for line in (tmp / "labels.jsonl").read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            src = tmp / rec["file"]
            img = read_image(src)
            crop = zone_crop(img, Zone("road", rec["zone"]))
            dst = root / split / rec["label"] / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
            dst.write_bytes(buf.tobytes())
            counts[f"{split}/{rec['label']}"] = counts.get(f"{split}/{rec['label']}", 0) + 1
        shutil.rmtree(tmp)
        for j in range(int(round(distractors * k))):
            img, label = render_distractor(seed * 10 + i, j)
            if j % 2:
                img = zone_crop(img, Zone("road", DEFAULT_ZONE))
            dst = root / split / label / f"distractor-{j:04d}.jpg"
            dst.parent.mkdir(parents=True, exist_ok=True)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            dst.write_bytes(buf.tobytes())
            counts[f"{split}/{label}"] = counts.get(f"{split}/{label}", 0) + 1
    return counts
