"""Classical flooding analyzer: is the road zone covered by murky water? One frame, no baseline.

Flood water on HCMC streets is brown or grey-brown and opaque: it hides the asphalt grain and the
lane marks and, seen from a pole-mounted camera, its surface is smooth compared with dry road.
Per pixel (at a working width of at most 640 px) we ask two things:

* colour: a brownish hue (OpenCV H 5..35, i.e. orange-brown to khaki) with low-to-medium
  saturation and moderate brightness; or a grey at moderate brightness (murky grey water), which
  is also what dry asphalt looks like, so grey pixels must pass a much stricter texture test;
* texture: the local standard deviation of grey levels in a small window is low.

The water mask is cleaned up with a morphological opening (drop isolated specks: wet asphalt has
smooth spots too), a closing (fill thin gaps: lane marks under shallow water, rain streaks across
the surface) and by dropping small blobs: standing water is a sheet, not confetti. The score is the water share of the zone through a logistic centred on
`share_mid`, so a few puddles along the kerb stay low and a road mostly under water goes high.

Wet asphalt versus flood (the main false-positive source on real cameras): a thin water film keeps
the lane marks and the kerb visible and reflects the sky and lights as bright specular spots; flood
water hides them. So lane marks seen *inside* the water mask (white top-hat) lower the effective share.

Per-camera mode (ctx.mode == "camera", vision.baseline): once a calm reference of the zone is learned,
a pixel only counts as water if it also differs from the calm zone (colour ΔE or lost texture), and
the share of the reference's strong edges still visible (lane marks, kerbs) damps the score: dry
smooth asphalt, a wet road, a shadow stay what they were in the reference. The reference is updated
only on calm looks (no active episode, low score).

Reported: water_share, effective share, severity (nhẹ / trung bình / nặng by share) and, when the zone
has a reference line (two relative points from its foot to its top, e.g. the kerb face or a marked
pole, optionally with its height in cm), the submerged fraction of that line and a depth band.

Known limits: night/IR frames (no colour: only the strict grey test and the baseline remain; flagged
`colourless`), brown dry surfaces (dirt roads, construction sites), very smooth new asphalt, glare.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from vision.analyzer import AnalyzeContext, Analyzer, Observation
from vision.baseline import ZoneBaseline
from vision.zones import Zone

SEVERITY = ((0.7, "nặng"), (0.45, "trung bình"), (0.0, "nhẹ"))  # water share → level (shown when positive)


@dataclass(frozen=True)
class FloodingParams:
    work_width: int = 640  # frames wider than this are downscaled first (texture is scale-dependent)
    hue_lo: int = 5  # OpenCV hue 0..180: brownish range
    hue_hi: int = 35
    sat_brown_lo: int = 30  # below this a pixel is "grey" (beige concrete, pavements: sat 15..35)
    sat_hi: int = 170  # above this it is a vivid colour (a painted vehicle), not muddy water
    val_lo: int = 50  # too dark: no colour information (night, shadow)
    val_hi: int = 235  # blown out (glare, sky)
    texture_win: int = 7  # window of the local standard deviation, px at work width
    texture_brown_max: float = 0.055  # local std / local mean (illumination-invariant) allowed for brownish water
    texture_grey_max: float = 0.018  # much stricter for grey pixels (asphalt is grey too)
    open_px: int = 5
    close_px: int = 9
    min_blob: float = 0.01  # drop water blobs smaller than this share of the analysed area (wet-road speckle)
    share_mid: float = 0.35  # water share at which the score is 0.5
    share_slope: float = 0.07  # logistic width
    mark_tophat: int = 31  # white top-hat kernel (px at work width) for lane marks / kerb paint
    mark_contrast: float = 40.0  # grey levels above the local background to count as a mark
    mark_damp_lo: float = 0.012  # share of the water mask that is visible marking: above lo the water is
    mark_damp_hi: float = 0.05  # a thin film (wet road), at hi the effective share is damped fully
    mark_damp: float = 0.6  # by this much
    dark_val: float = 60.0  # median brightness of the frame below which the frame is a night frame
    colourless_sat: float = 8.0  # mean saturation of the zone below which the frame is greyscale (IR/night)
    change_de: float = 10.0  # baseline mode: colour distance (ΔE, lightness half-weighted) counting as changed
    texture_lost: float = 0.55  # ... or local texture below this ratio of the reference
    persist_damp_lo: float = 0.35  # baseline edges still visible: below lo no damping
    persist_damp_hi: float = 0.75  # at hi and above: damped by persist_damp
    persist_damp: float = 0.7
    calm_score: float = 0.25  # looks scoring below this (and no episode) update the baseline
    baseline_warmup: int = 3
    baseline_rate: float = 0.05


class FloodingAnalyzer(Analyzer):
    category = "flooding"
    backend = "classical"
    model_version = "flooding-classical-1"

    def __init__(self, params: FloodingParams | None = None, **overrides):
        base = params or FloodingParams()
        self.params = FloodingParams(**{**asdict(base), **overrides}) if overrides else base
        self.baseline = ZoneBaseline(warmup=self.params.baseline_warmup, rate=self.params.baseline_rate)

    def reset(self) -> None:
        self.baseline.reset()

    # -- pure helpers -------------------------------------------------------------------------
    def water_mask(self, image: np.ndarray, scale: float | None = None) -> np.ndarray:
        """uint8 mask (255 = water-like) of a BGR image, same size as the image. `scale`: resize
        factor to the working resolution (default: so that this image is at most work_width wide;
        pass the whole frame's factor when `image` is a crop of it)."""
        p = self.params
        h, w = image.shape[:2]
        if scale is None:
            scale = min(1.0, p.work_width / w)
        work = image
        if scale < 1.0:
            work = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(work, cv2.COLOR_BGR2HSV)
        hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
        bright_ok = (val >= p.val_lo) & (val <= p.val_hi)
        brown = bright_ok & (hue >= p.hue_lo) & (hue <= p.hue_hi) & (sat >= p.sat_brown_lo) & (sat <= p.sat_hi)
        grey = bright_ok & (sat < p.sat_brown_lo)

        gray = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
        sd = local_std(gray, p.texture_win)
        sd /= np.maximum(cv2.boxFilter(gray.astype(np.float32), cv2.CV_32F, (p.texture_win, p.texture_win)), 40.0)
        water = (brown & (sd <= p.texture_brown_max)) | (grey & (sd <= p.texture_grey_max))
        mask = water.astype(np.uint8) * 255
        if p.open_px > 1:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p.open_px, p.open_px)))
        if p.close_px > 1:
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p.close_px, p.close_px)))
        if p.min_blob > 0:
            mask = drop_small_blobs(mask, p.min_blob * mask.size)
        if work is not image:
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
        return mask

    def summary_vi(self, obs: Observation) -> str:
        share = obs.detail.get("water_share", 0.0)
        text = f"nghi ngập nước, nước phủ khoảng {share:.0%} vùng '{obs.zone}'"
        if obs.detail.get("severity"):
            text += f", mức {obs.detail['severity']}"
        if obs.detail.get("depth_band"):
            text += f", độ sâu ước tính {obs.detail['depth_band']}"
        return text

    def score_from_share(self, share: float) -> float:
        p = self.params
        return 1.0 / (1.0 + math.exp(-(share - p.share_mid) / p.share_slope))

    def marks_mask(self, gray_work: np.ndarray) -> np.ndarray:
        """Bright thin structures (lane marks, kerb paint, zebra) at work resolution: white top-hat."""
        k = cv2.getStructuringElement(cv2.MORPH_RECT, (self.params.mark_tophat, self.params.mark_tophat))
        return cv2.morphologyEx(gray_work, cv2.MORPH_TOPHAT, k) >= self.params.mark_contrast

    # -- the analyzer -------------------------------------------------------------------------
    def analyze(self, image: np.ndarray, zone: Zone, ctx: AnalyzeContext) -> Observation:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a BGR image, got shape {image.shape}")
        p = self.params
        h, w = image.shape[:2]
        zmask = zone.mask(h, w)
        x0, y0, x1, y1 = zone.bbox(h, w)
        # analyse the zone's bounding box plus a margin (so window statistics near the border are real)
        m = int(np.ceil((p.texture_win + p.close_px) * max(1.0, w / p.work_width)))
        cx0, cy0, cx1, cy1 = max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, w), min(y1 + m, h)
        crop = image[cy0:cy1, cx0:cx1]
        scale = min(1.0, p.work_width / w)
        crop_mask = self.water_mask(crop, scale=scale)
        ch, cw = crop.shape[:2]
        zcrop = zmask[cy0:cy1, cx0:cx1] > 0
        zone_px = int(np.count_nonzero(zcrop))

        # colour available? (IR / night greyscale frames have none)
        small = cv2.resize(crop, (max(8, cw // 8), max(8, ch // 8)), interpolation=cv2.INTER_AREA)
        zsmall = cv2.resize(zcrop.astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
        sat = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)[..., 1]
        colourless = bool(zsmall.any() and float(sat[zsmall].mean()) < p.colourless_sat)
        thumb = cv2.resize(image, (64, max(1, round(64 * h / w))), interpolation=cv2.INTER_AREA)
        dark = bool(float(np.median(thumb.max(axis=2))) < p.dark_val)  # night: the hues are the street lights'

        raw_water = (crop_mask > 0) & zcrop
        raw_share = float(np.count_nonzero(raw_water)) / zone_px if zone_px else 0.0

        # lane marks visible inside the water: a thin film, not a flood
        work = crop if scale >= 1.0 else cv2.resize(crop, (max(1, round(cw * scale)), max(1, round(ch * scale))),
                                                     interpolation=cv2.INTER_AREA)
        marks = self.marks_mask(cv2.cvtColor(work, cv2.COLOR_BGR2GRAY))
        if marks.shape != (ch, cw):
            marks = cv2.resize(marks.astype(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST) > 0
        n_water = int(np.count_nonzero(raw_water))
        marks_in_water = float(np.count_nonzero(marks & raw_water)) / n_water if n_water else 0.0
        damp = p.mark_damp * float(np.clip((marks_in_water - p.mark_damp_lo) / (p.mark_damp_hi - p.mark_damp_lo), 0, 1))

        mode = "single"
        water = raw_water
        persistence = None
        key = (h, w, cx0, cy0, cx1, cy1)
        feats = None
        if not ctx.single:
            feats = self.baseline.features(crop)
            if self.baseline.ready and self.baseline.matches(key):
                mode = "baseline"
                changed = (self.baseline.colour_distance(feats) >= p.change_de) | \
                          (self.baseline.texture_ratio(feats) <= p.texture_lost)
                changed = cv2.resize(changed.astype(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST) > 0
                water = raw_water & changed
                # of the reference's strong edges (lane marks, kerbs) under what now looks like water, how
                # many are still visible: a wet film keeps them, a flood hides them
                ws = cv2.resize(water.astype(np.uint8), feats.shape[::-1], interpolation=cv2.INTER_AREA) > 0
                persistence = self.baseline.edge_persistence(feats, ws)
                if persistence is not None:
                    damp = max(damp, p.persist_damp * float(np.clip(
                        (persistence - p.persist_damp_lo) / (p.persist_damp_hi - p.persist_damp_lo), 0, 1)))
            else:
                mode = "warmup"

        water_px = int(np.count_nonzero(water))
        share = water_px / zone_px if zone_px else 0.0
        effective = share * (1.0 - damp)
        score = self.score_from_share(effective)
        if (colourless or dark) and mode != "baseline":
            score *= 0.45  # colour is missing or lies (IR, sodium lights): never alarm on one such image

        detail = {"water_share": round(share, 4), "effective_share": round(effective, 4),
                  "raw_share": round(raw_share, 4), "marks_in_water": round(marks_in_water, 4),
                  "mode": mode, "colourless": colourless, "dark": dark, "zone_px": zone_px}
        if persistence is not None:
            detail["edge_persistence"] = round(persistence, 3)
        if score >= ctx.threshold:
            detail["severity"] = next(name for lo, name in SEVERITY if effective >= lo)
        full = np.zeros((h, w), np.uint8)
        full[cy0:cy1, cx0:cx1][water] = 255
        line = getattr(zone, "reference_line", None)
        if line:
            detail.update(depth_from_line(full, line, getattr(zone, "reference_height_cm", None)))

        # a calm look teaches the baseline (never during an episode, never a wet-looking one)
        if feats is not None and not ctx.episode_active and score < p.calm_score:
            self.baseline.update(feats, key)
        return Observation(
            category=self.category, zone=zone.name, score=round(score, 4), positive=score >= ctx.threshold,
            threshold=ctx.threshold, detail=detail, mask=full,
        )


DEPTH_BANDS = ((0.1, "khô / dưới mép tham chiếu"), (0.34, "thấp (dưới 1/3 mốc)"),
               (0.67, "trung bình (1/3–2/3 mốc)"), (0.95, "cao (trên 2/3 mốc)"), (9.9, "ngập hết mốc"))


def depth_from_line(water_mask: np.ndarray, line, height_cm: float | None = None, samples: int = 64) -> dict:
    """How much of a reference line (foot → top, relative points) is under water: the contiguous
    submerged run from the foot, as a fraction of the line; a depth band and, with the reference's
    real height, centimetres."""
    h, w = water_mask.shape[:2]
    (fx, fy), (tx, ty) = line
    t = np.linspace(0.0, 1.0, samples)
    xs = np.clip(np.round((fx + (tx - fx) * t) * (w - 1)), 0, w - 1).astype(int)
    ys = np.clip(np.round((fy + (ty - fy) * t) * (h - 1)), 0, h - 1).astype(int)
    # the water line along a kerb is ragged: look at a small neighbourhood of each sample
    near = cv2.dilate(water_mask, np.ones((5, 5), np.uint8))
    wet = near[ys, xs] > 0
    run = int(np.argmin(wet)) if not wet.all() else samples
    frac = run / samples
    band = next(name for hi, name in DEPTH_BANDS if frac < hi)
    out = {"reference_submerged": round(frac, 3), "depth_band": band}
    if height_cm:
        out["depth_cm_est"] = round(frac * float(height_cm), 1)
    return out


def local_std(gray: np.ndarray, win: int) -> np.ndarray:
    """Standard deviation of grey levels in a win×win window around each pixel (float32)."""
    g = gray.astype(np.float32)
    mean = cv2.boxFilter(g, cv2.CV_32F, (win, win), borderType=cv2.BORDER_REFLECT)
    mean_sq = cv2.boxFilter(g * g, cv2.CV_32F, (win, win), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def drop_small_blobs(mask: np.ndarray, min_area: float) -> np.ndarray:
    """Keep only 8-connected components of a uint8 mask with at least min_area pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return mask
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return np.where(keep[labels], 255, 0).astype(np.uint8)
