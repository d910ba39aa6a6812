"""Synthetic frames of a fixed road camera, deterministic from (camera seed, frame index).

Used by the tests and to write the demo samples in samples/cameras/. It is a drawing, not a
photograph: asphalt with grain, kerbs and pavements, dashed lane marks, buildings, a few vehicles,
optional rain (streaks, darker wet road, a little lens blur) and brown flood water rising from the
bottom of the road. Each frame comes with a SceneLabel stating the truth (water share of the
camera's default road zone, rain) so analyzers can be checked against it.

    image, label = render_scene(camera_seed=7, frame_index=0, water=0.8, rain=True)

The camera geometry (horizon, road edges, colours) depends on camera_seed only; vehicles move with
frame_index; water level and rain are arguments. Real cameras look different: do not tune a
detector on these alone.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np


@dataclass(frozen=True)
class CameraGeometry:
    width: int
    height: int
    horizon: float  # y of the vanishing line, px
    road_bottom: tuple[float, float]  # x of left and right road edge at the bottom row
    road_top: tuple[float, float]  # x of left and right road edge at the horizon
    asphalt: tuple[int, int, int]  # BGR
    grain: float  # std of asphalt grain
    pavement: tuple[int, int, int]
    water_hsv: tuple[int, int, int]  # OpenCV HSV (H 0..180) of this camera's flood water
    seed: int

    def road_x(self, y: float) -> tuple[float, float]:
        """Left and right road edge at row y (linear in y between horizon and bottom)."""
        t = (y - self.horizon) / (self.height - 1 - self.horizon)
        l0, r0 = self.road_top
        l1, r1 = self.road_bottom
        return l0 + (l1 - l0) * t, r0 + (r1 - r0) * t

    def zone_polygon(self) -> list[tuple[float, float]]:
        """The default analysis zone: the lower part of the road, inset from the kerbs, relative."""
        h, w = self.height, self.width
        y0 = self.horizon + 0.30 * (h - 1 - self.horizon)
        y1 = h - 1 - 0.02 * h
        pts = []
        for y, side in ((y0, 0), (y0, 1), (y1, 1), (y1, 0)):
            l, r = self.road_x(y)
            inset = 0.04 * (r - l)
            x = (l + inset) if side == 0 else (r - inset)
            pts.append((round(min(max(x / w, 0.0), 1.0), 3), round(min(max(y / h, 0.0), 1.0), 3)))
        return pts


@dataclass(frozen=True)
class SceneLabel:
    camera_seed: int
    frame_index: int
    water: float  # requested water level 0..1 (1: water reaches the top of the road zone)
    water_share: float  # true share of the default zone's pixels under water
    rain: bool
    flooded: bool  # water_share >= 0.5
    zone: list[tuple[float, float]] = field(default_factory=list)


def camera_geometry(camera_seed: int, width: int = 640, height: int = 360) -> CameraGeometry:
    rng = np.random.default_rng([camera_seed, 1022])
    horizon = height * rng.uniform(0.30, 0.40)
    cx = width * rng.uniform(0.42, 0.58)
    half_top = width * rng.uniform(0.04, 0.09)
    left_b = width * rng.uniform(-0.12, 0.08)
    right_b = width * rng.uniform(0.92, 1.12)
    grey = rng.uniform(78, 120)
    tint = rng.uniform(-5, 5)
    asphalt = (int(grey + tint), int(grey), int(grey - tint * 0.5))
    pv = rng.uniform(140, 185)
    pavement = (int(pv - 12), int(pv), int(pv + 8))
    water_hsv = (int(rng.uniform(10, 24)), int(rng.uniform(25, 150)), int(rng.uniform(90, 165)))
    return CameraGeometry(width, height, horizon, (left_b, right_b), (cx - half_top, cx + half_top),
                          asphalt, float(rng.uniform(6, 11)), pavement, water_hsv, camera_seed)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, scale: int, std: float) -> np.ndarray:
    small = rng.normal(0, 1, (max(2, h // scale), max(2, w // scale))).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    s = big.std()
    return big * (std / s) if s > 0 else big


def _road_polygon(g: CameraGeometry) -> np.ndarray:
    h = g.height
    (lt, rt), (lb, rb) = g.road_top, g.road_bottom
    return np.array([[lt, g.horizon], [rt, g.horizon], [rb, h - 1], [lb, h - 1]], dtype=np.float64)


def _background(g: CameraGeometry, rain: bool) -> np.ndarray:
    """Sky, buildings, pavements, kerbs, asphalt with grain, lane marks. Static per camera: drawn once per
    (camera, wet or not) and copied, since a sequence redraws it on every frame (half a frame's time)."""
    return _static_background(g, bool(rain)).copy()


@functools.lru_cache(maxsize=8)
def _static_background(g: CameraGeometry, rain: bool) -> np.ndarray:
    h, w = g.height, g.width
    rng = np.random.default_rng([g.seed, 7])
    img = np.zeros((h, w, 3), np.float32)
    hz = int(round(g.horizon))
    # sky: overcast gradient
    sky_top = np.array([170, 160, 150] if rain else [215, 195, 170], np.float32)
    sky_bot = np.array([185, 180, 175] if rain else [230, 220, 205], np.float32)
    for y in range(hz + 1):
        t = y / max(hz, 1)
        img[y, :] = sky_top * (1 - t) + sky_bot * t
    # buildings along the horizon
    x = -int(rng.uniform(0, 40))
    while x < w:
        bw = int(rng.uniform(30, 90))
        bh = int(rng.uniform(0.25, 0.95) * hz)
        col = rng.uniform(70, 200, 3)
        cv2.rectangle(img, (x, hz - bh), (x + bw, hz), col.tolist(), -1)
        for wy in range(hz - bh + 6, hz - 6, 12):  # windows
            for wx in range(x + 5, x + bw - 8, 11):
                cv2.rectangle(img, (wx, wy), (wx + 5, wy + 6), (col * 0.55).tolist(), -1)
        x += bw + int(rng.uniform(0, 12))
    # pavement below the horizon
    img[hz:, :] = np.array(g.pavement, np.float32)
    tiles = _smooth_noise(rng, h, w, 6, 6.0)
    img[hz:] += tiles[hz:, :, None]
    # road
    road = np.zeros((h, w), np.uint8)
    poly = _road_polygon(g)
    cv2.fillPoly(road, [np.round(poly).astype(np.int32)], 255)
    asphalt = np.array(g.asphalt, np.float32)[None, None, :] * np.ones((h, w, 1), np.float32)
    grain = rng.normal(0, g.grain, (h, w)).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.6) * 1.5
    patches = _smooth_noise(rng, h, w, 24, 6.0)
    asphalt += (grain + patches)[:, :, None]
    sel = road > 0
    img[sel] = asphalt[sel]
    # kerbs: a light band along each road edge
    for side in (0, 1):
        p_top = (g.road_top[side], g.horizon)
        p_bot = (g.road_bottom[side], h - 1)
        cv2.line(img, (int(p_top[0]), int(p_top[1])), (int(p_bot[0]), int(p_bot[1])), (200, 205, 210), 4)
    # dashed lane marks at 1/3 and 2/3 of the road width, perspective-scaled
    for frac in (1 / 3, 2 / 3):
        y = g.horizon + 4
        while y < h:
            l, r = g.road_x(y)
            t = (y - g.horizon) / (h - g.horizon)
            dash = 6 + 40 * t
            y2 = min(y + dash, h - 1)
            l2, r2 = g.road_x(y2)
            thick = max(1, int(round(1 + 5 * t)))
            cv2.line(img, (int(l + frac * (r - l)), int(y)), (int(l2 + frac * (r2 - l2)), int(y2)),
                     (225, 228, 230), thick)
            y = y2 + dash * 0.9
    if rain:  # wet road: darker, grain partly washed out, some sky sheen
        wet = road > 0
        img[wet] = img[wet] * 0.72 + 12
    img.flags.writeable = False  # shared by every frame of the camera: callers draw on a copy
    return img


