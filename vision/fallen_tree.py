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

Known limits: night/IR frames have no usable hue; there only the baseline (per-camera mode) can see a
tree: a strong texture change, and at a lit colour night a gain of colour off the street lamps' own
colour; in single-image mode the score is capped (`colourless`).
Trunks alone (without leaves) are not detected.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from models.candidate import Box
from vision.analyzer import AnalyzeContext, Analyzer, Observation
from vision.baseline import KeepsReferences, local_std, picture_kind
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
    night_own_colour: float = 5.0  # colour night, baseline mode: gain of chroma (Lab a*b*) off the lamps' colour
    width_mid: float = 0.35  # width share at which the score is 0.5
    width_slope: float = 0.07
    area_min: float = 0.02  # below this blocked share the score is scaled down
    calm_score: float = 0.25
    baseline_warmup: int = 3
    baseline_rate: float = 0.05
    baseline_patience: int = 240  # looks without a calm one before the scene as it is becomes the reference
    wheel_val: int = 60  # wheels/tyres: dark ...
    wheel_sat: int = 50  # ... and colourless
    # blob verdict (blob_verdict); tuned on generator seeds 100..199 only
    person_tall: float = 1.8
    person_share: float = 0.02
    hue_std_min: float = 6.0
    grey_std_min: float = 12.0  # without colour (IR/night): a crown's light and shade vary at least this much
    hull_busy_min: float = 0.5
    hull_foliage_min: float = 0.4
    vehicle_solidity: float = 0.85
    vehicle_rect_fill: float = 0.75
    vehicle_flat: float = 0.65
    vehicle_specular: float = 0.003
    vehicle_wheels: float = 0.08
    crown_solidity: float = 0.75
    crown_roughness: float = 3.0
    crown_hue_std: float = 9.0
    crown_busy: float = 0.75
    crown_brown: float = 0.005
    crown_min: float = 0.012  # a kept blob smaller than this counts only next to a crown
    crown_join_px: int = 9


