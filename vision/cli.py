"""`watch1022 eval`, `scenes`, `train`, `models list|promote` and `export-dataset` (registered by watch1022.cli)."""
from __future__ import annotations

import json
import sys


def _parse_zone(text: str):
    pts = [tuple(float(v) for v in p.split(",")) for p in text.split(";") if p.strip()]
    from vision.zones import Zone
    return Zone("road", pts)


def cmd_eval(args) -> int:
    from vision.evaluate import Judge, evaluate, format_report
    try:
        zone = {"zone": _parse_zone(args.zone)} if args.zone else {}
        if args.model:  # the learned backend on a stored version ("current") or an .onnx file
            from vision.train import LearnedJudge
            onnx = args.model if args.model.endswith(".onnx") else _store(args).path(args.model)
            judge = LearnedJudge(onnx, threshold=args.threshold, **zone)
        else:
            judge = Judge(threshold=args.threshold, backend=args.backend, **zone)
    except (ValueError, LookupError, OSError) as e:
        print(f"eval: {e}", file=sys.stderr)
        return 2
    out = open(args.predictions, "w", encoding="utf-8") if args.predictions else None
    try:
        def write(rec):
            if out:
                out.write(json.dumps({"path": rec["path"], "label": rec["label"], "score": rec["score"]},
                                     ensure_ascii=False) + "\n")
        m = evaluate(args.path, judge, args.split, write)
    except FileNotFoundError as e:
        print(f"eval: {e}", file=sys.stderr)
        return 2
    finally:
        if out:
            out.close()
    if m["images"] == 0:
        print(f"eval: no labelled images under {args.path} (folders flooding/, fallen_tree/, normal/)", file=sys.stderr)
        return 2
    print(format_report(m))
    if args.json:
        print(json.dumps(m, ensure_ascii=False))
    return 0