def _vehicles(g: CameraGeometry, frame_index: int, n: int | None = None) -> list[tuple[int, int, int, int, tuple]]:
    rng = np.random.default_rng([g.seed, frame_index, 3])
    h = g.height
    count = int(rng.integers(1, 5)) if n is None else n
    cars = []
    for _ in range(count):
        y_base = rng.uniform(g.horizon + 0.15 * (h - g.horizon), h - 4)
        l, r = g.road_x(y_base)
        motorbike = rng.random() < 0.6
        vw = (0.06 if motorbike else 0.2) * (r - l)
        vh = vw * (2.2 if motorbike else 0.7)
        x = rng.uniform(l + 0.05 * (r - l), r - 0.05 * (r - l) - vw)
        col = tuple(float(c) for c in rng.uniform(20, 230, 3))
        cars.append((int(x), int(y_base - vh), int(x + vw), int(y_base), col))
    return cars


def _water_bgr(g) -> tuple[float, ...]:
    """The camera's flood-water colour in BGR (vehicles standing in water take it at their wheels)."""
    hsv = np.array([[g.water_hsv]], np.uint8)
    return tuple(float(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _draw_vehicles(img: np.ndarray, cars, water_line: float | None, water_bgr) -> None:
    for x0, y0, x1, y1, col in sorted(cars, key=lambda c: c[3]):
        cv2.rectangle(img, (x0 + 2, y1 - 2), (x1 + 4, y1 + 3), (40, 40, 40), -1)  # shadow
        cv2.rectangle(img, (x0, y0), (x1, y1), col, -1)
        ww = max(1, (y1 - y0) // 4)
        cv2.rectangle(img, (x0 + 2, y0 + 2), (x1 - 2, y0 + ww), tuple(c * 0.4 for c in col), -1)
        if water_line is not None and y1 > water_line:  # wheels under water
            sub = int(max(y0 + (y1 - y0) * 0.7, water_line))
            if sub < y1:
                roi = img[sub:y1 + 4, max(x0 - 1, 0):x1 + 5]
                roi[:] = roi * 0.35 + np.array(water_bgr, np.float32) * 0.65


def _water(g: CameraGeometry, img: np.ndarray, level: float, frame_index: int) -> tuple[np.ndarray, float | None]:
    """Brown murky water from the bottom of the road up to `level`; returns its mask and top row."""
    h, w = g.height, g.width
    mask = np.zeros((h, w), np.float32)
    if level <= 0:
        return mask, None
    zone_top = g.horizon + 0.30 * (h - 1 - g.horizon)
    top = (h - 1) - level * ((h - 1) - (zone_top - 0.04 * (h - g.horizon)))
    rng = np.random.default_rng([g.seed, frame_index, 11])
    xs = np.arange(w, dtype=np.float32)
    edge = top + 3 * np.sin(xs / rng.uniform(25, 45) + rng.uniform(0, 6)) + 2 * np.sin(xs / 9.0)
    ys = np.arange(h, dtype=np.float32)[:, None]
    below = ys >= edge[None, :]
    # water spreads over the road and, once deep, over the pavement edge too
    road = np.zeros((h, w), np.uint8)
    poly = _road_polygon(g).copy()
    spread = 0.0 if level < 0.5 else (level - 0.5) * 0.25 * w
    poly[2, 0] += spread
    poly[3, 0] -= spread
    cv2.fillPoly(road, [np.round(poly).astype(np.int32)], 255)
    inside = below & (road > 0)
    mask[inside] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), 1.2)
    hsv = np.array([[g.water_hsv]], np.uint8)
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    water = np.ones((h, w, 3), np.float32) * bgr
    water += _smooth_noise(rng, h, w, 30, 7.0)[:, :, None]  # murky patches
    ripples = 3.0 * np.sin(ys * 0.9 + 2 * np.sin(xs[None, :] / 17.0 + frame_index))
    water += ripples[:, :, None]
    water += rng.normal(0, 1.5, (h, w, 1)).astype(np.float32)
    # near the waterline it is shallow: lane marks and asphalt show through a little
    depth = np.clip((ys - edge[None, :]) / 25.0, 0, 1)
    alpha = mask * (0.7 + 0.3 * depth)
    img[:] = img * (1 - alpha[:, :, None]) + water * alpha[:, :, None]
    return mask, float(top)


def _rain(img: np.ndarray, g: CameraGeometry, frame_index: int) -> None:
    h, w = g.height, g.width
    rng = np.random.default_rng([g.seed, frame_index, 5])
    streaks = np.zeros((h, w), np.float32)
    angle = rng.uniform(-0.35, -0.15)
    for _ in range(int(rng.integers(350, 550))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        ln = rng.uniform(8, 26)
        x2, y2 = x + ln * math.sin(angle), y + ln * math.cos(angle)
        cv2.line(streaks, (int(x), int(y)), (int(x2), int(y2)), float(rng.uniform(25, 60)), 1)
    img += streaks[:, :, None]
    for _ in range(int(rng.integers(2, 6))):  # drops on the lens: blurred bright blobs
        cx, cy, r = int(rng.uniform(0, w)), int(rng.uniform(0, h)), int(rng.uniform(6, 18))
        x0, y0, x1, y1 = max(cx - r, 0), max(cy - r, 0), min(cx + r, w), min(cy + r, h)
        if x1 - x0 > 2 and y1 - y0 > 2:
            img[y0:y1, x0:x1] = cv2.GaussianBlur(img[y0:y1, x0:x1], (0, 0), 4) + 10
    img[:] = cv2.GaussianBlur(img, (0, 0), 0.6)


def render_scene(camera_seed: int, frame_index: int = 0, water: float = 0.0, rain: bool = False,
                 width: int = 640, height: int = 360, vehicles: int | None = None,
                 jpeg_quality: int | None = None) -> tuple[np.ndarray, SceneLabel]:
    """One BGR uint8 frame and its label. jpeg_quality: pass it through JPEG like a real camera."""
    g = camera_geometry(camera_seed, width, height)
    water = float(min(max(water, 0.0), 1.0))
    img = _background(g, rain)
    wmask, wtop = _water(g, img, water, frame_index)
    _draw_vehicles(img, _vehicles(g, frame_index, vehicles), wtop, _water_bgr(g))
    if rain:
        _rain(img, g, frame_index)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if jpeg_quality:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    zone = g.zone_polygon()
    zmask = np.zeros((height, width), np.uint8)
    pts = np.array([[round(x * width), round(y * height)] for x, y in zone], np.int32)
    cv2.fillPoly(zmask, [pts], 255)
    zsel = zmask > 0
    share = float((wmask[zsel] > 0.5).mean()) if zsel.any() else 0.0
    label = SceneLabel(camera_seed, frame_index, water, round(share, 4), rain, share >= 0.5, zone)
    return out, label


# ---- the demo samples --------------------------------------------------------------------------
# Water level per frame for a camera that floods and then drains (dry → flooded ≥ 6 looks → dry).
FLOOD_EPISODE = (0.0, 0.0, 0.0, 0.08, 0.25, 0.65, 0.8, 0.9, 0.95, 0.95, 0.9, 0.8, 0.4, 0.15, 0.0, 0.0)
# Rain per frame for a camera that stays dry through a downpour (false-positive check).
RAIN_SPELL = (False, False, False, True, True, True, True, True, True, True, True, True, True, False, False, False)


@dataclass(frozen=True)
class SampleCamera:
    id: str
    name: str
    seed: int
    water: Sequence[float]
    rain: Sequence[bool]


SAMPLE_CAMERAS = (
    SampleCamera("cam-nguyen-huu-canh", "Nguyễn Hữu Cảnh (mẫu tổng hợp)", 1022,
                 FLOOD_EPISODE, (False,) * 4 + (True,) * 4 + (False,) * 8),
    SampleCamera("cam-dien-bien-phu", "Điện Biên Phủ (mẫu tổng hợp)", 2025,
                 (0.0,) * len(RAIN_SPELL), RAIN_SPELL),
)


def write_sample_sequence(directory: str | Path, camera_seed: int, water: Sequence[float],
                          rain: Sequence[bool] | bool = False, width: int = 640, height: int = 360,
                          quality: int = 80) -> list[SceneLabel]:
    """Write frame_000.jpg, frame_001.jpg, … (one per water level) and labels.json into directory."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    rains = [rain] * len(water) if isinstance(rain, bool) else list(rain)
    if len(rains) != len(water):
        raise ValueError("rain and water need one entry per frame")
    labels = []
    for i, (lvl, r) in enumerate(zip(water, rains)):
        img, label = render_scene(camera_seed, i, lvl, r, width, height)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        (d / f"frame_{i:03d}.jpg").write_bytes(buf.tobytes())
        labels.append(label)
    meta = {"synthetic": True, "generator": "vision.scenes.write_sample_sequence", "camera_seed": camera_seed,
            "zone": labels[0].zone if labels else [],
            "frames": [{"file": f"frame_{i:03d}.jpg", **{k: v for k, v in asdict(lb).items() if k != "zone"}}
                       for i, lb in enumerate(labels)]}
    (d / "labels.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    return labels


def write_samples(root: str | Path) -> dict[str, list[SceneLabel]]:
    """(Re)write samples/cameras/<camera id>/ for every SAMPLE_CAMERAS entry."""
    return {c.id: write_sample_sequence(Path(root) / c.id, c.seed, c.water, c.rain) for c in SAMPLE_CAMERAS}


# ---- the extended generator: conditions, trees, camera faults (labelled per frame) ----------------
# render_scene and the demo samples above stay byte-for-byte as they were; everything below draws on
# top of the same camera geometry. Still drawings, not photographs: test data, never a claim about
# real cameras.
TIMES = ("day", "dusk", "night", "ir")
HEALTH_FAULTS = ("frozen", "black", "blinded", "defocused", "moved")


@dataclass(frozen=True)
class FrameLabel:
    camera_seed: int
    frame_index: int
    label: str  # "flooding" | "fallen_tree" | "normal": what an operator should be told about the road
    time: str = "day"
    rain: bool = False
    wet: bool = False  # wet reflective road (not a flood)
    glare: bool = False
    shadows: bool = False
    water: float = 0.0
    water_share: float = 0.0
    tree: bool = False
    tree_box: tuple[float, float, float, float] | None = None  # relative x0, y0, x1, y1
    tree_share: float = 0.0  # share of the road zone's pixels under the tree
    health: str | None = None  # one of HEALTH_FAULTS, or None
    shift: tuple[int, int] = (0, 0)
    zone: list[tuple[float, float]] = field(default_factory=list)


def _road_mask(g: CameraGeometry) -> np.ndarray:
    m = np.zeros((g.height, g.width), np.uint8)
    cv2.fillPoly(m, [np.round(_road_polygon(g)).astype(np.int32)], 255)
    return m


def _wet_road(img: np.ndarray, g: CameraGeometry, frame_index: int) -> None:
    """A wet, reflective road: darker asphalt mirroring the sky and buildings (vertical smears), bright
    specular spots of lights; lane marks and kerbs stay visible through the thin film."""
    h, w = g.height, g.width
    rng = np.random.default_rng([g.seed, frame_index, 21])
    road = _road_mask(g) > 0
    hz = int(round(g.horizon))
    above = img[max(0, 2 * hz - h):hz][::-1]  # the scene above the horizon, mirrored
    refl = cv2.resize(above, (w, h - hz), interpolation=cv2.INTER_LINEAR)
    refl = cv2.GaussianBlur(refl, (0, 0), sigmaX=1.5, sigmaY=7)
    k = float(rng.uniform(0.25, 0.45))
    sub = img[hz:]
    rsel = road[hz:]
    marks = (sub.mean(axis=2) > 200) & rsel  # lane marks keep their paint
    mixed = sub * (0.72 - k * 0.3) + refl * k
    sub[rsel & ~marks] = mixed[rsel & ~marks]
    sub[marks] = sub[marks] * 0.9
    for _ in range(int(rng.integers(6, 16))):  # specular highlights
        x, y = int(rng.uniform(0, w)), int(rng.uniform(hz + 5, h))
        if road[y, x]:
            cv2.ellipse(img, (x, y), (int(rng.uniform(2, 6)), int(rng.uniform(6, 20))), 0, 0, 360,
                        (245, 245, 245), -1)


def _shadows(img: np.ndarray, g: CameraGeometry, frame_index: int) -> None:
    """Shadows of buildings/trees across the road: same-hue, darker asphalt."""
    h, w = g.height, g.width
    rng = np.random.default_rng([g.seed, frame_index, 23])
    m = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        y = rng.uniform(g.horizon + 0.3 * (h - g.horizon), h - 20)
        th = rng.uniform(15, 60)
        x0 = rng.uniform(-0.2, 0.4) * w
        pts = np.array([[x0, y], [x0 + rng.uniform(0.5, 1.0) * w, y + rng.uniform(-20, 20)],
                        [x0 + rng.uniform(0.5, 1.0) * w, y + th], [x0, y + th + rng.uniform(-10, 10)]], np.int32)
        cv2.fillPoly(m, [pts], 1.0)
    m = cv2.GaussianBlur(m, (0, 0), 3) * 0.45
    img[:] = img * (1 - m[:, :, None])


def _people(img: np.ndarray, g: CameraGeometry, frame_index: int) -> None:
    rng = np.random.default_rng([g.seed, frame_index, 29])
    h = g.height
    for _ in range(int(rng.integers(1, 4))):
        y = rng.uniform(g.horizon + 0.3 * (h - g.horizon), h - 5)
        l, r = g.road_x(y)
        x = rng.uniform(l, r)
        ph = 0.12 * (y - g.horizon) + 8
        pw = ph * 0.3
        col = tuple(float(c) for c in rng.uniform(30, 220, 3))
        cv2.rectangle(img, (int(x), int(y - ph)), (int(x + pw), int(y)), col, -1)
        cv2.circle(img, (int(x + pw / 2), int(y - ph - pw * 0.4)), max(2, int(pw * 0.45)), (120, 150, 190), -1)


def _tree(img: np.ndarray, g: CameraGeometry, frame_index: int) -> np.ndarray:
    """A fallen tree across the lanes: a brown trunk from one kerb and a crown of foliage clusters.
    Returns its mask."""
    h, w = g.height, g.width
    rng = np.random.default_rng([g.seed, frame_index, 31])
    y_foot = rng.uniform(g.horizon + 0.45 * (h - g.horizon), h - 30)
    l, r = g.road_x(y_foot)
    from_left = rng.random() < 0.5
    reach = rng.uniform(0.55, 0.95)
    x_foot = l - 0.05 * (r - l) if from_left else r + 0.05 * (r - l)
    x_tip = l + reach * (r - l) if from_left else r - reach * (r - l)
    y_tip = y_foot + rng.uniform(-0.15, 0.1) * (h - g.horizon)
    scale = (y_foot - g.horizon) / (h - g.horizon)
    mask = np.zeros((h, w), np.uint8)
    trunk_w = max(3, int(6 + 14 * scale))
    bark = np.array([rng.uniform(30, 60), rng.uniform(55, 85), rng.uniform(75, 110)], np.float32)
    cv2.line(mask, (int(x_foot), int(y_foot)), (int(x_tip), int(y_tip)), 255, trunk_w)
    # branches
    branches = []
    for t in rng.uniform(0.3, 1.0, int(rng.integers(4, 8))):
        bx, by = x_foot + (x_tip - x_foot) * t, y_foot + (y_tip - y_foot) * t
        ex, ey = bx + rng.uniform(-60, 60) * (0.5 + scale), by + rng.uniform(-50, 30) * (0.5 + scale)
        cv2.line(mask, (int(bx), int(by)), (int(ex), int(ey)), 255, max(2, trunk_w // 3))
        branches.append((ex, ey))
    trunk = mask > 0
    img[trunk] = bark + rng.normal(0, 10, (int(trunk.sum()), 3)).astype(np.float32)
    # foliage: many small clusters of varied greens along the upper half of the trunk and at branch ends
    leaves = np.zeros((h, w), np.uint8)
    centres = [(x_foot + (x_tip - x_foot) * t, y_foot + (y_tip - y_foot) * t) for t in np.linspace(0.35, 1.0, 8)]
    centres += branches
    for cx, cy in centres:
        for _ in range(int(rng.integers(25, 50))):
            ox, oy = rng.normal(0, 22 * (0.5 + scale), 2)
            rad = int(rng.uniform(2, 6) * (0.6 + scale))
            hue = rng.uniform(35, 80)
            col = cv2.cvtColor(np.array([[[hue, rng.uniform(80, 220), rng.uniform(40, 170)]]], np.uint8),
                               cv2.COLOR_HSV2BGR)[0, 0].tolist()
            cv2.circle(img, (int(cx + ox), int(cy + oy)), max(1, rad), col, -1)
            cv2.circle(leaves, (int(cx + ox), int(cy + oy)), max(1, rad), 255, -1)
    return np.maximum(mask, leaves)


def _time_of_day(img: np.ndarray, g: CameraGeometry, time: str, frame_index: int) -> np.ndarray:
    h, w = g.height, g.width
    rng = np.random.default_rng([g.seed, frame_index, 37])
    if time == "day":
        return img
    if time == "dusk":
        out = img * 0.55
        out += np.array([0, 8, 22], np.float32)
        return out
    # night: dark scene, street-light pools, headlights; IR: greyscale, flat, noisy
    out = img * (0.22 if time == "night" else 0.55)
    lights = np.zeros((h, w), np.float32)
    for x in np.linspace(0.1, 0.9, 4) * w:
        y = rng.uniform(g.horizon + 0.4 * (h - g.horizon), h)
        cv2.circle(lights, (int(x), int(y)), int(rng.uniform(40, 90)), 1.0, -1)
    lights = cv2.GaussianBlur(lights, (0, 0), 25)
    if time == "night":
        out += lights[:, :, None] * np.array([40, 80, 110], np.float32)
        out += rng.normal(0, 3, (h, w, 1)).astype(np.float32)
        return out
    grey = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
    grey = grey * 0.9 + 25 + lights * 30 + rng.normal(0, 4, (h, w)).astype(np.float32)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _glare(img: np.ndarray, g: CameraGeometry, frame_index: int) -> None:
    h, w = g.height, g.width
    rng = np.random.default_rng([g.seed, frame_index, 41])
    m = np.zeros((h, w), np.float32)
    cx, cy = int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(g.horizon, h * 0.8))
    cv2.circle(m, (cx, cy), int(rng.uniform(15, 35)), 1.0, -1)
    cv2.line(m, (0, cy), (w, cy), 0.6, 3)  # flare streak
    m = cv2.GaussianBlur(m, (0, 0), 18) * 3.0
    img += np.clip(m, 0, 1.2)[:, :, None] * 230


def render_frame(camera_seed: int, frame_index: int = 0, *, water: float = 0.0, rain: bool = False,
                 time: str = "day", wet: bool = False, glare: bool = False, shadows: bool = False,
                 people: bool = False, tree: bool = False, shift: tuple[int, int] = (0, 0),
                 defocus: float = 0.0, fault: str | None = None, width: int = 640, height: int = 360,
                 vehicles: int | None = None, jpeg_quality: int | None = 80) -> tuple[np.ndarray, FrameLabel]:
    """One frame of the fixed camera under the given conditions, and its label.
    fault: "black" | "blinded" replace the picture; "frozen" is a sequence property (repeat a frame);
    shift (px) moves the camera (the label's zone stays where the operator drew it)."""
    if time not in TIMES:
        raise ValueError(f"time must be one of {TIMES}")
    g = camera_geometry(camera_seed, width, height)
    water = float(min(max(water, 0.0), 1.0))
    img = _background(g, rain or wet)
    if wet:
        _wet_road(img, g, frame_index)
    if shadows:
        _shadows(img, g, frame_index)
    wmask, wtop = _water(g, img, water, frame_index)
    _draw_vehicles(img, _vehicles(g, frame_index, vehicles), wtop, _water_bgr(g))
    if people:
        _people(img, g, frame_index)
    tmask = _tree(img, g, frame_index) if tree else None
    if rain:
        _rain(img, g, frame_index)
    img = _time_of_day(img, g, time, frame_index)
    if glare:
        _glare(img, g, frame_index)
    if defocus > 0:
        img = cv2.GaussianBlur(img, (0, 0), defocus)
    if shift != (0, 0):
        M = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
        img = cv2.warpAffine(img, M, (width, height), borderMode=cv2.BORDER_REFLECT)
    health = None
    if fault == "black":
        img = np.random.default_rng([camera_seed, frame_index, 43]).normal(6, 2, img.shape).astype(np.float32)
        health = "black"
    elif fault == "blinded":
        img = np.full(img.shape, 250, np.float32)
        img[:] += np.random.default_rng([camera_seed, frame_index, 47]).normal(0, 2, img.shape).astype(np.float32)
        health = "blinded"
    elif fault in ("frozen", "defocused", "moved"):
        health = fault
    elif defocus >= 3:
        health = "defocused"
    elif abs(shift[0]) + abs(shift[1]) >= 0.03 * width:
        health = "moved"
    out = np.clip(img, 0, 255).astype(np.uint8)
    if jpeg_quality:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    zone = g.zone_polygon()
    zmask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(zmask, [np.array([[round(x * width), round(y * height)] for x, y in zone], np.int32)], 255)
    zsel = zmask > 0
    share = float((wmask[zsel] > 0.5).mean()) if zsel.any() else 0.0
    tree_share, tree_box = 0.0, None
    if tmask is not None:
        tree_share = float((tmask[zsel] > 0).mean())
        ys, xs = np.nonzero(tmask)
        tree_box = (round(float(xs.min()) / width, 3), round(float(ys.min()) / height, 3),
                    round(float(xs.max() + 1) / width, 3), round(float(ys.max() + 1) / height, 3))
    label = "fallen_tree" if tree else ("flooding" if share >= 0.5 else "normal")
    if fault in ("black", "blinded"):
        label = "normal"  # nothing about the road can be said; camera_health's business
    return out, FrameLabel(camera_seed, frame_index, label, time, rain, wet, glare, shadows, water,
                           round(share, 4), tree, tree_box, round(tree_share, 4), health, tuple(shift), zone)


# Scripted sequences of one camera: per frame keyword arguments of render_frame.
def scenario(name: str, n: int = 16) -> list[dict]:
    if name == "flood":  # dry → rising → flooded → receding → dry, rain during the rise
        levels = list(FLOOD_EPISODE) + [0.0] * max(0, n - len(FLOOD_EPISODE))
        return [{"water": lv, "rain": 3 <= i <= 7} for i, lv in enumerate(levels[:n])]
    if name == "wet_road":  # rain then a wet reflective road that never floods
        return [{"rain": 3 <= i <= 8, "wet": i >= 3} for i in range(n)]
    if name == "tree":  # a tree falls at frame n//3 and is cleared at 2n//3
        return [{"tree": n // 3 <= i < 2 * n // 3, "shadows": True} for i in range(n)]
    if name == "camera_shift":
        return [{"shift": (0, 0) if i < n // 2 else (40, 18)} for i in range(n)]
    if name == "black":
        return [{"fault": "black" if n // 2 <= i < n // 2 + 4 else None} for i in range(n)]
    if name == "night":
        return [{"time": "night" if i % 2 else "ir"} for i in range(n)]
    raise ValueError(f"unknown scenario {name!r}")


def render_sequence(camera_seed: int, frames: Sequence[dict], **common) -> list[tuple[np.ndarray, FrameLabel]]:
    """Frames of a scripted sequence; a frame with fault="frozen" repeats the previous picture exactly."""
    out: list[tuple[np.ndarray, FrameLabel]] = []
    for i, kw in enumerate(frames):
        kw = {**common, **kw}
        if kw.get("fault") == "frozen" and out:
            prev_img, prev = out[-1]
            out.append((prev_img.copy(), FrameLabel(**{**asdict(prev), "frame_index": i, "health": "frozen"})))
            continue
        out.append(render_frame(camera_seed, i, **kw))
    return out


CONDITIONS = {  # evaluation conditions → render_frame arguments (a random draw picks the variant)
    "day": ({"time": "day"}, {"time": "day", "shadows": True}, {"time": "dusk"}),
    "night": ({"time": "night"}, {"time": "ir"}, {"time": "night", "glare": True}),
    "rain": ({"rain": True}, {"rain": True, "time": "dusk"}, {"rain": True, "glare": True}),
    "wet": ({"wet": True}, {"wet": True, "time": "dusk"}, {"wet": True, "glare": True}),
}
EVAL_LABELS = ("flooding", "fallen_tree", "normal")


def write_eval_set(root: str | Path, n: int = 30, seed: int = 0,
                   conditions: Sequence[str] = tuple(CONDITIONS)) -> dict[str, int]:
    """root/<condition>/<label>/<file>.jpg, n images per label per condition, plus root/labels.jsonl
    (one FrameLabel per image). Each condition folder is an `eval` dataset of its own; so is root."""
    root = Path(root)
    rng = np.random.default_rng([seed, 1022])
    counts: dict[str, int] = {}
    lines = []
    for cond in conditions:
        variants = CONDITIONS[cond]
        for label in EVAL_LABELS:
            d = root / cond / label
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                cam = int(rng.integers(0, 1_000_000))
                kw = dict(variants[int(rng.integers(len(variants)))])
                kw["people"] = bool(rng.random() < 0.3)
                kw["shadows"] = kw.get("shadows", False) or bool(rng.random() < 0.3)
                if label == "flooding":
                    kw["water"] = float(rng.uniform(0.6, 1.0))
                elif label == "fallen_tree":
                    kw["tree"] = True
                else:
                    kw["water"] = float(rng.choice([0.0, 0.0, rng.uniform(0.0, 0.15)]))
                img, lb = render_frame(cam, int(rng.integers(0, 1000)), **kw)
                if lb.label != label:  # e.g. water that ended up under half the zone: keep the truth
                    label_dir = root / cond / lb.label
                    label_dir.mkdir(parents=True, exist_ok=True)
                else:
                    label_dir = d
                name = f"{cond}-{label}-{i:04d}.jpg"
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
                (label_dir / name).write_bytes(buf.tobytes())
                rel = (label_dir / name).relative_to(root).as_posix()
                lines.append(json.dumps({"file": rel, "condition": cond, **asdict(lb)}, ensure_ascii=False))
                counts[f"{cond}/{lb.label}"] = counts.get(f"{cond}/{lb.label}", 0) + 1
    (root / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return counts


# ---- distractors: pictures that are not a road seen from a pole (label normal) -----------------------
DISTRACTORS = ("people", "street_front")


def _bokeh(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An out-of-focus background (a crowd, a stadium, lights): many coloured blobs, heavily blurred."""
    base = rng.uniform(20, 120, 3)
    img = np.full((h, w, 3), base, np.float32)
    for _ in range(int(rng.integers(80, 200))):
        c = tuple(float(v) for v in base * 0.5 + rng.uniform(0, 255, 3) * 0.5)
        cv2.circle(img, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(4, 25)), c, -1)
    return cv2.GaussianBlur(img, (0, 0), rng.uniform(4, 10))


def _person(img: np.ndarray, rng: np.random.Generator, cx: float, top: float, scale: float) -> None:
    """A person close to the camera: suit or shirt, head, hair; scale = head height in px."""
    h, w = img.shape[:2]
    suit = tuple(float(v) for v in (rng.uniform(10, 60, 3) if rng.random() < 0.6 else rng.uniform(40, 230, 3)))
    skin = cv2.cvtColor(np.array([[[rng.uniform(5, 20), rng.uniform(60, 150), rng.uniform(120, 230)]]], np.uint8),
                        cv2.COLOR_HSV2BGR)[0, 0].astype(float).tolist()
    sw = scale * rng.uniform(2.2, 3.2)
    body = np.array([[cx - sw * 0.35, top + scale * 1.1], [cx + sw * 0.35, top + scale * 1.1],
                     [cx + sw * 0.6, h + 5], [cx - sw * 0.6, h + 5]], np.int32)
    cv2.fillPoly(img, [body], suit)
    if rng.random() < 0.7:  # shirt and tie
        cv2.fillPoly(img, [np.array([[cx - scale * 0.25, top + scale * 1.1], [cx + scale * 0.25, top + scale * 1.1],
                                     [cx, top + scale * 2.2]], np.int32)], (235, 235, 235))
        cv2.line(img, (int(cx), int(top + scale * 1.2)), (int(cx), int(top + scale * 2.0)),
                 tuple(float(v) for v in rng.uniform(0, 200, 3)), max(1, int(scale * 0.12)))
    cv2.ellipse(img, (int(cx), int(top + scale * 0.55)), (int(scale * 0.4), int(scale * 0.55)), 0, 0, 360, skin, -1)
    if rng.random() < 0.7:  # hair
        hair = tuple(float(v) for v in rng.uniform(10, 90, 3))
        cv2.ellipse(img, (int(cx), int(top + scale * 0.3)), (int(scale * 0.42), int(scale * 0.3)), 0, 180, 360, hair, -1)
    if rng.random() < 0.5:  # an arm pointing
        ex = cx + rng.choice([-1, 1]) * sw * rng.uniform(0.8, 1.6)
        cv2.line(img, (int(cx), int(top + scale * 1.6)), (int(ex), int(top + scale * rng.uniform(1.2, 2.2))), suit,
                 max(2, int(scale * 0.35)))


def render_distractor(seed: int, index: int = 0, kind: str | None = None, width: int = 640,
                      height: int = 360, jpeg_quality: int | None = 80) -> tuple[np.ndarray, str]:
    """A picture that is neither a flood nor a fallen tree nor a road seen from a pole: people close up in
    front of a blurred crowd, or a street front (facade, a bus, people, paving) seen at eye level. Label
    `normal`: a learned model must not call every dark textured or brownish picture an incident."""
    rng = np.random.default_rng([seed, index, 53])
    kind = kind or DISTRACTORS[int(rng.integers(len(DISTRACTORS)))]
    h, w = height, width
    if kind == "people":
        img = _bokeh(rng, h, w)
        for _ in range(int(rng.integers(1, 4))):
            _person(img, rng, rng.uniform(0.1, 0.9) * w, rng.uniform(0.05, 0.5) * h, rng.uniform(0.12, 0.3) * h)
    elif kind == "street_front":
        img = np.zeros((h, w, 3), np.float32)
        wall = rng.uniform(90, 220, 3)
        img[:] = wall
        for wy in range(int(rng.uniform(5, 20)), int(h * 0.45), int(rng.uniform(35, 60))):  # windows, balconies
            for wx in range(int(rng.uniform(0, 30)), w, int(rng.uniform(50, 90))):
                cv2.rectangle(img, (wx, wy), (wx + int(rng.uniform(20, 35)), wy + int(rng.uniform(25, 40))),
                              (wall * rng.uniform(0.2, 0.5)).tolist(), -1)
        ground = int(h * rng.uniform(0.7, 0.85))
        pave = rng.uniform(90, 180)
        img[ground:] = pave
        img[ground:] += rng.normal(0, rng.uniform(6, 18), (h - ground, w, 1)).astype(np.float32)  # cobbles, tiles
        for y in range(ground, h, int(rng.uniform(6, 12))):
            cv2.line(img, (0, y), (w, y), (pave * 0.7,) * 3, 1)
        bx0, bx1 = int(rng.uniform(-0.1, 0.3) * w), int(rng.uniform(0.7, 1.1) * w)
        by0, by1 = int(h * rng.uniform(0.2, 0.35)), int(ground + 0.02 * h)
        body = tuple(float(v) for v in rng.uniform(30, 230, 3))
        cv2.rectangle(img, (bx0, by0), (bx1, by1), body, -1)  # a bus
        for x in range(bx0 + 10, bx1 - 40, int(rng.uniform(45, 70))):
            cv2.rectangle(img, (x, by0 + 10), (x + 35, by0 + int((by1 - by0) * 0.45)), (40, 35, 30), -1)
        for x in (bx0 + 0.15 * (bx1 - bx0), bx0 + 0.8 * (bx1 - bx0)):
            cv2.circle(img, (int(x), by1), int(0.06 * h), (20, 20, 20), -1)
        for _ in range(int(rng.integers(1, 4))):
            _person(img, rng, rng.uniform(0.05, 0.95) * w, rng.uniform(0.25, 0.45) * h, rng.uniform(0.06, 0.1) * h)
    else:
        raise ValueError(f"kind must be one of {DISTRACTORS}")
    img += rng.normal(0, 3, (h, w, 1)).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if jpeg_quality:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out, "normal"