class FallenTreeAnalyzer(KeepsReferences, Analyzer):
    category = "fallen_tree"
    backend = "classical"
    model_version = "fallen_tree-classical-1"

    def __init__(self, params: FallenTreeParams | None = None, **overrides):
        self.params = replace(params or FallenTreeParams(), **overrides)
        self._init_references()

    def summary_vi(self, obs: Observation) -> str:
        w = obs.detail.get("width_share", 0.0)
        return f"nghi cây ngã chắn khoảng {w:.0%} bề ngang vùng '{obs.zone}'"

    def analyze(self, image: np.ndarray, zone: Zone, ctx: AnalyzeContext) -> Observation:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a BGR image, got shape {image.shape}")
        p = self.params
        h, w = image.shape[:2]
        self.references.select(*picture_kind(image, dark_val=p.dark_val))  # a reference per kind of picture
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
                colourless |= self.references.dark  # the whole frame's light: lamp pools brighten the road zone
                if colourless:  # no hue at night/IR: a strong texture gain, and light and shade that were not there
                    shade = np.abs(self.baseline.lightness_change(feats)) >= p.change_de
                    shade = cv2.resize(shade.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST) > 0
                    foliage = textured & (changed | shade) & (sd >= p.texture_min)
                    if p.night_own_colour > 0 and not self.references.monochrome:
                        # lit by street lamps, a crown's leaf texture is faint, but its own colour shows: a lamp
                        # coming, going or moving shifts the road's chroma along the lamp's colour, an object
                        # lying there adds colour off that line (vehicles too: blob_verdict judges their shape)
                        road = feats.downsize(zmask[y0:y1, x0:x1]) > 0
                        own = self.baseline.own_colour_gain(feats, road) >= p.night_own_colour
                        foliage |= cv2.resize(own.view(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST) > 0
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
        rejected: dict[str, int] = {}
        edges = cv2.Canny(gray, 60, 140) > 0
        self.last_blobs = []  # per-blob features of the last call (for tuning and debugging)
        for i in range(1, n):
            if stats[i][4] < min_area:
                continue
            f = blob_features(labels == i, stats[i], foliage, hsv, gray, sd, edges, p)
            f["colourless"] = colourless
            why = blob_verdict(f, p)
            f["verdict"] = why
            self.last_blobs.append(f)
            if why:
                rejected[why] = rejected.get(why, 0) + 1
                continue
            keep[i] = True
        big = [i for i in range(1, n) if keep[i] and stats[i][4] >= p.crown_min * blobs.size]
        if big:
            near = cv2.dilate(np.isin(labels, big).astype(np.uint8),
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p.crown_join_px, p.crown_join_px))) > 0
            for i in range(1, n):
                if keep[i] and i not in big and not near[labels == i].any():
                    keep[i] = False
                    rejected["fragment"] = rejected.get("fragment", 0) + 1
        elif keep[1:].any():
            rejected["fragment"] = rejected.get("fragment", 0) + int(keep[1:].sum())
            keep[:] = False
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
        if rejected:
            detail["rejected"] = ",".join(f"{k}:{v}" for k, v in sorted(rejected.items()))
        boxes = []
        if box is not None:
            detail["box"] = ",".join(f"{v:.3f}" for v in box)
            boxes.append(Box(x=round(box[0], 4), y=round(box[1], 4), w=round(box[2] - box[0], 4),
                             h=round(box[3] - box[1], 4), label="fallen_tree", score=round(score, 4)))
        full = np.zeros((h, w), np.uint8)
        if tree_px:
            full[y0:y1, x0:x1] = cv2.resize(tree.astype(np.uint8) * 255, (cw, ch), interpolation=cv2.INTER_NEAREST)
            full &= zmask
        if feats is not None:  # calm looks teach the baseline (see ZoneBaseline.offer)
            self.baseline.offer(feats, key, calm=not ctx.episode_active and score < p.calm_score)
            if self.baseline.forced:
                detail["baseline_forced"] = True
        return Observation(category=self.category, zone=zone.name, score=round(score, 4),
                           positive=score >= ctx.threshold, threshold=ctx.threshold, detail=detail,
                           mask=full, boxes=boxes)


