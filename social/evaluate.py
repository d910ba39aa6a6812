"""`watch1022 eval-social FILE.jsonl`: score the classifier and the locator on labelled posts.

Input: one JSON object per line with ``text``, ``category`` (a category code, or anything else such as
``not_incident`` for a non-report), ``is_report`` (true/false) and, where known, ``street``, ``ward``,
``district`` (names as the text uses them — old districts and wards before the July 2025 reform are fine;
several names may be given separated by ";").

Figures:
- per category: precision/recall/F1 of "a current report of this category" (a post counts as predicted
  positive for c when it is predicted a report of c, gold positive when labelled a report of c);
- report / not-report: precision and recall of the is_report decision (and report F1);
- ``category_accuracy``: among posts labelled reports that are predicted reports, the share with the right
  category;
- location: for each of street / ward / district named in the label, whether the prediction names the same
  (compared without diacritics, case, "phường/quận/đường" prefixes and "(cũ)"; an old ward or district is
  equal to the current ward it became and vice versa); ``location_accuracy`` over every named field, and
  ``location_post_accuracy`` over posts (all named fields right).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from social.classify import Classifier
from social.locate import Gazetteer, Locator, Place
from social.normalize import fold

__all__ = ["evaluate_rows", "predict", "load_rows", "format_table", "name_key", "EvalError"]


class EvalError(ValueError):
    pass


_PREFIX = re.compile(r"^(?:phuong|xa(?! lo )|dac khu|quan|huyen|thi xa|thanh pho|tp|duong|pho|hem|tinh lo|quoc lo)\s+")
_PAREN = re.compile(r"\([^)]*\)")
_DATE_WORDS = re.compile(r"\b(\d{1,2}) thang (\d{1,2})\b")


def name_key(name: str | None) -> str:
    """"Phường Bến Thành" → "ben thanh"; "Gò Vấp (cũ)" → "go vap"; "Quận 9" → "9"; "Quốc lộ 1A" → "1a"."""
    if not name:
        return ""
    s = fold(_PAREN.sub(" ", name)).replace("-", " ").replace("–", " ")
    s = " ".join(re.sub(r"[^\w\s/]", " ", s).split())
    for _ in range(2):
        s = _PREFIX.sub("", s)
    s = _DATE_WORDS.sub(r"\1/\2", s)  # "30 Tháng 4" is "30/4"
    if s.isdigit():
        s = str(int(s))
    return s


def _names(value: str | None) -> list[str]:
    return [v for v in (name_key(p) for p in (value or "").split(";")) if v]


def load_rows(path: str | Path) -> list[dict]:
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalError(f"{path}:{n}: not JSON: {e.msg}") from None
        if not isinstance(row, dict) or "text" not in row or "is_report" not in row:
            raise EvalError(f"{path}:{n}: needs at least `text` and `is_report`")
        rows.append(row)
    return rows


def predict(text: str, classifier: Classifier, locator: Locator) -> dict:
    """The prediction for one post, as written by --predictions."""
    cls = classifier.classify(text)
    place = locator.locate(text)
    located = place.level != "city"
    return {
        "category": cls.category,
        "is_report": bool(cls.is_report),
        "confidence": cls.confidence,
        # the place the text names: a landmark ("ngã tư Hàng Xanh") when no street, a district outside the city
        # ("huyện Gia Lâm") when no district of it
        "street": place.street or place.landmark,
        "ward": place.ward,
        "district": place.district or place.other_area,
        "lat": place.lat if located else None,
        "lon": place.lon if located else None,
        "precision": place.precision if located else "city",
        # not written to --predictions; for matching old/new names
        "_place": place,
    }


# ---- old ↔ new names ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Equiv:
    ward_current: dict  # name_key(old ward) + name_key(old district) → set of current ward keys
    ward_districts: dict  # name_key(current ward) → set of name_key(old district)
    legacy_districts: dict  # name_key(old ward) → set of old district keys


_EQUIV: dict[int, _Equiv] = {}


def _equiv(g: Gazetteer) -> _Equiv:
    if id(g) not in _EQUIV:
        _EQUIV[id(g)] = _build_equiv(g)
    return _EQUIV[id(g)]


def _build_equiv(g: Gazetteer) -> _Equiv:
    wc, wd, ld = {}, {}, {}
    for lw in g.legacy_wards:
        dk = _district_keys(lw.district)
        for d in dk:
            if lw.current is not None:
                wc.setdefault((name_key(lw.name), d), set()).add(name_key(lw.current.name))
        ld.setdefault(name_key(lw.name), set()).update(dk)
        if lw.current is not None:
            wd.setdefault(name_key(lw.current.name), set()).update(dk)
    return _Equiv(wc, wd, ld)


def _district_keys(legacy_district: str) -> set[str]:
    k = name_key(legacy_district)
    return {k, "thu duc"} if k in ("2", "9", "thu duc") else {k}


def _pred_district_keys(place: Place, g: Gazetteer) -> set[str]:
    keys: set[str] = set()
    if place.district:
        keys |= _district_keys(place.district)
    if place.ward_legacy:
        keys |= _district_keys(place.ward_legacy.split(", ", 1)[-1])
    if place.ward and not place.district and not place.ward_legacy:
        keys |= _equiv(g).ward_districts.get(name_key(place.ward), set())
    if place.other_area and not place.district:
        keys.add(name_key(place.other_area))
    return keys


def _street_ok(gold: list[str], raw: str | None, pred: dict, g: Gazetteer) -> bool:
    p = name_key(pred["street"])
    # a street's other names are the street: "Xa lộ Hà Nội" is Võ Nguyên Giáp (renamed in 2023), "NVL" Nguyễn Văn Linh
    known = (g.street(n) for n in (raw or "").split(";"))
    gold = gold + [name_key(st.name) for st in known if st is not None]
    return bool(p) and any(p == s or (len(p) > 3 and (p in s or s in p)) for s in gold)


def _ward_ok(gold: list[str], gold_districts: list[str], pred: dict, g: Gazetteer) -> bool:
    place: Place = pred["_place"]
    have = {name_key(place.ward)} if place.ward else set()
    if place.ward_legacy:
        have.add(name_key(place.ward_legacy.split(", ", 1)[0]))
    have.discard("")
    if not have:
        return False
    eq = _equiv(g)
    for w in gold:
        if w in have:
            return True
        for d in gold_districts or list(eq.legacy_districts.get(w, ())):
            if eq.ward_current.get((w, d), set()) & have:
                return True
    return False


def _district_ok(gold: list[str], pred: dict, g: Gazetteer) -> bool:
    return bool(set(gold) & _pred_district_keys(pred["_place"], g))


# ---- scoring --------------------------------------------------------------------------------------------
def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": tp + fn}


def evaluate_rows(rows: Iterable[dict], classifier: Classifier | None = None,
                  locator: Locator | None = None) -> tuple[dict, list[dict]]:
    classifier = classifier or Classifier()
    locator = locator or Locator()
    g = locator.gazetteer
    rows = list(rows)
    preds = [predict(str(r["text"]), classifier, locator) for r in rows]
    cats = list(classifier.categories)
    per_cat = {}
    for c in cats + sorted({r.get("category") for r in rows if r.get("is_report") and r.get("category") not in cats}):
        tp = sum(1 for r, p in zip(rows, preds) if r["is_report"] and r.get("category") == c and p["is_report"] and p["category"] == c)
        fp = sum(1 for r, p in zip(rows, preds) if p["is_report"] and p["category"] == c and not (r["is_report"] and r.get("category") == c))
        fn = sum(1 for r, p in zip(rows, preds) if r["is_report"] and r.get("category") == c and not (p["is_report"] and p["category"] == c))
        if tp + fp + fn:
            per_cat[c] = _prf(tp, fp, fn)
    tp = sum(1 for r, p in zip(rows, preds) if r["is_report"] and p["is_report"])
    fp = sum(1 for r, p in zip(rows, preds) if not r["is_report"] and p["is_report"])
    fn = sum(1 for r, p in zip(rows, preds) if r["is_report"] and not p["is_report"])
    tn = len(rows) - tp - fp - fn
    report = _prf(tp, fp, fn)
    not_report = _prf(tn, fn, fp)
    both = [(r, p) for r, p in zip(rows, preds) if r["is_report"] and p["is_report"]]
    cat_right = sum(1 for r, p in both if r.get("category") == p["category"])

    fields_total = fields_right = posts_total = posts_right = 0
    by_field = {k: [0, 0] for k in ("street", "ward", "district")}
    for r, p in zip(rows, preds):
        gs, gw, gd = _names(r.get("street")), _names(r.get("ward")), _names(r.get("district"))
        if not (gs or gw or gd):
            continue
        posts_total += 1
        ok_all = True
        for key, gold, ok in (("street", gs, lambda: _street_ok(gs, r.get("street"), p, g)),
                              ("ward", gw, lambda: _ward_ok(gw, gd, p, g)),
                              ("district", gd, lambda: _district_ok(gd, p, g))):
            if not gold:
                continue
            right = ok()
            by_field[key][0] += 1
            by_field[key][1] += right
            fields_total += 1
            fields_right += right
            ok_all &= right
        posts_right += ok_all
    figures = {
        "posts": len(rows),
        "report": report,
        "not_report": not_report,
        "report_f1": report["f1"],
        "report_accuracy": round((tp + tn) / len(rows), 4) if rows else 0.0,
        "category_accuracy": round(cat_right / len(both), 4) if both else None,
        "categories": per_cat,
        "location_accuracy": round(fields_right / fields_total, 4) if fields_total else None,
        "location_post_accuracy": round(posts_right / posts_total, 4) if posts_total else None,
        "location_fields": {k: {"named": n, "right": ok, "accuracy": round(ok / n, 4) if n else None}
                            for k, (n, ok) in by_field.items()},
    }
    out_preds = [{k: v for k, v in p.items() if not k.startswith("_")} for p in preds]
    return figures, out_preds


def format_table(f: dict) -> str:
    lines = [f"{'category':22} {'P':>6} {'R':>6} {'F1':>6} {'n':>5}"]
    for c, m in f["categories"].items():
        lines.append(f"{c:22} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:5d}")
    lines.append("-" * 48)
    for name in ("report", "not_report"):
        m = f[name]
        lines.append(f"{name:22} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:5d}")
    ca = f["category_accuracy"]
    lines.append(f"category right (on reports found): {'-' if ca is None else f'{ca:.3f}'}")
    la = f["location_accuracy"]
    lines.append(f"location accuracy (named fields):   {'-' if la is None else f'{la:.3f}'}  " + "  ".join(
        f"{k} {v['right']}/{v['named']}" for k, v in f["location_fields"].items() if v["named"]))
    lines.append(f"posts: {f['posts']}")
    return "\n".join(lines)
