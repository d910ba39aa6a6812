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
    """Sky, buildings, pavements, kerbs, asphalt with grain, lane marks. Static per camera."""
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
    hsv = np.array([[g.water_hsv]], np.uint8)
    water_bgr = tuple(float(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])
    _draw_vehicles(img, _vehicles(g, frame_index, vehicles), wtop, water_bgr)
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
