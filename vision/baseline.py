"""A per-camera, per-zone reference of what the zone looks like when nothing is wrong.

Kept at a low resolution (at most `width` px wide) of the zone's bounding box: the mean colour in
CIE Lab, the mean local texture (standard deviation of grey levels), and the mean edge strength.
Learned from the first `warmup` calm looks (plain average), then updated slowly (exponential, `rate`)
and only when the caller says the look was calm: no active episode and a low score. A flood or a
fallen tree therefore never becomes "normal"; slow lighting changes (day → dusk) do. It also keeps the light it
was learned in (light_level, measured above the zone), so that a look can be brought to that light first.

The reference answers per pixel "how different is this look from the calm zone": colour distance
(ΔE in Lab), texture ratio and edge persistence (share of the reference's edges still visible:
lane marks and kerbs vanish under water but stay visible on a wet road).
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np


def local_std(gray: np.ndarray, win: int) -> np.ndarray:
    """Standard deviation of grey levels in a win×win window around each pixel (float32)."""
    if gray.dtype == np.uint8:  # box sums straight from the bytes (no float copy of the image)
        mean = cv2.boxFilter(gray, cv2.CV_32F, (win, win), borderType=cv2.BORDER_REFLECT)
        mean_sq = cv2.sqrBoxFilter(gray, cv2.CV_32F, (win, win), borderType=cv2.BORDER_REFLECT)
    else:
        g = gray.astype(np.float32)
        mean = cv2.boxFilter(g, cv2.CV_32F, (win, win), borderType=cv2.BORDER_REFLECT)
        mean_sq = cv2.boxFilter(g * g, cv2.CV_32F, (win, win), borderType=cv2.BORDER_REFLECT)
    return cv2.sqrt(cv2.max(cv2.subtract(mean_sq, cv2.multiply(mean, mean)), 0.0))


def edge_strength(gray: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def area_factor(w: int, width: int) -> int:
    """The integer downscale factor that brings w to at most `width` (1: no downscale)."""
    return max(1, -(-int(w) // max(int(width), 1)))


def area_down(img: np.ndarray, k: int) -> np.ndarray:
    """Exact k×k box average (the image trimmed to a multiple of k): OpenCV's fast INTER_AREA path,
    where a fractional factor costs several times more."""
    if k <= 1:
        return img
    H, W = (img.shape[0] // k) * k, (img.shape[1] // k) * k
    return cv2.resize(img[:H, :W], (W // k, H // k), interpolation=cv2.INTER_AREA)


class Features:
    """Low-resolution features of a BGR crop: at most `width` px wide, by an integer box average."""

    __slots__ = ("lab", "texture", "edges", "gray", "k", "light")

    def __init__(self, crop: np.ndarray, width: int = 160, light: np.ndarray | None = None):
        self.light = light  # the scene's light outside the zone (light_level), if the caller measured it
        h, w = crop.shape[:2]
        self.k = area_factor(w, width)
        if h // self.k >= 8 and w // self.k >= 8:
            small = area_down(crop, self.k)
        else:  # a tiny crop: as it was, at least 8×8
            self.k = 0
            s = min(1.0, width / max(w, 1))
            small = cv2.resize(crop, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
        self.lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
        self.gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        self.texture = local_std(self.gray, 3)
        self.edges = edge_strength(self.gray)

    @property
    def shape(self) -> tuple[int, int]:
        return self.gray.shape[:2]

    def downsize(self, mask: np.ndarray) -> np.ndarray:
        """A crop-sized uint8 mask brought to the features' size (box average: any part → > 0)."""
        if self.k:
            small = area_down(mask, self.k)
            if small.shape[:2] == self.shape:
                return small
        return cv2.resize(mask, self.shape[::-1], interpolation=cv2.INTER_AREA)


_K3 = np.ones((3, 3), np.uint8)
_LAB_WEIGHTS = np.array([[0.25, 1.0, 1.0]], np.float32)


