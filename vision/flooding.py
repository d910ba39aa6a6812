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

Known limits (to be tested against and redesigned with a per-camera dry baseline and a learned
backend): night/IR frames (no colour), brown dry surfaces (dirt roads, construction sites), very
smooth new asphalt, strong glare.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from vision.analyzer import AnalyzeContext, Analyzer, Observation
from vision.zones import Zone


@dataclass(frozen=True)
class FloodingParams:
    work_width: int = 640  # frames wider than this are downscaled first (texture is scale-dependent)
    hue_lo: int = 5  # OpenCV hue 0..180: brownish range
    hue_hi: int = 35
    sat_brown_lo: int = 20  # below this a pixel is "grey"
    sat_hi: int = 170  # above this it is a vivid colour (a painted vehicle), not muddy water
    val_lo: int = 50  # too dark: no colour information (night, shadow)
    val_hi: int = 235  # blown out (glare, sky)
    texture_win: int = 7  # window of the local standard deviation, px at work width
    texture_brown_max: float = 6.0  # local std of grey levels allowed for brownish water
    texture_grey_max: float = 2.0  # much stricter for grey pixels (asphalt is grey too)
    open_px: int = 5
    close_px: int = 9
    min_blob: float = 0.01  # drop water blobs smaller than this share of the analysed area (wet-road speckle)
    share_mid: float = 0.35  # water share at which the score is 0.5
    share_slope: float = 0.07  # logistic width


class FloodingAnalyzer(Analyzer):
    category = "flooding"
    backend = "classical"
    model_version = "flooding-classical-1"

    def __init__(self, params: FloodingParams | None = None, **overrides):
        base = params or FloodingParams()
        self.params = FloodingParams(**{**asdict(base), **overrides}) if overrides else base

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

        sd = local_std(cv2.cvtColor(work, cv2.COLOR_BGR2GRAY), p.texture_win)
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
        return f"nghi ngập nước, nước phủ khoảng {share:.0%} vùng '{obs.zone}'"

    def score_from_share(self, share: float) -> float:
        p = self.params
        return 1.0 / (1.0 + math.exp(-(share - p.share_mid) / p.share_slope))

    # -- the analyzer -------------------------------------------------------------------------
    def analyze(self, image: np.ndarray, zone: Zone, ctx: AnalyzeContext) -> Observation:
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a BGR image, got shape {image.shape}")
        h, w = image.shape[:2]
        zmask = zone.mask(h, w)
        x0, y0, x1, y1 = zone.bbox(h, w)
        # analyse the zone's bounding box plus a margin (so window statistics near the border are real)
        m = int(np.ceil((self.params.texture_win + self.params.close_px) * max(1.0, w / self.params.work_width)))
        cx0, cy0, cx1, cy1 = max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, w), min(y1 + m, h)
        crop_mask = self.water_mask(image[cy0:cy1, cx0:cx1], scale=min(1.0, self.params.work_width / w))
        full = np.zeros((h, w), np.uint8)
        full[cy0:cy1, cx0:cx1] = crop_mask
        full &= zmask
        zone_px = int(np.count_nonzero(zmask))
        water_px = int(np.count_nonzero(full))
        share = water_px / zone_px if zone_px else 0.0
        score = self.score_from_share(share)
        return Observation(
            category=self.category, zone=zone.name, score=round(score, 4), positive=score >= ctx.threshold,
            threshold=ctx.threshold, detail={"water_share": round(share, 4), "zone_px": zone_px},
            mask=full,
        )


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