def blob_features(comp: np.ndarray, stat, foliage: np.ndarray, hsv: np.ndarray, gray: np.ndarray,
                  sd: np.ndarray, edges: np.ndarray, p: FallenTreeParams) -> dict:
    """Shape, texture and colour of one candidate blob (work-size boolean mask)."""
    bx, by, bw, bh, area = (int(v) for v in stat)
    m8 = comp.astype(np.uint8)
    contours, _ = cv2.findContours(m8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=cv2.contourArea)
    hull_area = max(cv2.contourArea(cv2.convexHull(c)), 1.0)
    outer_area = max(cv2.contourArea(c), 1.0)
    perim = cv2.arcLength(c, True)
    (_, _), (rw, rh), _ = cv2.minAreaRect(c)
    inner = cv2.erode(m8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0
    if np.count_nonzero(inner) < 0.15 * area:
        inner = comp
    filled = np.zeros_like(m8)
    cv2.drawContours(filled, [c], -1, 1, -1)
    filled = filled > 0
    nfill = max(int(np.count_nonzero(filled)), 1)
    hull = np.zeros_like(m8)
    cv2.fillConvexPoly(hull, cv2.convexHull(c), 1)
    hull = hull > 0
    nhull = max(int(np.count_nonzero(hull)), 1)
    fol = foliage & comp
    nf = int(np.count_nonzero(fol))
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    fh = hue[fol].astype(np.float32) if nf else np.zeros(1, np.float32)
    fv = val[fol].astype(np.float32) if nf else np.zeros(1, np.float32)
    H, W = comp.shape
    # wheels / tyres: dark, colourless pixels in a band at the blob's foot, more than in the blob overall
    y_lo, y_hi = by + int(0.8 * bh), min(H, by + bh + max(2, bh // 10))
    foot = np.zeros_like(comp)
    foot[y_lo:y_hi, bx:bx + bw] = True
    dark = (val < p.wheel_val) & (sat < p.wheel_sat)
    foot_dark = float(dark[foot].mean()) if foot.any() else 0.0
    body_dark = float(dark[comp].mean())
    box = np.zeros_like(comp)
    box[by:by + bh, bx:bx + bw] = True
    brown = ((hue >= 5) & (hue <= 25) & (sat >= 60) & (val >= 30) & (val <= 170))
    return {
        "area": area, "w": bw, "h": bh,
        "solidity": round(outer_area / hull_area, 3),
        "rect_fill": round(outer_area / max(rw * rh, 1.0), 3),
        "hollow": round(area / outer_area, 3),
        "roughness": round(perim * perim / (4 * math.pi * outer_area), 2),
        "density": round(nf / area, 3),
        "busy": round(float(np.count_nonzero(filled & (sd >= p.texture_min))) / nfill, 3),
        "hull_busy": round(float(np.count_nonzero(hull & (sd >= p.texture_min))) / nhull, 3),
        "hull_foliage": round(float(np.count_nonzero(hull & foliage)) / nhull, 3),
        "edges": round(float(np.count_nonzero(edges[filled])) / nfill, 3),
        "texture": round(float(np.median(sd[inner])), 2),
        "hue_std": round(float(fh.std()), 2),
        "val_std": round(float(fv.std()), 2),
        "specular": round(float(((val >= 235) & (sat < 30))[comp].mean()), 4),
        "wheels": round(foot_dark - body_dark, 3),
        "brown": round(float(brown[box].mean()), 4),
        "tall": round(bh / max(bw, 1), 2),
        "share": round(area / comp.size, 4),
    }


def blob_verdict(f: dict, p: FallenTreeParams) -> str:
    """'' for a tree crown, else why not. Each rule is a property of real objects, not of the generator:

    * sparse: too few foliage pixels in the blob;
    * person: small and upright;
    * uniform: one hue throughout (paint, a tarpaulin); a crown mixes greens, dark greens and browns (in
      a frame without colour, IR or night: one grey level throughout; a crown is light and shade);
    * vehicle: more vehicle cues (convex, rectangular, flat interior, specular highlights, dark wheels at
      its foot, texture only along the outline — a vehicle's edges seen at working size, where a crown is
      leaf clutter throughout its hull) than crown cues (ragged low-solidity outline, high perimeter²/area, mixed hues, bark).
    """
    if f["density"] < p.density_min:
        return "sparse"
    if f["tall"] >= p.person_tall and f["share"] < p.person_share:
        return "person"
    if f["val_std"] < p.grey_std_min if f.get("colourless") else f["hue_std"] < p.hue_std_min:
        return "uniform"
    # Texture only along the outline is a vehicle cue, not a verdict alone: dusk, glare and wet light
    # thin a real crown's texture the same way.
    outline = f["hull_busy"] < p.hull_busy_min or f["hull_foliage"] < p.hull_foliage_min
    vehicle = ((f["solidity"] >= p.vehicle_solidity) + (f["rect_fill"] >= p.vehicle_rect_fill)
               + (f["busy"] < p.vehicle_flat) + (f["specular"] >= p.vehicle_specular)
               + (f["wheels"] >= p.vehicle_wheels) + outline)
    crown = ((f["solidity"] < p.crown_solidity) + (f["roughness"] >= p.crown_roughness)
             + (f["hue_std"] >= p.crown_hue_std) + (f["busy"] >= p.crown_busy) + (f["brown"] >= p.crown_brown))
    if vehicle >= 2 and vehicle >= crown:
        return "vehicle"
    return ""
