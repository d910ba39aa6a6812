"""Commands of the social part: `watch1022 eval-social FILE.jsonl [--json] [--predictions FILE]`."""
from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path


def register(subparsers, common) -> None:
    p = subparsers.add_parser("eval-social", help="score the social classifier and locator on labelled posts")
    p.add_argument("file", metavar="FILE.jsonl", help="labelled posts: text, category, is_report, street, ward, district")
    p.add_argument("--json", action="store_true", help="last line: one JSON object with the figures")
    p.add_argument("--predictions", metavar="FILE", help="write one JSON line per input post, in input order")
    p.add_argument("--config", metavar="DIR", help="folder with categories.yaml (default: configs/)")
    p.set_defaults(func=eval_social)


def eval_social(args: Namespace) -> int:
    import configs
    from social.classify import Classifier
    from social.evaluate import EvalError, evaluate_rows, format_table, load_rows

    try:
        rows = load_rows(args.file)
    except FileNotFoundError:
        print(f"eval-social: {args.file}: file not found", file=sys.stderr)
        return 2
    except EvalError as e:
        print(f"eval-social: {e}", file=sys.stderr)
        return 2
    categories = [c.code for c in configs.load(args.config).categories.categories]
    figures, preds = evaluate_rows(rows, Classifier(categories=categories))
    if args.predictions:
        with Path(args.predictions).open("w", encoding="utf-8") as f:
            for p in preds:
                f.write(json.dumps(p, ensure_ascii=False) + "\n")
    print(format_table(figures))
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    return 0
