"""The learned backend and the model lifecycle: a tiny YOLO classify model trained here on generated
scenes, exported to ONNX and run without torch; versioned store, promotion that refuses a worse model,
and the dataset export from operators' verdicts (SQLite and PostgreSQL).

Synthetic scenes are test data, never a claim about real cameras. The models trained here are tiny
(a few epochs at 64 px): the tests check the mechanics and that training learns *something*."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

pytest.importorskip("onnxruntime")

from configs.schema import AnalyzerSettings, CameraConf  # noqa: E402
from models.candidate import CITY_TZ, Candidate  # noqa: E402
from vision.analyzer import AnalyzeContext, make_analyzer  # noqa: E402
from vision.modelstore import ModelStore, ModelStoreError  # noqa: E402
from vision.zones import Zone  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["fallen_tree", "flooding", "normal"]
# generated-scene seeds: split seeds are 10*SEED + 1..3 (train/val/test); disjoint from the classical
# analyzers' tuning seeds and the demo samples
SEED = 71


def constant_onnx(path: Path, probs=(0.01, 0.01, 0.98), imgsz: int = 64) -> Path:
    """A hand-built ONNX 'model' answering the same probabilities for any input: a worse-than-anything
    baseline for promotion, and an inference check that needs no training."""
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, imgsz, imgsz])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3])
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),  # all axes → scalar
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["z", "probs"], ["output0"]),
    ]
    inits = [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
             helper.make_tensor("probs", TensorProto.FLOAT, [1, 3], list(probs))]
    model = helper.make_model(helper.make_graph(nodes, "constant", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 18)])
    onnx.helper.set_model_props(model, {"names": str(dict(enumerate(CLASSES)))})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def test_analyzer_settings_model_validation():
    assert AnalyzerSettings(backend="learned", model="current").model == "current"
    assert AnalyzerSettings(backend="learned", model="20261129-075608-f6ef66f2").model
    assert AnalyzerSettings(backend="learned").model is None  # → current
    with pytest.raises(ValidationError, match="not a model version"):
        AnalyzerSettings(backend="learned", model="../../etc/passwd")
    with pytest.raises(ValidationError, match="backend is 'classical'"):
        AnalyzerSettings(model="current")


def test_constant_onnx_through_the_analyzer_interface(tmp_path):
    onnx_file = constant_onnx(tmp_path / "const" / "model.onnx", probs=(0.2, 0.7, 0.1))
    img = np.full((360, 640, 3), 90, np.uint8)
    zone = Zone("road", [(0, 0.5), (1, 0.5), (1, 1), (0, 1)])
    a = make_analyzer("flooding", "learned", onnx_path=onnx_file)
    obs = a.analyze(img, zone, AnalyzeContext("cam", threshold=0.5, mode="single"))
    assert obs.score == pytest.approx(0.7, abs=1e-5) and obs.positive and obs.category == "flooding"
    assert obs.detail["top_class"] == "flooding" and obs.boxes and obs.boxes[0].y == pytest.approx(0.5, abs=0.01)
    t = make_analyzer("fallen_tree", "learned", onnx_path=onnx_file)
    obs = t.analyze(img, zone, AnalyzeContext("cam", threshold=0.5, mode="single"))
    assert obs.score == pytest.approx(0.2, abs=1e-5) and not obs.positive and not obs.boxes


def test_missing_model_names_the_store(tmp_path):
    a = make_analyzer("flooding", "learned", model="current", model_dir=tmp_path / "empty")
    with pytest.raises(ModelStoreError, match="no model is promoted"):
        a.analyze(np.zeros((64, 64, 3), np.uint8), Zone("z", [(0, 0), (1, 0), (1, 1)]), AnalyzeContext("c"))
    with pytest.raises(ModelStoreError, match="is not in"):
        ModelStore(tmp_path / "empty").resolve("nope")


# ---- training (module scope: one tiny model for the tests below) ---------------------------------
@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
    from vision.train import synthetic_dataset
    from watch1022.cli import main
    base = tmp_path_factory.mktemp("learned")
    data = base / "data"
    synthetic_dataset(data, {"train": 8, "val": 2, "test": 3}, seed=SEED)
    store = ModelStore(base / "models")
    # the worst possible "model" first (always `normal`), promoted as current
    const_meta = {"task": "classify", "classes": CLASSES, "imgsz": 64, "created_at": "2026-01-01T00:00:00+07:00",
                  "data": {"path": str(data), "heldout": "test", "fingerprint": "-"}, "metrics": {}}
    const = store.add(constant_onnx(base / "const.onnx"), const_meta, version="const-normal")
    store.set_current(const)
    rc = main(["train", "--data", str(data), "--epochs", "12", "--batch", "8", "--imgsz", "64", "--model-dir", str(store.directory)])
    assert rc == 0
    trained = [m["version"] for m in store.versions() if m["version"] != const]
    assert len(trained) == 1
    return {"data": data, "store": store, "const": const, "trained": trained[0]}


def test_train_writes_a_versioned_model_with_heldout_metrics(lifecycle):
    store, v = lifecycle["store"], lifecycle["trained"]
    d = store.directory / v
    assert (d / "model.onnx").is_file() and (d / "weights.pt").is_file()
    meta = json.loads((d / "model.json").read_text())
    assert meta["version"] == v and meta["classes"] == CLASSES and meta["imgsz"] == 64
    assert meta["created_at"] and len(meta["data"]["fingerprint"]) == 64 and meta["data"]["heldout"] == "test"
    m = meta["metrics"]
    assert m["images"] == sum(meta["data"]["counts"]["test"].values()) > 0
    assert set(m["per_class"]) == set(CLASSES) and 0 <= m["accuracy"] <= 1
    for r in m["per_class"].values():
        assert {"precision", "recall", "f1", "support"} <= set(r)
    assert m["macro_f1"] > 1 / 6 + 0.05, f"a tiny model should beat always-normal: {m}"  # 1/6: constant's macro-F1
    assert os.environ.get("YOLO_OFFLINE") == "1"  # set by the training code itself


def test_inference_needs_no_torch(lifecycle):
    """A camera's learned check in a fresh interpreter: onnxruntime only, torch never imported."""
    store = lifecycle["store"]
    store.set_current(lifecycle["trained"], forced=True)
    code = textwrap.dedent(f"""
        import sys, json
        import numpy as np
        from vision.analyzer import AnalyzeContext, make_analyzer
        from vision.scenes import render_frame
        from vision.zones import Zone
        img, label = render_frame(424242, 3, water=0.9)
        zone = Zone("road", label.zone)
        out = {{}}
        for cat in ("flooding", "fallen_tree"):
            a = make_analyzer(cat, "learned", model="current", model_dir={str(store.directory)!r})
            o = a.analyze(img, zone, AnalyzeContext("cam", threshold=0.5, mode="camera"))
            out[cat] = [o.score, a.model_version]
        out["torch"] = "torch" in sys.modules
        out["ultralytics"] = "ultralytics" in sys.modules
        print(json.dumps(out))
    """)
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["torch"] is False and out["ultralytics"] is False
    assert out["flooding"][1] == lifecycle["trained"]
    assert 0 <= out["flooding"][0] <= 1 and 0 <= out["fallen_tree"][0] <= 1
    store.set_current(lifecycle["const"], forced=True)  # back to the fixture's starting point