def cmd_scenes(args) -> int:
    from vision.scenes import CONDITIONS, write_eval_set
    conds = [c.strip() for c in args.conditions.split(",") if c.strip()]
    bad = [c for c in conds if c not in CONDITIONS]
    if bad:
        print(f"scenes: unknown condition(s) {bad} (known: {', '.join(CONDITIONS)})", file=sys.stderr)
        return 2
    counts = write_eval_set(args.path, args.n, args.seed, conds)
    print(f"wrote {sum(counts.values())} synthetic labelled frames under {args.path} (seed {args.seed}): "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


def _store(args):
    from vision.modelstore import ModelStore, default_model_dir
    return ModelStore(args.model_dir or default_model_dir(getattr(args, "config", None)))


def cmd_train(args) -> int:
    from vision.modelstore import vision_settings
    from vision.train import TrainError, train
    conf = vision_settings(args.config)
    try:
        info = train(args.data, _store(args), epochs=args.epochs or conf.epochs, imgsz=args.imgsz or conf.imgsz,
                     base=args.base, batch=args.batch, seed=args.seed)
    except TrainError as e:
        print(f"train: {e}", file=sys.stderr)
        return 2
    m = info["metrics"]
    print(f"model {info['version']}: held-out {info['data']['heldout']}/ ({m['images']} images) accuracy "
          f"{m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}; "
          + ", ".join(f"{c} P {r['precision']:.2f} R {r['recall']:.2f} F1 {r['f1']:.2f}" for c, r in m["per_class"].items()))
    print(f"promote it with: watch1022 models promote {info['version']}")
    if args.json:
        print(json.dumps({"version": info["version"], "metrics": {k: m[k] for k in ("images", "accuracy", "macro_f1",
                                                                               "per_class", "confusion")}}))
    return 0


def cmd_models_list(args) -> int:
    store = _store(args)
    current = store.current()
    rows = store.versions()
    if args.json:
        print(json.dumps({"current": current, "models": [
            {"version": r["version"], "created_at": r.get("created_at"), "base": r.get("base"),
             "classes": r.get("classes"), "imgsz": r.get("imgsz"), "data_fingerprint": r.get("data", {}).get("fingerprint"),
             "metrics": {k: r.get("metrics", {}).get(k) for k in ("images", "accuracy", "macro_f1", "per_class")}}
            for r in rows]}, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no models in {store.directory} (train one with `watch1022 train --data DATASET`)")
        return 0
    print(f"{'':2}{'version':<26} {'created':<25} {'acc':>6} {'mF1':>6} {'F1 flood':>8} {'F1 tree':>8} {'F1 norm':>8}  data")
    for r in rows:
        m = r.get("metrics", {})
        pc = m.get("per_class", {})
        f = lambda c: f"{pc[c]['f1']:>8.3f}" if c in pc else f"{'-':>8}"  # noqa: E731
        print(f"{'*' if r['version'] == current else ' ':2}{r['version']:<26} {r.get('created_at', ''):<25} "
              f"{m.get('accuracy', 0):>6.3f} {m.get('macro_f1', 0):>6.3f} {f('flooding')} {f('fallen_tree')} "
              f"{f('normal')}  {r.get('data', {}).get('fingerprint', '')[:12]} ({m.get('images', 0)} held-out)")
    print("* current" if current else "no model is promoted yet (watch1022 models promote VERSION)")
    return 0


def cmd_models_promote(args) -> int:
    from vision.modelstore import ModelStoreError
    from vision.train import PromotionRefused, promote
    try:
        out = promote(_store(args), args.version, force=args.force)
    except PromotionRefused as e:
        print(f"models promote: refused: {e}", file=sys.stderr)
        return 1
    except ModelStoreError as e:
        print(f"models promote: {e}", file=sys.stderr)
        return 2
    print(f"current model: {out['version']}" + (f" (was {out['previous']})" if out.get("previous") else ""))
    return 0


def cmd_export_dataset(args) -> int:
    from models.db import Database
    from vision.dataset_export import export_dataset
    from watch1022.runtime import load_config
    cfg = load_config(args.config, args.database)
    db = Database(cfg.database_url())
    try:
        with db.session() as s:
            zones = {(c.id, z.name): [list(p) for p in z.polygon] for c in cfg.cameras.cameras for z in c.zones}
            m = export_dataset(s, cfg.resolve(cfg.bridge.evidence_dir), args.out, zones)
    finally:
        db.dispose()
    print(f"wrote {m['images']} images under {args.out}: "
          + "; ".join(f"{sp} " + (", ".join(f"{c} {n}" for c, n in sorted(cs.items())) or "none")
                      for sp, cs in m["counts"].items())
          + "; skipped " + (", ".join(f"{k} {v}" for k, v in m["skipped"].items() if v) or "none")
          + (f"; {m['uncropped']} whole frames (zone unknown)" if m["uncropped"] else ""))
    if args.json:
        print(json.dumps({k: m[k] for k in ("images", "counts", "skipped")}))
    return 0


def register(sub, common) -> None:
    p = sub.add_parser("eval", help="judge a labelled image folder (flooding/ fallen_tree/ normal/, or a YOLO "
                                    "classification dataset) in single-image mode: precision/recall/F1")
    p.add_argument("path")
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--backend", default="classical")
    p.add_argument("--split", help="YOLO dataset split folder (default: test, else val, else all)")
    p.add_argument("--zone", help="analysis zone as relative points 'x,y;x,y;...' (default: lower 55%% of the frame)")
    p.add_argument("--json", action="store_true", help="last line: one JSON object with the figures")
    p.add_argument("--predictions", metavar="FILE", help="write one JSON line per image: path, label, score")
    p.add_argument("--model", help="learned backend: a model version, 'current', or an .onnx file")
    p.add_argument("--model-dir", metavar="DIR", help="model store (default: vision.yaml model_dir)")
    p.add_argument("--config", metavar="DIR", help="config folder (for vision.yaml)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("scenes", help="write a synthetic labelled evaluation set (per condition: day, night, rain, wet)")
    p.add_argument("path")
    p.add_argument("--n", type=int, default=30, help="images per label per condition")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--conditions", default="day,night,rain,wet")
    p.set_defaults(func=cmd_scenes)

    p = sub.add_parser("train", help="train (or fine-tune) a learned classify model from a YOLO classification "
                                     "dataset, export ONNX, store it versioned with its held-out metrics")
    common(p)
    p.add_argument("--data", required=True, metavar="DATASET", help="train/ val/ [test/] with class sub-folders")
    p.add_argument("--epochs", type=int, help="default: vision.yaml epochs")
    p.add_argument("--imgsz", type=int, help="square input size in pixels (default: vision.yaml imgsz)")
    p.add_argument("--base", metavar="MODEL_VERSION", help="fine-tune from this stored version ('current' allowed)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-dir", metavar="DIR", help="model store (default: vision.yaml model_dir)")
    p.add_argument("--json", action="store_true", help="last line: one JSON object with the version and metrics")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("models", help="the learned models: list versions with metrics, promote one to current")
    msub = p.add_subparsers(dest="models_command", required=True)
    q = msub.add_parser("list", help="every stored version with its held-out metrics; * marks the current one")
    common(q)
    q.add_argument("--model-dir", metavar="DIR")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_models_list)
    q = msub.add_parser("promote", help="make VERSION current; refused if it is worse than the current model "
                                        "on its held-out split (both re-evaluated on the same images)")
    common(q)
    q.add_argument("version")
    q.add_argument("--force", action="store_true", help="promote even if worse (or not comparable)")
    q.add_argument("--model-dir", metavar="DIR")
    q.set_defaults(func=cmd_models_promote)

    p = sub.add_parser("export-dataset", help="write the frames of reviewed camera candidates as a YOLO "
                                              "classification dataset labelled by the operators' verdicts")
    common(p)
    p.add_argument("out", metavar="OUT")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export_dataset)
