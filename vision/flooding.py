"""Classical flooding analyzer: is the road zone covered by murky water? One frame, no baseline.

Flood water on HCMC streets is brown or grey-brown and opaque: it hides the asphalt grain and the
lane marks and, seen from a pole-mounted camera, its surface is smooth compared with dry road.
Per pixel (at a working width of at most 640 px) we ask two things:

* colour: a brownish hue (OpenCV H 5..35, i.e. orange-brown to khaki) with low-to-medium
  saturation and moderate brightness; or a grey at moderate brightness (murky grey water), which
  is also what dry asphalt looks like, so grey pixels must pass a much stricter texture test;
* texture: the local standard deviation of grey levels in a small window is low.

Before the hue tests a warm additive veil (dusk sky, sodium light, haze) is removed: its colour is the
chromatic part of the black level of the darkest pixels *above* the zone (tyres, shadows, windows are
near neutral; the water itself cannot correct itself away), bounded, and only when it is warm (R ≥ G ≥ B).
All work is done once at the working width on the zone's bounding box (integer-factor box average, then
linear), with integer HSV boxes (cv2.inRange) and box-filter variance straight from the uint8 grey image;
the veil's percentile and the frame's median brightness come from histograms, not sorts; only the output
mask is full-size. (The camera monitor's look at analysis width 320 costs ~0.7-0.9 ms: bench/vision.py.)

The water mask is cleaned up with a morphological opening (drop isolated specks: wet asphalt has
smooth spots too), a closing (fill thin gaps: lane marks under shallow water, rain streaks across
the surface) and by dropping small blobs: standing water is a sheet, not confetti. The score is the water share of the zone through a logistic centred on
`share_mid`, so a few puddles along the kerb stay low and a road mostly under water goes high.

Without a reference (single-image mode, a camera's warm-up) a water sheet only counts when at least
`sheet_turbid_min` of it is clearly turbid (brownish hue at saturation `turbid_sat` or more): dry and wet
asphalt, concrete and pale pavements are grey or barely tinted and smooth, exactly like "grey water", and
one image cannot tell them apart; real flood water carries silt, and its grey parts (sky reflected, glare)
adjoin a turbid body. Near-grey water is left to the per-camera baseline, which sees it as a change.

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

Night and IR (per camera): compared with the camera's reference of that kind of picture (vision.baseline:
colour by day, colour at night, IR), water is a change of light level without new texture or the road's grain
flattened, damped by the lane marks still visible as above. In one image they are never judged a flood.

Known limits: night/IR frames (no colour: only the strict grey test and the baseline remain; flagged
`colourless`), brown dry surfaces (dirt roads, construction sites), very smooth new asphalt, glare. At dusk and
dawn (colour, not yet dark) the daylight reference is used, the look first brought to the reference's light as
measured above the zone (vision.baseline.light_level); a camera's very first colour looks, if at dusk (no colour
reference yet), are judged as one image is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vision.analyzer import AnalyzeContext, Analyzer, Observation
from vision.baseline import KeepsReferences, light_level, picture_kind
from vision.zones import Zone

SEVERITY = ((0.7, "nặng"), (0.45, "trung bình"), (0.0, "nhẹ"))  # water share → level (shown when positive)


@dataclass(frozen=True)
class FloodingParams:
    work_width: int = 640  # frames wider than this are downscaled first (texture is scale-dependent)
    hue_lo: int = 5  # OpenCV hue 0..180: brownish range
    hue_hi: int = 35
    sat_brown_lo: int = 30  # below this a pixel is "grey" (beige concrete, pavements: sat 15..35)
    sat_hi: int = 170  # above this it is a vivid colour (a painted vehicle), not muddy water
    turbid_sat: int = 40  # no baseline: a water sheet must be partly clearly turbid (brownish at this saturation)
    sheet_turbid_min: float = 0.3  # ... on at least this share of its pixels (else: concrete, asphalt, a wet film)
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
    mark_near: bool = True  # count marks in the water's neighbourhood (closing-sized dilation)
    mark_damp_lo: float = 0.012  # share of the water mask that is visible marking: above lo the water is
    mark_damp_hi: float = 0.05  # a thin film (wet road), at hi the effective share is damped fully
    mark_damp: float = 0.6  # by this much
    black_pct: float = 5.0  # percentile of each channel taken as the frame's black level (colour correction)
    black_max: float = 35.0  # largest chromatic black offset removed (grey levels)
    black_warm_only: bool = True  # only a warm veil (R >= G >= B offsets) is removed
    dark_val: float = 60.0  # median brightness of the frame below which the frame is a night frame
    night_scale: float = 0.45  # single-image score factor on dark / colourless frames (keeps them below 0.5)
    colourless_sat: float = 8.0  # mean saturation of the zone below which the frame is greyscale (IR/night)
    change_de: float = 10.0  # baseline mode: colour distance (ΔE, lightness half-weighted) counting as changed
    texture_lost: float = 0.55  # ... or local texture below this ratio of the reference
    ir_texture_calm: float = 1.2  # IR/night: a light-level change with texture at most this ratio of the reference is water-like
    ir_texture_flat: float = 0.7  # IR/night: so is texture at most this ratio of the reference, light level unchanged
    lost_marks_px: int = 9  # IR/night: water-like within this distance of a lost lane mark counts as changed (px, reference size)
    persist_damp_lo: float = 0.35  # baseline edges still visible: below lo no damping
    persist_damp_hi: float = 0.75  # at hi and above: damped by persist_damp
    persist_damp: float = 0.7
    persist_near_px: int = 3  # ... looked for in the water's near neighbourhood (px at the reference's size)
    calm_score: float = 0.25  # looks scoring below this (and no episode) update the baseline
    baseline_warmup: int = 3
    baseline_rate: float = 0.05
    baseline_patience: int = 240  # looks without a calm one before the scene as it is becomes the reference


class FloodingAnalyzer(KeepsReferences, Analyzer):
    category = "flooding"
    backend = "classical"
    model_version = "flooding-classical-1"

    def __init__(self, params: FloodingParams | None = None, **overrides):
        self.params = replace(params or FloodingParams(), **overrides)
        self._init_references()

    # -- pure helpers -------------------------------------------------------------------------
    def work_size(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) of the working resolution: at most work_width px wide, aspect kept."""
        ww = min(int(w), self.params.work_width)
        return max(1, round(h * ww / w)), max(1, ww)

    def _kernels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = getattr(self, "_kern", None)
        if k is None:
            p = self.params
            k = self._kern = (cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(p.open_px, 1),) * 2),
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(p.close_px, 1),) * 2),
                              cv2.getStructuringElement(cv2.MORPH_RECT, (p.mark_tophat, p.mark_tophat)))
        return k

    def colour_correction(self, image: np.ndarray, top: int | None = None) -> tuple[np.ndarray, float]:
        """Per-channel additive offset (B, G, R) to subtract before the hue tests, and the frame's median
        brightness. The offset is the chromatic part of the frame's black level: the darkest pixels of a
        street scene (tyres, shadows under vehicles, windows) are near neutral, so a tinted black level
        is a veil of coloured light (dusk sky, sodium lamps, haze) lying over everything, the road included.
        Water is judged under that veil removed. Bounded so that a frame that really is brown stays brown."""
        p = self.params
        h, w = image.shape[:2]
        step = max(1, w // 160)
        thumb = image[::step, ::step]
        b, g, r = cv2.split(thumb)
        # the median of each pixel's brightest channel, and the black level, from histograms (exactly what
        # np.median / np.percentile would answer, without sorting)
        bright = hist_median(cv2.max(cv2.max(b, g), r))
        rows = thumb.shape[0]
        if top is not None and top >= 0.1 * h:  # the veil is estimated outside the zone: water must not correct itself
            rows = len(range(0, min(int(top), h), step))
        b, g, r = b[:rows], g[:rows], r[:rows]
        lum = cv2.add(cv2.add(b, g, dtype=cv2.CV_16U), r, dtype=cv2.CV_16U)
        level = hist_order_stat(lum, math.floor(p.black_pct / 100.0 * (lum.size - 1)), 766)
        darkest = cv2.compare(lum, float(level), cv2.CMP_LE)  # the darkest pixels, as a group (one colour)
        black = np.array([cv2.mean(c, darkest)[0] for c in (b, g, r)], np.float32)
        off = np.clip(black - black.min(), 0.0, p.black_max)
        if p.black_warm_only and not (off[2] >= off[1] >= off[0]):
            off[:] = 0.0  # only a warm veil (dusk, sodium light) is removed: other tints are the scene's colours
        return off, bright

    def water_mask_work(self, work: np.ndarray, offset: np.ndarray | None = None,
                        sheets: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(water mask, lane-mark mask) of a BGR image already at working resolution, uint8 / bool.
        sheets (no baseline to compare with): keep only connected water sheets of which at least
        sheet_turbid_min is clearly turbid (brownish hue at turbid_sat or more). Grey or barely tinted smooth
        surfaces alone are what dry and wet asphalt, concrete and pavements look like; flood water is turbid,
        and its grey parts (sky reflected, glare) join a turbid body."""
        p = self.params
        gray = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
        val_lo = p.val_lo
        if offset is not None and float(offset.max()) >= 1.0:  # hue and saturation under the veil removed
            work = cv2.subtract(work, (float(offset[0]), float(offset[1]), float(offset[2]), 0.0))
            val_lo = max(0, p.val_lo - int(offset.max()))
        hsv = cv2.cvtColor(work, cv2.COLOR_BGR2HSV)
        # integer HSV boxes: brownish (hue, moderate saturation) and grey (low saturation), both at usable brightness
        brown = cv2.inRange(hsv, (p.hue_lo, p.sat_brown_lo, val_lo), (p.hue_hi, p.sat_hi, p.val_hi))
        grey = cv2.inRange(hsv, (0, 0, val_lo), (180, p.sat_brown_lo - 1, p.val_hi))
        win = (p.texture_win, p.texture_win)
        mean = cv2.boxFilter(gray, cv2.CV_32F, win, borderType=cv2.BORDER_REFLECT)
        sq = cv2.sqrBoxFilter(gray, cv2.CV_32F, win, borderType=cv2.BORDER_REFLECT)
        var = cv2.subtract(sq, cv2.multiply(mean, mean))
        # relative texture (std / mean, illumination-invariant) compared squared: var <= (t * max(mean, 40))²
        ref = cv2.max(mean, 40.0)
        ref2 = cv2.multiply(ref, ref)
        smooth_brown = cv2.compare(var, cv2.multiply(ref2, p.texture_brown_max ** 2), cv2.CMP_LE)
        smooth_grey = cv2.compare(var, cv2.multiply(ref2, p.texture_grey_max ** 2), cv2.CMP_LE)
        mask = cv2.bitwise_or(cv2.bitwise_and(brown, smooth_brown), cv2.bitwise_and(grey, smooth_grey))
        k_open, k_close, k_mark = self._kernels()
        if p.open_px > 1:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k_open)
        if p.close_px > 1:
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, k_close)
        if p.min_blob > 0:
            mask = drop_small_blobs(mask, p.min_blob * mask.size)
        if sheets and p.sheet_turbid_min > 0:
            turbid = cv2.bitwise_and(cv2.inRange(hsv, (p.hue_lo, max(p.turbid_sat, p.sat_brown_lo), val_lo),
                                                 (p.hue_hi, p.sat_hi, p.val_hi)), smooth_brown)
            mask = keep_turbid_sheets(mask, turbid, p.sheet_turbid_min)
        marks = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, k_mark) >= p.mark_contrast
        return mask, marks

    def water_mask(self, image: np.ndarray, scale: float | None = None) -> np.ndarray:
        """uint8 mask (255 = water-like) of a BGR image, same size as the image. `scale`: resize
        factor to the working resolution (default: an integer downscale to at most work_width wide)."""
        h, w = image.shape[:2]
        if scale is None:
            scale = self.work_size(h, w)[1] / w
        work = image
        if scale < 1.0:
            work = downscale(image, max(1, round(w * scale)), max(1, round(h * scale)))
        mask, _ = self.water_mask_work(work)
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
        return cv2.morphologyEx(gray_work, cv2.MORPH_TOPHAT, self._kernels()[2]) >= self.params.mark_contrast

    # -- the analyzer -------------------------------------------------------------------------
    def analyze(self, image: np.ndarray, zone: Zone, ctx: AnalyzeContext) -> Observation:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a BGR image, got shape {image.shape}")
        p = self.params
        h, w = image.shape[:2]
        self.references.select(*picture_kind(image, dark_val=p.dark_val))  # a reference per kind of picture
        # everything runs at the working resolution on the zone's bounding box (plus a margin so that
        # window statistics near its border are real), brought to the working width once; the zone is rasterised there
        hw, ww = self.work_size(h, w)
        sy, sx = h / hw, w / ww
        zmask_w = zone.mask(hw, ww)
        x0, y0, x1, y1 = zone.bbox(hw, ww)
        m = p.texture_win + p.close_px
        cx0, cy0, cx1, cy1 = max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, ww), min(y1 + m, hw)
        cw, ch = cx1 - cx0, cy1 - cy0
        fx0, fy0, fx1, fy1 = round(cx0 * sx), round(cy0 * sy), min(round(cx1 * sx), w), min(round(cy1 * sy), h)
        work = downscale(image[fy0:fy1, fx0:fx1], cw, ch)
        zcrop = zmask_w[cy0:cy1, cx0:cx1] > 0
        zone_px = int(np.count_nonzero(zcrop))
        key = (h, w, cx0, cy0, cx1, cy1)

        offset, bright = self.colour_correction(image, round(y0 * sy))
        dark = bright < p.dark_val  # night: the hues are the street lights'
        # without a calm reference to compare with, water must be a turbid sheet (see water_mask_work)
        no_reference = ctx.single or not (self.baseline.ready and self.baseline.matches(key))
        # dusk, dawn, a cloud dim and tint the whole scene, facades with the road; water changes the road alone.
        # So against a colour reference the look is first brought back to the reference's light, by the gain per
        # channel that brings the lit surfaces above the zone back to theirs: what the whole picture shares is
        # light, not water (the warm veil is then measured against the reference, not from the black level)
        light = None if ctx.single else light_level(image, round(y0 * sy))
        gain = None
        if not no_reference and not (self.references.monochrome or self.references.dark):
            gain = self.baseline.light_gain(light)
        if gain is not None:
            work = cv2.multiply(work, (*gain.tolist(), 0.0))
            offset = None
        crop_mask, marks = self.water_mask_work(work, offset, sheets=no_reference)

        # colour available? (IR / night greyscale frames have none)
        sat = cv2.cvtColor(work[::4, ::4], cv2.COLOR_BGR2HSV)[..., 1]
        zs = zcrop[::4, ::4]
        colourless = bool(zs.any() and float(sat[zs].mean()) < p.colourless_sat)

        raw_water = (crop_mask > 0) & zcrop
        n_water = int(np.count_nonzero(raw_water))
        raw_share = n_water / zone_px if zone_px else 0.0

        # lane marks visible inside the water: a thin film, not a flood. The marks themselves are holes in
        # the mask (they are bright and edged), so count those lying within the water's near neighbourhood
        marks_in_water = 0.0
        if n_water:
            near = cv2.dilate(raw_water.view(np.uint8), self._kernels()[1]) if p.mark_near else raw_water.view(np.uint8)
            marks_in_water = float(np.count_nonzero(marks & (near > 0) & zcrop)) / n_water
        damp = p.mark_damp * float(np.clip((marks_in_water - p.mark_damp_lo) / (p.mark_damp_hi - p.mark_damp_lo), 0, 1))

        mode = "single"
        water = raw_water
        persistence = None
        feats = None
        if not ctx.single:
            feats = self.baseline.features(work, light)
            if self.baseline.ready and self.baseline.matches(key):
                mode = "baseline"
                if self.references.monochrome or self.references.dark:
                    # IR, or colour at night (the hues are the lamps', dark water is below any usable
                    # brightness): sensor noise hides how smooth water is in absolute terms. Against the
                    # reference of the same kind of picture, a sheet of water is a change of light level
                    # without new texture, or, water of the road's own shade, the road's grain flattened. Both
                    # only widen what is water-like: it must still differ from the reference as below (a look's
                    # texture alone is noisier than a reference averaged over looks), and a wet film, which
                    # flattens the grain too, keeps the lane marks visible (damped below)
                    ratio = self.baseline.texture_ratio(feats)
                    shade = np.abs(self.baseline.lightness_change(feats)) >= p.change_de
                    cand = ((shade & (ratio <= p.ir_texture_calm)) | (ratio <= p.ir_texture_flat)).view(np.uint8)
                    raw_water = raw_water | ((cv2.resize(cand, (cw, ch), interpolation=cv2.INTER_NEAREST) > 0) & zcrop)
                    n_water = int(np.count_nonzero(raw_water))
                if n_water:  # (nothing water-like: nothing to compare)
                    changed = self.baseline.changed(feats, p.change_de, p.texture_lost)
                    if p.lost_marks_px > 1 and (self.references.monochrome or self.references.dark):
                        # in IR and at night water is first seen hiding the lane marks: around a reference mark
                        # gone from view, a flattened or shaded road is taken as changed (water), however noisy
                        # the look; a wet film, a shadow or a road cleared of a fallen tree shows its marks
                        lost = self.baseline.edges_lost(feats)[1]
                        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p.lost_marks_px,) * 2)
                        changed |= cand & (cv2.dilate(lost, disc) >> 7)
                    changed = cv2.resize(changed, (cw, ch), interpolation=cv2.INTER_NEAREST)
                    water = cv2.bitwise_and(raw_water.view(np.uint8), changed).view(bool)
                    # of the reference's strong edges (lane marks, kerbs) under what now looks like water, how
                    # many are still visible: a wet film keeps them, a flood hides them. A mark still visible is
                    # bright and edged, so it is a hole in the water-like area, not inside it: counting only
                    # inside would find every mark "lost" (at night, where a moving light pool makes the road
                    # around the marks look changed, that alone raised false episodes)
                    ws = feats.downsize(water.view(np.uint8))
                    if p.persist_near_px > 1:
                        ws = cv2.dilate(ws, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p.persist_near_px,) * 2))
                    persistence = self.baseline.edge_persistence(feats, ws > 0)
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
            score *= p.night_scale  # colour is missing or lies (IR, sodium lights): never alarm on one such image

        detail = {"water_share": round(share, 4), "effective_share": round(effective, 4),
                  "raw_share": round(raw_share, 4), "marks_in_water": round(marks_in_water, 4),
                  "mode": mode, "colourless": colourless, "dark": dark, "zone_px": zone_px}
        if persistence is not None:
            detail["edge_persistence"] = round(persistence, 3)
        if score >= ctx.threshold:
            detail["severity"] = next(name for lo, name in SEVERITY if effective >= lo)
        full = np.zeros((h, w), np.uint8)
        if water_px:
            wm = water.view(np.uint8) * np.uint8(255)
            if (cw, ch) != (fx1 - fx0, fy1 - fy0):
                wm = cv2.resize(wm, (fx1 - fx0, fy1 - fy0), interpolation=cv2.INTER_NEAREST)
                wm = cv2.bitwise_and(wm, zone.mask(h, w)[fy0:fy1, fx0:fx1])
            full[fy0:fy1, fx0:fx1] = wm
        line = getattr(zone, "reference_line", None)
        if line:
            detail.update(depth_from_line(full, line, getattr(zone, "reference_height_cm", None)))

        # a calm look teaches the baseline (never during an episode, never a wet-looking one), unless the
        # camera never had a calm one (ZoneBaseline.patience)
        if feats is not None:
            self.baseline.offer(feats, key, calm=not ctx.episode_active and score < p.calm_score)
            if self.baseline.forced:
                detail["baseline_forced"] = True
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


def hist_order_stat(values: np.ndarray, k: int, bins: int = 256) -> int:
    """The k-th smallest (0-based) of an array of small non-negative integers (uint8/uint16 < bins), by histogram."""
    cum = np.cumsum(np.bincount(values.ravel(), minlength=bins))
    return int(np.searchsorted(cum, k + 1))


def hist_median(values: np.ndarray) -> float:
    """np.median of a uint8 array, by histogram (the mean of the two middle values when the count is even)."""
    n = values.size
    cum = np.cumsum(np.bincount(values.ravel(), minlength=256))
    lo, hi = np.searchsorted(cum, ((n - 1) // 2 + 1, n // 2 + 1))
    return (int(lo) + int(hi)) / 2.0


def downscale(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Resize img to w×h (smaller): an exact integer-factor INTER_AREA box average first (fast; a
    fractional INTER_AREA costs ~30× more), then INTER_LINEAR for what is left (a factor below 2)."""
    k = min(img.shape[1] // max(w, 1), img.shape[0] // max(h, 1))
    if k >= 2:
        H, W = (img.shape[0] // k) * k, (img.shape[1] // k) * k
        img = cv2.resize(img[:H, :W], (W // k, H // k), interpolation=cv2.INTER_AREA)
    if img.shape[1] != w or img.shape[0] != h:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return img


def local_std(gray: np.ndarray, win: int) -> np.ndarray:
    """Standard deviation of grey levels in a win×win window around each pixel (float32)."""
    g = gray.astype(np.float32)
    mean = cv2.boxFilter(g, cv2.CV_32F, (win, win), borderType=cv2.BORDER_REFLECT)
    mean_sq = cv2.boxFilter(g * g, cv2.CV_32F, (win, win), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def keep_turbid_sheets(mask: np.ndarray, turbid: np.ndarray, min_share: float) -> np.ndarray:
    """Keep the 8-connected components of mask (uint8 0/255) of which at least min_share of the pixels
    are set in turbid (uint8 0/255)."""
    if not cv2.countNonZero(mask):
        return mask
    n, labels = cv2.connectedComponents(mask, connectivity=8)
    flat = labels.ravel()
    areas = np.bincount(flat, minlength=n)
    hits = np.bincount(flat, weights=(turbid.ravel() > 0), minlength=n)
    keep = hits >= min_share * np.maximum(areas, 1)
    keep[0] = False
    if keep[1:].all():
        return mask
    return np.where(keep, 255, 0).astype(np.uint8).take(labels)


def drop_small_blobs(mask: np.ndarray, min_area: float) -> np.ndarray:
    """Keep only 8-connected components of a uint8 (0/255) mask with at least min_area pixels."""
    total = cv2.countNonZero(mask)
    if total == 0 or min_area <= 1:
        return mask
    if total < min_area:  # every blob is smaller than the whole
        return np.zeros_like(mask)
    if mask.size < 65535:  # 16-bit labels suffice, and their areas come from one histogram
        n, labels = cv2.connectedComponentsWithAlgorithm(mask, 8, cv2.CV_16U, cv2.CCL_DEFAULT)
        if n <= 1:
            return mask
        areas = cv2.calcHist([labels], [0], None, [n], [0, n]).ravel()
    else:
        n, labels = cv2.connectedComponents(mask, connectivity=8)
        if n <= 1:
            return mask
        areas = np.bincount(labels.ravel(), minlength=n)
    small = np.flatnonzero(areas[1:] < min_area) + 1
    if small.size == 0:
        return mask
    if small.size > 4:  # confetti: one table look-up for all
        keep = areas >= min_area
        keep[0] = False
        return np.where(keep, 255, 0).astype(np.uint8).take(labels)
    out = mask.copy()
    for i in small:
        out[labels == i] = 0
    return out