def test_promote_refuses_worse_and_force_overrides(lifecycle, capsys):
    from watch1022.cli import main
    store, good, const = lifecycle["store"], lifecycle["trained"], lifecycle["const"]
    md = ["--model-dir", str(store.directory)]
    store.set_current(const, forced=True)
    assert main(["models", "promote", good, *md]) == 0  # better than always-normal
    assert store.current() == good
    assert main(["models", "promote", const, *md]) == 1  # worse on the same held-out images: refused
    err = capsys.readouterr().err
    assert "worse than the current model" in err and "--force" in err
    assert store.current() == good
    assert main(["models", "promote", const, "--force", *md]) == 0
    assert store.current() == const and json.loads((store.directory / "current.json").read_text())["forced"]
    assert main(["models", "promote", "no-such-version", *md]) == 2
    store.set_current(good, forced=True)
    capsys.readouterr()
    assert main(["models", "list", "--json", *md]) == 0
    listing = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listing["current"] == good and {m["version"] for m in listing["models"]} == {good, const}
    assert main(["models", "list", *md]) == 0
    text = capsys.readouterr().out
    assert f"* {good}" in text.replace("*  ", "* ")


def test_eval_command_with_a_stored_model(lifecycle, capsys):
    from watch1022.cli import main
    store = lifecycle["store"]
    store.set_current(lifecycle["trained"], forced=True)
    # the dataset's images are zone crops: judged whole, as the stored metrics were (the default zone, the
    # lower 55 % of a full frame, would judge a crop of the crop and agree with them only by chance)
    assert main(["eval", str(lifecycle["data"]), "--split", "test", "--model", "current", "--zone", "0,0;1,0;1,1;0,1",
                 "--model-dir", str(store.directory), "--json"]) == 0
    m = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert m["backend"] == "learned" and m["images"] > 0
    assert m["accuracy"] == json.loads((store.directory / lifecycle["trained"] / "model.json").read_text())["metrics"]["accuracy"]