class _Stored:
    """A reference image kept as uint8 (value × scale, 0..255): one reference is held per camera and
    zone, thousands per monitor, and a byte a value is 4x less than float32 (bench/monitors.py, 3,000
    cameras: ~110 MB less). Folding a look in rounds stochastically, with a dither fixed by the look's
    number (so runs repeat): plain rounding would freeze the reference, since a slow update (rate 0.05)
    moves a value by less than half a step unless the look differs by more than 10 steps."""

    __slots__ = ("scale", "q")

    def __init__(self, x: np.ndarray, scale: float):
        self.scale = scale
        self.q = self._encode(x, None)

    def _encode(self, x: np.ndarray, dither: np.ndarray | None) -> np.ndarray:
        y = cv2.multiply(x, self.scale) if self.scale != 1.0 else x.copy()
        y += dither if dither is not None else 0.5  # + U[0, 1) then floor: unbiased; + 0.5: nearest
        return np.clip(y, 0, 255.99).astype(np.uint8)  # astype truncates: floor for values >= 0

    def get(self) -> np.ndarray:
        """float32 values (the stored step is 1 / scale)."""
        v = self.q.astype(np.float32)
        return v if self.scale == 1.0 else cv2.multiply(v, 1.0 / self.scale)

    def fold(self, new: np.ndarray, a: float, look: int) -> None:
        acc = self.get()
        cv2.accumulateWeighted(new, acc, a)
        dither = np.random.default_rng(look).random(acc.shape, dtype=np.float32)
        self.q = self._encode(acc, dither)


# Scales: Lab is uint8 in OpenCV already; local std of grey levels is at most 127.5 (step 0.5); the Sobel
# magnitude of a uint8 image reaches ~1442, strong edges start at 60 (step 4, clipped at 1020).
_SCALES = {"lab": 1.0, "texture": 2.0, "edges": 0.25}


