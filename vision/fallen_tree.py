"""Classical fallen-tree analyzer: is the road zone blocked by a tree (crown, trunk, branches)?

A tree lying on a road is foliage where there should be asphalt: many small leaf clusters of varied
greens (OpenCV hue ≈ 28..95, some saturation) with a high local variance of grey levels and ragged
edges, usually with a trunk or branches crossing the lanes. Per pixel at a working width of at most
`work_width` px:

* foliage: green hue, saturation and brightness in range, and a textured neighbourhood (local std
  ≥ `texture_min`): a green bus, a painted bike lane or a green tarpaulin are uniform and fail;
* the foliage pixels are closed into blobs; each blob is kept only if it is not box-like and uniform
  (a vehicle: rectangular, one colour, `fill_max`) and is dense enough in foliage (`density_min`).

What is blocked: `blocked_share` = kept tree pixels / zone pixels, and `width_share` = how much of the
zone's width the tree covers on the rows it spans (80th percentile), the number that tells whether
traffic can pass. The score is a logistic of width_share, gated by a minimum area.

Not trees: shadows (darker, same hue as the asphalt, no green), people (small, upright), parked
vehicles (uniform, rectangular, specular). In per-camera mode a pixel also has to differ from the
calm reference of the zone (vision.baseline), so roadside greenery that was always there is ignored.

Known limits: night/IR frames have no hue; there only a strong texture change against the baseline
(per-camera mode) can see a tree, and in single-image mode the score is capped (`colourless`).
Trunks alone (without leaves) are not detected.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from models.candidate import Box
from vision.analyzer import AnalyzeContext, Analyzer, Observation
from vision.baseline import ZoneBaseline, local_std
from vision.zones import Zone


@dataclass(frozen=True)
class FallenTreeParams:
    work_width: int = 320
    hue_lo: int = 28
    hue_hi: int = 95
    sat_lo: int = 45
    val_lo: int = 20
    val_hi: int = 235
    texture_win: int = 5
    texture_min: float = 9.0  # local std of grey levels: foliage is busy
    close_px: int = 7  # merge leaf clusters into a crown
    min_blob: float = 0.004  # of the analysed area
    fill_max: float = 0.75  # box-like blobs (vehicles) ...
    uniform_max: float = 40.0  # ... that are not very busy inside are not trees
    density_min: float = 0.45  # share of foliage pixels in a kept blob
    colourless_sat: float = 8.0
    dark_val: float = 60.0  # median brightness below which hues are unreliable (night)
    ir_texture_ratio: float = 2.2  # baseline mode without colour: texture this much above the reference
    change_de: float = 12.0
    width_mid: float = 0.35  # width share at which the score is 0.5
    width_slope: float = 0.07
    area_min: float = 0.02  # below this blocked share the score is scaled down
    calm_score: float = 0.25
    baseline_warmup: int = 3
    baseline_rate: float = 0.05


class FallenTreeAnalyzer(Analyzer):
    category = "fallen_tree"
    backend = "classical"
    model_version = "fallen_tree-classical-1"

    def __init__(self, params: FallenTreeParams | None = None, **overrides):
        base = params or FallenTreeParams()
        self.params = FallenTreeParams(**{**asdict(base), **overrides}) if overrides else base
        self.baseline = ZoneBaseline(warmup=self.params.baseline_warmup, rate=self.params.baseline_rate)

    def reset(self) -> None:
        self.baseline.reset()

    def summary_vi(self, obs: Observation) -> str:
        w = obs.detail.get("width_share", 0.0)
        return f"nghi cây ngã chắn khoảng {w:.0%} bề ngang vùng '{obs.zone}'"

    def analyze(self, image: np.ndarray, zone: Zone, ctx: AnalyzeContext) -> Observation:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a BGR image, got shape {image.shape}")
        p = self.params
        h, w = image.shape[:2]
        zmask = zone.mask(h, w)
        x0, y0, x1, y1 = zone.bbox(h, w)
        crop = image[y0:y1, x0:x1]
        ch, cw = crop.shape[:2]
        s = min(1.0, p.work_width / w)
        ww, wh = max(8, round(cw * s)), max(8, round(ch * s))
        work = cv2.resize(crop, (ww, wh), interpolation=cv2.INTER_AREA) if s < 1.0 else crop
        wh, ww = work.shape[:2]
        zwork = cv2.resize(zmask[y0:y1, x0:x1], (ww, wh), interpolation=cv2.INTER_NEAREST) > 0
        hsv = cv2.cvtColor(work, cv2.COLOR_BGR2HSV)
        hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
        gray = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
        sd = local_std(gray, p.texture_win)
        colourless = bool(zwork.any() and float(sat[zwork].mean()) < p.colourless_sat)
        colourless |= bool(float(np.median(val)) < p.dark_val)  # night: hues are the street lights'

        foliage = ((hue >= p.hue_lo) & (hue <= p.hue_hi) & (sat >= p.sat_lo) & (val >= p.val_lo)
                   & (val <= p.val_hi) & (sd >= p.texture_min))
        mode = "single"
        key = (h, w, x0, y0, x1, y1)
        feats = None
        if not ctx.single:
            feats = self.baseline.features(crop)
            if self.baseline.ready and self.baseline.matches(key):
                mode = "baseline"
                changed = self.baseline.colour_distance(feats) >= p.change_de
                textured = self.baseline.texture_ratio(feats) >= p.ir_texture_ratio
                changed = cv2.resize(changed.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST) > 0
                textured = cv2.resize(textured.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST) > 0
                foliage &= changed
                if colourless:  # no hue at night/IR: a strong texture gain that was not there before
                    foliage = textured & changed & (sd >= p.texture_min)
            else:
                mode = "warmup"
        if colourless and mode != "baseline":
            foliage = (sd >= p.texture_min * 2.0) & (val >= p.val_lo)  # busy texture only; capped below
        foliage &= zwork

        raw = foliage.astype(np.uint8) * 255
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p.close_px, p.close_px))
        blobs = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, k)
        blobs = cv2.morphologyEx(blobs, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
        blobs &= zwork.astype(np.uint8) * 255
        n, labels, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
        keep = np.zeros(n, bool)
        min_area = p.min_blob * blobs.size
        for i in range(1, n):
            bx, by, bw, bh, area = stats[i]
            if area < min_area:
                continue
            comp = labels == i
            fill = area / float(bw * bh)
            density = float(np.count_nonzero(foliage & comp)) / area
            inner_sd = float(gray[comp].std())
            if fill >= p.fill_max and inner_sd <= p.uniform_max:
                continue  # a box of one colour: a vehicle, a sign, a tarpaulin
            if density < p.density_min:
                continue
            keep[i] = True
        tree = keep[labels]

        zone_px = int(np.count_nonzero(zwork))
        tree_px = int(np.count_nonzero(tree))
        blocked = tree_px / zone_px if zone_px else 0.0
        width_share = 0.0
        box = None
        if tree_px:
            rows = np.nonzero(tree.any(axis=1))[0]
            zrow = zwork[rows].sum(axis=1).astype(np.float32)
            trow = tree[rows].sum(axis=1).astype(np.float32)
            frac = np.where(zrow > 0, trow / np.maximum(zrow, 1), 0)
            # how far across the road it reaches: extent of the tree within each row, not just its pixels
            tr = tree[rows]
            first = tr.argmax(axis=1)
            last = tr.shape[1] - 1 - tr[:, ::-1].argmax(axis=1)
            ext = (last - first + 1) / np.maximum(zrow, 1)
            width_share = float(np.percentile(np.minimum(np.maximum(frac, ext), 1.0), 80))
            ys, xs = np.nonzero(tree)
            fx = lambda v: (x0 + v / s) / w  # noqa: E731 work px → relative frame
            fy = lambda v: (y0 + v / s) / h  # noqa: E731
            bx0, by0 = fx(xs.min()), fy(ys.min())
            bx1, by1 = min(fx(xs.max() + 1), 1.0), min(fy(ys.max() + 1), 1.0)
            box = (bx0, by0, bx1, by1)
        score = 1.0 / (1.0 + math.exp(-(width_share - p.width_mid) / p.width_slope)) if tree_px else 0.0
        score *= min(1.0, blocked / p.area_min) if p.area_min > 0 else 1.0
        if colourless and mode != "baseline":
            score *= 0.3  # texture alone, without hue or a reference, is weak evidence (rain, noise)

        detail = {"blocked_share": round(blocked, 4), "width_share": round(width_share, 4), "mode": mode,
                  "colourless": colourless, "zone_px": zone_px}
        boxes = []
        if box is not None:
            detail["box"] = ",".join(f"{v:.3f}" for v in box)
            boxes.append(Box(x=round(box[0], 4), y=round(box[1], 4), w=round(box[2] - box[0], 4),
                             h=round(box[3] - box[1], 4), label="fallen_tree", score=round(score, 4)))
        full = np.zeros((h, w), np.uint8)
        if tree_px:
            full[y0:y1, x0:x1] = cv2.resize(tree.astype(np.uint8) * 255, (cw, ch), interpolation=cv2.INTER_NEAREST)
            full &= zmask
        if feats is not None and not ctx.episode_active and score < p.calm_score:
            self.baseline.update(feats, key)
        return Observation(category=self.category, zone=zone.name, score=round(score, 4),
                           positive=score >= ctx.threshold, threshold=ctx.threshold, detail=detail,
                           mask=full, boxes=boxes)