def test_runner_builds_learned_checks_from_camera_config(lifecycle, monkeypatch):
    """A camera picks the learned backend per zone in config; the runner's registry call resolves it."""
    from monitors.runner import build_zone_checks
    from vision.scenes import render_frame
    store = lifecycle["store"]
    store.set_current(lifecycle["trained"], forced=True)
    monkeypatch.setenv("WATCH1022_MODEL_DIR", str(store.directory))
    cam = CameraConf.model_validate({
        "id": "cam-l", "name": "learned cam", "kind": "image_folder", "url": "samples", "location": {"lat": 10.8, "lon": 106.7},
        "zones": [{"name": "road", "polygon": [[0, 0.45], [1, 0.45], [1, 1], [0, 1]],
                   "analyzers": {"flooding": {"backend": "learned", "model": "current", "threshold": 0.6},
                                 "fallen_tree": {"backend": "classical"}}}]})
    checks, problems = build_zone_checks(cam)
    assert not problems and len(checks) == 2
    learned = next(c for c in checks if c.category == "flooding")
    assert learned.analyzer.backend == "learned"
    img, _ = render_frame(5151, 1, water=0.9)
    obs = learned.analyzer.analyze(img, learned.zone, AnalyzeContext("cam-l", threshold=learned.threshold))
    assert learned.analyzer.model_version == lifecycle["trained"] and obs.threshold == 0.6


def test_fine_tune_from_base(lifecycle):
    from vision.train import train
    store = lifecycle["store"]
    info = train(lifecycle["data"], store, epochs=1, imgsz=64, base=lifecycle["trained"])
    assert info["base"] == lifecycle["trained"] and info["version"] != lifecycle["trained"]
    assert info["data"]["fingerprint"] == store.info(lifecycle["trained"])["data"]["fingerprint"]
    from vision.train import TrainError
    with pytest.raises(TrainError, match="no weights.pt"):
        train(lifecycle["data"], store, epochs=1, base=lifecycle["const"])


def test_train_refuses_an_incomplete_dataset(tmp_path):
    from vision.train import TrainError, dataset_splits
    (tmp_path / "train" / "flooding").mkdir(parents=True)
    (tmp_path / "val").mkdir()
    with pytest.raises(TrainError, match="no images of class"):
        dataset_splits(tmp_path)
    with pytest.raises(TrainError, match="no train/"):
        dataset_splits(tmp_path / "val")


