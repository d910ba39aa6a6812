"""A per-camera, per-zone reference of what the zone looks like when nothing is wrong.

Kept at a low resolution (at most `width` px wide) of the zone's bounding box: the mean colour in
CIE Lab, the mean local texture (standard deviation of grey levels), and the mean edge strength.
Learned from the first `warmup` calm looks (plain average), then updated slowly (exponential, `rate`)
and only when the caller says the look was calm: no active episode and a low score. A flood or a
fallen tree therefore never becomes "normal"; slow lighting changes (day → dusk) do.

The reference answers per pixel "how different is this look from the calm zone": colour distance
(ΔE in Lab), texture ratio and edge persistence (share of the reference's edges still visible:
lane marks and kerbs vanish under water but stay visible on a wet road).
"""
from __future__ import annotations

import cv2
import numpy as np


def local_std(gray: np.ndarray, win: int) -> np.ndarray:
    """Standard deviation of grey levels in a win×win window around each pixel (float32)."""
    g = gray.astype(np.float32)
    mean = cv2.boxFilter(g, cv2.CV_32F, (win, win), borderType=cv2.BORDER_REFLECT)
    mean_sq = cv2.boxFilter(g * g, cv2.CV_32F, (win, win), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def edge_strength(gray: np.ndarray) -> np.ndarray:
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


class Features:
    """Low-resolution features of a BGR crop."""

    __slots__ = ("lab", "texture", "edges", "gray")

    def __init__(self, crop: np.ndarray, width: int = 160):
        h, w = crop.shape[:2]
        s = min(1.0, width / max(w, 1))
        small = cv2.resize(crop, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
        self.lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
        self.gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        self.texture = local_std(self.gray, 3)
        self.edges = edge_strength(self.gray)

    @property
    def shape(self) -> tuple[int, int]:
        return self.gray.shape[:2]


def _blend(ref: np.ndarray, new: np.ndarray, a: float) -> np.ndarray:
    acc = ref.astype(np.float32)
    cv2.accumulateWeighted(new, acc, a)
    return acc.astype(np.float16)


class ZoneBaseline:
    def __init__(self, width: int = 160, warmup: int = 3, rate: float = 0.05):
        self.width = width
        self.warmup = warmup
        self.rate = rate
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.lab: np.ndarray | None = None
        self.texture: np.ndarray | None = None
        self.edges: np.ndarray | None = None
        self.key: tuple | None = None

    @property
    def ready(self) -> bool:
        return self.count >= self.warmup

    def features(self, crop: np.ndarray) -> Features:
        return Features(crop, self.width)

    def matches(self, key: tuple) -> bool:
        return self.key == key

    def update(self, f: Features, key: tuple) -> None:
        """Fold a calm look into the reference (key: frame size and crop box; a change restarts it).
        The reference is kept in float16: one is held per camera and zone, thousands per monitor, and
        half precision (±0.1 on 0..255) is far finer than the differences it is compared against."""
        if self.key != key or self.lab is None or self.lab.shape[:2] != f.shape:
            self.reset()
            self.key = key
            self.lab, self.texture, self.edges = (x.astype(np.float16) for x in (f.lab, f.texture, f.edges))
            self.count = 1
            return
        a = 1.0 / (self.count + 1) if self.count < self.warmup else self.rate
        self.lab = _blend(self.lab, f.lab, a)
        self.texture = _blend(self.texture, f.texture, a)
        self.edges = _blend(self.edges, f.edges, a)
        self.count += 1

    # -- comparisons (only when ready and the key matches) ------------------------------------------------
    def colour_distance(self, f: Features) -> np.ndarray:
        d = f.lab - self.lab
        # L is scaled 0..255 by OpenCV; weight lightness half so that shade (a cloud, dusk) counts less than hue
        return np.sqrt(0.25 * d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)

    def lightness_change(self, f: Features) -> np.ndarray:
        return f.lab[..., 0] - self.lab[..., 0]

    def texture_ratio(self, f: Features) -> np.ndarray:
        return (f.texture + 1.0) / (self.texture + 1.0)

    def edge_persistence(self, f: Features, mask: np.ndarray | None = None, strong: float = 60.0) -> float | None:
        """Share of the reference's strong edges (lane marks, kerbs) still strong now, within mask."""
        ref = self.edges >= strong
        if mask is not None:
            ref &= mask
        n = int(np.count_nonzero(ref))
        if n < 10:
            return None
        now = cv2.dilate(f.edges, np.ones((3, 3), np.uint8)) >= np.maximum(strong * 0.5, 0.4 * self.edges)
        return float(np.count_nonzero(now & ref)) / n
