"""`watch1022 eval` and `watch1022 scenes` (registered by watch1022.cli)."""
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
        judge = Judge(threshold=args.threshold, backend=args.backend,
                      **({"zone": _parse_zone(args.zone)} if args.zone else {}))
    except (ValueError, LookupError) as e:
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
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("scenes", help="write a synthetic labelled evaluation set (per condition: day, night, rain, wet)")
    p.add_argument("path")
    p.add_argument("--n", type=int, default=30, help="images per label per condition")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--conditions", default="day,night,rain,wet")
    p.set_defaults(func=cmd_scenes)