# ---- export-dataset ----------------------------------------------------------------------------
def _fill(db_url: str, evidence_dir: Path, raw_frames: dict | None = None) -> dict[str, str]:
    """Camera candidates stored through the bridge (store_candidate), then verdicts as status sync
    records them. Returns candidate id → expected label (None: skipped). Even-numbered candidates have their
    evidence stored as the monitor does (annotated frame + raw frame beside it; raw_frames gets candidate id →
    the raw image), odd-numbered ones only an annotated-like frame (evidence kept before raw frames were)."""
    import configs
    from bridge.fusion import store_candidate
    from models.db import Database
    from models.tables import Camera, Incident, Verdict
    from models.tables import Zone as ZoneRow
    from vision.evidence import EvidenceStore, render_evidence
    from vision.scenes import render_frame
    from vision.zones import Zone
    import cv2
    cats = configs.load().categories.by_code()
    ev = EvidenceStore(evidence_dir)
    db = Database(db_url)
    db.migrate()
    plan = [  # (category, verdict, place) — far-apart places: one incident each
        ("flooding", "accepted", 0), ("flooding", "resolved", 1), ("flooding", "rejected", 2),
        ("fallen_tree", "accepted", 3), ("fallen_tree", "rejected", 4), ("flooding", "duplicate", 5),
        ("flooding", None, 6), ("fallen_tree", "accepted", 7), ("flooding", "accepted", 8), ("flooding", "rejected", 9),
        ("flooding", "accepted", 0),  # a second look at place 0: merged into the first incident, same split
    ]
    expected = {}
    t0 = datetime(2026, 11, 28, 17, 0, tzinfo=CITY_TZ)
    with db.session() as s:
        for place in range(5):  # cameras 0..4 are in the registry with their road zone; 5..9 are not (uncropped)
            cam = Camera(id=f"cam-{place}", name=f"cam {place}", kind="image_folder", url="x", lat=10.7, lon=106.7)
            cam.zones = [ZoneRow(name="road", polygon=[[0, 0.5], [1, 0.5], [1, 1], [0, 1]], thresholds={})]
            s.add(cam)
        s.flush()
        for i, (cat, verdict, place) in enumerate(plan):
            img, _ = render_frame(8000 + i, i, water=0.9 if cat == "flooding" else 0.0, tree=cat == "fallen_tree")
            if i % 2 == 0:
                jpeg = render_evidence(img, [Zone("road", [[0, 0.5], [1, 0.5], [1, 1], [0, 1]])], [], f"cam-{place}",
                                       0.5, t0 + timedelta(minutes=i))
            else:
                ok, buf = cv2.imencode(".jpg", img)
                jpeg = buf.tobytes()
            sha, uri = ev.put(jpeg)
            cand = Candidate.create(
                source="camera", source_ref=f"cam-{place}/road/{cat}/frame-{i}", category=cat, confidence=0.8,
                observed_at=t0 + timedelta(minutes=i), location={"lat": 10.70 + place * 0.02, "lon": 106.70, "precision": "exact"},
                summary=f"test {cat}", evidence=[{"kind": "frame", "uri": uri, "sha256": sha, "score": 0.8}],
                attributes={"camera_id": f"cam-{place}", "zone": "road"},
                detector={"name": cat, "backend": "classical", "model_version": "", "threshold": 0.5})
            stored = store_candidate(s, cand, cats[cat])
            s.flush()
            if verdict:
                inc = s.get(Incident, stored.incident_id)
                inc.status = verdict
                s.add(Verdict(incident_id=inc.id, verdict=verdict, core_status="closed", status_notes=verdict))
            label = {"accepted": cat, "resolved": cat, "rejected": "normal"}.get(verdict or "")
            expected[cand.id] = label
            if raw_frames is not None and i % 2 == 0:
                raw_frames[cand.id] = img
    db.dispose()
    return expected