class ZoneBaseline:
    """patience: looks a camera may go without a calm one before its reference is learned from the scene
    as it is. A view that looks like a flood (or a tree) to one image but is this camera's normal (a wet
    road at dusk, a green median) would otherwise never get a reference and stay in warm-up, alarming on
    single-image judgement for ever. The price: a camera started during a flood that lasts that long
    learns the flood and ends the episode; `forced` says so (the operator sees it in the look's detail)."""

    def __init__(self, width: int = 160, warmup: int = 3, rate: float = 0.05, patience: int = 240):
        self.width = width
        self.warmup = warmup
        self.rate = rate
        self.patience = patience
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.waiting = 0  # looks offered since the last calm one, while not ready
        self.forced = False  # the reference was (partly) learned from looks that were not calm
        self._ref: dict[str, _Stored] = {}
        self.light: np.ndarray | None = None  # light_level of the warm-up looks: the light the reference is in
        self.key: tuple | None = None
        self._shape: tuple[int, int] | None = None

    # the reference as float32 arrays (None before the first calm look)
    @property
    def lab(self) -> np.ndarray | None:
        return self._ref["lab"].get() if self._ref else None

    @property
    def texture(self) -> np.ndarray | None:
        return self._ref["texture"].get() if self._ref else None

    @property
    def edges(self) -> np.ndarray | None:
        return self._ref["edges"].get() if self._ref else None

    @property
    def ready(self) -> bool:
        return self.count >= self.warmup

    def features(self, crop: np.ndarray, light: np.ndarray | None = None) -> Features:
        return Features(crop, self.width, light)

    def matches(self, key: tuple) -> bool:
        return self.key == key

    def light_gain(self, light: np.ndarray | None) -> np.ndarray | None:
        """Per channel (B, G, R), the factor that brings the scene's light now (light_level) back to the
        reference looks' light (None if either was not measured)."""
        if light is None or self.light is None:
            return None
        return np.clip((self.light + 1.0) / (light + 1.0), 0.2, 5.0)

    def offer(self, f: Features, key: tuple, calm: bool) -> None:
        """A look's features after it was judged: a calm one is folded in; one that is not, only when the
        camera has waited `patience` looks without being able to learn a reference."""
        if calm:
            self.waiting = 0
            self.update(f, key)
            return
        if self.ready and self.matches(key):
            return
        self.waiting += 1
        if self.waiting >= self.patience:
            self.update(f, key)
            self.forced = True

    def update(self, f: Features, key: tuple) -> None:
        """Fold a calm look into the reference (key: frame size and crop box; a change restarts it)."""
        if self.key != key or not self._ref or self._shape != f.shape:
            waiting = self.waiting
            self.reset()
            self.waiting = waiting
            self.key = key
            self._shape = f.shape
            self._ref = {name: _Stored(getattr(f, name), scale) for name, scale in _SCALES.items()}
            self.light = None if f.light is None else f.light.astype(np.float32)
            self.count = 1
            return
        a = 1.0 / (self.count + 1) if self.count < self.warmup else self.rate
        if self.count < self.warmup and f.light is not None and self.light is not None:
            self.light = self.light + a * (f.light - self.light)  # later looks come in corrected to this light
        for name, ref in self._ref.items():
            ref.fold(getattr(f, name), a, self.count)
        self.count += 1

    # -- comparisons (only when ready and the key matches) ------------------------------------------------
    def colour_distance(self, f: Features) -> np.ndarray:
        d = f.lab - self.lab
        # L is scaled 0..255 by OpenCV; weight lightness half so that shade (a cloud, dusk) counts less than hue
        return np.sqrt(0.25 * d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)

    def changed(self, f: Features, min_de: float, max_texture_ratio: float | None = None) -> np.ndarray:
        """uint8 mask (1 = changed) of where the look differs from the reference: colour_distance >= min_de,
        or (if given) texture_ratio <= max_texture_ratio. Squared distances, no square root."""
        d = cv2.subtract(f.lab, self.lab)
        cv2.multiply(d, d, dst=d)
        d2 = cv2.transform(d, _LAB_WEIGHTS)
        out = cv2.compare(d2, float(min_de) ** 2, cv2.CMP_GE)
        if max_texture_ratio is not None:  # (t + 1) <= r * (t_ref + 1)
            ref = self.texture
            ref += 1.0
            ref *= float(max_texture_ratio)
            out |= cv2.compare(f.texture + 1.0, ref, cv2.CMP_LE)
        return out >> 7  # 255 -> 1

    def lightness_change(self, f: Features) -> np.ndarray:
        return f.lab[..., 0] - self.lab[..., 0]

    def own_colour_gain(self, f: Features, road: np.ndarray) -> np.ndarray:
        """Per pixel, how much more colour of its own the look shows than the reference did, its own colour
        being its chroma (Lab a*, b*) off the line of the light's colour. The light's colour is the reference's
        mean tint over `road` (bool, features' size): asphalt is neutral, so its tint is the lamps'. More or
        less of that light moves a pixel along the line; an object's own colour moves it off. A gain, not a
        difference: an object that left (a vehicle seen while the reference was learned) is no gain."""
        now = f.lab[..., 1:] - 128.0
        ref = self.lab[..., 1:] - 128.0
        tint = ref[road].mean(axis=0) if road.any() else np.zeros(2, np.float32)
        n = float(np.hypot(tint[0], tint[1]))
        if n < 1.0:  # neutral light: all chroma is the objects'
            return np.hypot(now[..., 0], now[..., 1]) - np.hypot(ref[..., 0], ref[..., 1])
        ua, ub = tint[0] / n, tint[1] / n
        return np.abs(now[..., 0] * ub - now[..., 1] * ua) - np.abs(ref[..., 0] * ub - ref[..., 1] * ua)

    def texture_ratio(self, f: Features) -> np.ndarray:
        return (f.texture + 1.0) / (self.texture + 1.0)

    def edge_persistence(self, f: Features, mask: np.ndarray | None = None, strong: float = 60.0) -> float | None:
        """Share of the reference's strong edges (lane marks, kerbs) still strong now, within mask."""
        ref, lost = self.edges_lost(f, strong)
        if mask is not None:
            m = mask.view(np.uint8) if mask.dtype == bool else mask
            ref, lost = ref & m, lost & m
        n = cv2.countNonZero(ref)
        if n < 10:
            return None
        return 1.0 - float(cv2.countNonZero(lost)) / n

    def edges_lost(self, f: Features, strong: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
        """uint8 masks (255): the reference's strong edges, and those of them not strong now."""
        edges = self.edges
        ref = cv2.compare(edges, float(strong), cv2.CMP_GE)
        need = cv2.max(cv2.multiply(edges, 0.4), strong * 0.5)
        now = cv2.compare(cv2.dilate(f.edges, _K3), need, cv2.CMP_GE)
        return ref, ref & ~now


def light_level(image: np.ndarray, top: int) -> np.ndarray | None:
    """The light on the scene where a flood or a tree on the road cannot be: the upper half of the frame above
    `top` (the zone's top row), not the far road, which a flood covers too. Per channel (B, G, R), the 15th
    percentile of a sparse sample: the darker lit surfaces (facades, walls), not the sky, which is the light's
    source and turns grey with rain while the street does not. None if that band is thin."""
    if top < 0.2 * image.shape[0]:
        return None
    return np.percentile(image[:top // 2:8, ::8].reshape(-1, 3), 15, axis=0).astype(np.float32)


def picture_kind(image: np.ndarray, max_sat: float = 3.0, dark_val: float = 60.0) -> tuple[bool, bool]:
    """(monochrome, dark) from a sparse sample of the whole frame. Monochrome: an IR picture (no colour
    anywhere, not merely a grey road), mean saturation below max_sat. Dark: a colour picture at night, lit
    by street lamps if at all, median brightness (HSV value) below dark_val."""
    hsv = cv2.cvtColor(np.ascontiguousarray(image[::8, ::8]), cv2.COLOR_BGR2HSV)
    monochrome = float(hsv[..., 1].mean()) < max_sat
    return monochrome, not monochrome and float(np.median(hsv[..., 2])) < dark_val


class SceneReferences:
    """One ZoneBaseline per kind of picture a camera sends: colour by day, colour at night (lit by street
    lamps: other colours, other light and shade) and monochrome (IR). A camera switching to IR, or
    into the night, is then compared with, and teaches, the reference of that kind of picture, never its
    daylight one (every pixel would look changed). The night and IR ones exist only for cameras that send
    such pictures."""

    def __init__(self, make: Callable[[], ZoneBaseline]):
        self._make = make
        self._refs: dict[tuple[bool, bool], ZoneBaseline] = {}
        self.monochrome = False
        self.dark = False

    def select(self, monochrome: bool, dark: bool = False) -> ZoneBaseline:
        self.monochrome, self.dark = monochrome, dark and not monochrome
        return self.current

    @property
    def current(self) -> ZoneBaseline:
        kind = (self.monochrome, self.dark)
        ref = self._refs.get(kind)
        if ref is None:
            ref = self._refs[kind] = self._make()
        return ref

    def reset(self) -> None:
        self._refs.clear()


class KeepsReferences:
    """For an analyzer comparing looks with its camera's calm references: `self.params` has
    baseline_warmup, baseline_rate and baseline_patience; call _init_references() in __init__."""

    def _init_references(self) -> None:
        p = self.params
        self.references = SceneReferences(lambda: ZoneBaseline(
            warmup=p.baseline_warmup, rate=p.baseline_rate, patience=p.baseline_patience))

    @property
    def baseline(self) -> ZoneBaseline:
        """The reference for the kind of picture (colour or IR) of the last look."""
        return self.references.current

    def reset(self) -> None:
        self.references.reset()