def _check_export(db_url: str, tmp_path: Path):
    from vision.dataset_export import split_of
    from watch1022.cli import main
    evidence = tmp_path / "evidence"
    raw_frames: dict = {}
    expected = _fill(db_url, evidence, raw_frames)
    conf = tmp_path / "conf"
    import shutil
    shutil.copytree(ROOT / "configs", conf, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    bridge = (conf / "bridge.yaml").read_text()
    (conf / "bridge.yaml").write_text(bridge.replace("evidence_dir: var/evidence", f"evidence_dir: {evidence}")
                                      if "evidence_dir:" in bridge else bridge + f"\nevidence_dir: {evidence}\n")
    out = tmp_path / "dataset"
    assert main(["export-dataset", str(out), "--config", str(conf), "--database", db_url]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    want = {k: v for k, v in expected.items() if v}
    assert manifest["images"] == len(want) == 9
    assert manifest["skipped"]["duplicate"] == 1 and manifest["skipped"]["no_verdict"] == 1
    assert manifest["uncropped"] == 3  # cameras 7, 8, 9 have no known zone: whole frames
    import cv2
    shapes = {it["candidate_id"]: cv2.imread(str(out / it["file"])).shape[:2] for it in manifest["items"]}
    assert sorted(shapes.values()).count((180, 640)) == 6 and sorted(shapes.values()).count((360, 640)) == 3
    by_cand = {it["candidate_id"]: it for it in manifest["items"]}
    assert set(by_cand) == set(want)
    for cid, label in want.items():
        it = by_cand[cid]
        assert it["label"] == label and it["split"] == split_of(it["split_key"])
        assert (out / it["file"]).is_file()
    # the raw frame is exported where the store kept one (no zone outline or labels drawn on it)
    for cid, it in by_cand.items():
        assert it["frame"] == ("raw" if cid in raw_frames else "annotated")
    assert manifest["annotated_only"] == sum(1 for it in manifest["items"] if it["frame"] == "annotated") > 0
    for cid, img in raw_frames.items():
        if cid not in by_cand:
            continue
        got = cv2.imread(str(out / by_cand[cid]["file"])).astype(np.int16)
        want_img = img[-got.shape[0]:] if got.shape[0] < img.shape[0] else img  # the zone crop: the lower half
        assert np.abs(got - want_img.astype(np.int16)).mean() < 3.0
    merged = [it for it in manifest["items"] if it["incident_id"] == manifest["items"][0]["incident_id"]]
    by_inc = {}
    for it in manifest["items"]:
        by_inc.setdefault(it["incident_id"], set()).add((it["split"], it["split_key"]))
    assert all(len(v) == 1 for v in by_inc.values())  # one incident's frames: one split
    assert max(len([i for i in manifest["items"] if i["incident_id"] == k]) for k in by_inc) == 2 and merged
    for split in ("train", "val", "test"):
        for c in CLASSES:
            assert (out / split / c).is_dir()
    # deterministic: a second export writes the same files in the same splits
    out2 = tmp_path / "dataset2"
    assert main(["export-dataset", str(out2), "--config", str(conf), "--database", db_url]) == 0
    files = lambda d: sorted(p.relative_to(d).as_posix() for p in d.rglob("*.jpg"))  # noqa: E731
    assert files(out) == files(out2) and len(files(out)) == 9


def test_export_dataset_sqlite(tmp_path):
    _check_export(f"sqlite:///{tmp_path}/w.db", tmp_path)


def test_export_dataset_postgres(tmp_path, pg_url):
    _check_export(pg_url, tmp_path)


def test_split_is_deterministic_and_roughly_70_15_15():
    from vision.dataset_export import split_of
    splits = [split_of(f"cand-{i}") for i in range(2000)]
    assert splits == [split_of(f"cand-{i}") for i in range(2000)]
    share = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert 0.65 < share["train"] < 0.75 and 0.11 < share["val"] < 0.19 and 0.11 < share["test"] < 0.19


def test_runner_passes_the_zone_model_version_to_the_learned_analyzer():
    """A zone pinned to a model version runs that version, not the promoted one."""
    from monitors.runner import build_zone_checks
    cam = CameraConf.model_validate({
        "id": "cam-v", "name": "pinned", "kind": "image_folder", "url": "samples", "location": {"lat": 10.8, "lon": 106.7},
        "zones": [{"name": "road", "polygon": [[0, 0.45], [1, 0.45], [1, 1], [0, 1]],
                   "analyzers": {"flooding": {"backend": "learned", "model": "v-pinned"}}}]})
    checks, problems = build_zone_checks(cam)
    assert not problems and checks[0].analyzer.model == "v-pinned"
