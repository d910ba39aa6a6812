"""Zones: polygons of a camera's frame in relative (0..1) coordinates, rasterised per frame size.

A zone answers "which pixels of this frame belong to me" (`mask`), cached per frame size so that a
camera analysed every few seconds rasterises its polygons once.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Iterable, Sequence

import cv2
import numpy as np

# Rasterised masks, shared by every Zone with the same polygon and frame size (thousands of cameras
# often share a zone shape), least recently used dropped beyond MASK_CACHE_BYTES in total: a city's
# worth of cameras must not each keep a full-frame mask per size.
MASK_CACHE_BYTES = 64 * 1024 * 1024
_masks: "OrderedDict[tuple, np.ndarray]" = OrderedDict()
_masks_bytes = 0
_masks_lock = threading.Lock()


class Zone:
    """A named polygon in relative (x, y) coordinates, 0..1 of the frame's width and height."""

    def __init__(self, name: str, polygon: Iterable[Sequence[float]],
                 reference_line: Sequence[Sequence[float]] | None = None, reference_height_cm: float | None = None):
        pts = [(float(x), float(y)) for x, y in polygon]
        if len(pts) < 3:
            raise ValueError(f"zone {name!r}: a polygon needs at least 3 points, got {len(pts)}")
        for x, y in pts:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"zone {name!r}: point ({x}, {y}) is outside 0..1 (relative coordinates)")
        self.name = name
        self.polygon: tuple[tuple[float, float], ...] = tuple(pts)
        # optional depth reference for flooding: (foot, top) relative points, and its real height in cm
        self.reference_line: tuple[tuple[float, float], tuple[float, float]] | None = None
        if reference_line is not None:
            line = [(float(x), float(y)) for x, y in reference_line]
            if len(line) != 2 or not all(0.0 <= c <= 1.0 for pt in line for c in pt):
                raise ValueError(f"zone {name!r}: reference_line needs 2 relative points (foot, top), got {line}")
            self.reference_line = (line[0], line[1])
        self.reference_height_cm = reference_height_cm

    @classmethod
    def from_conf(cls, zone_conf) -> "Zone":
        """From a configs.schema.ZoneConf."""
        return cls(zone_conf.name, zone_conf.polygon, getattr(zone_conf, "reference_line", None),
                   getattr(zone_conf, "reference_height_cm", None))

    def points(self, h: int, w: int) -> np.ndarray:
        """The polygon in pixel coordinates of an h×w frame, int32 (N, 2) as OpenCV wants it."""
        rel = np.asarray(self.polygon, dtype=np.float64)
        px = np.empty_like(rel)
        px[:, 0] = np.clip(np.round(rel[:, 0] * w), 0, w - 1)
        px[:, 1] = np.clip(np.round(rel[:, 1] * h), 0, h - 1)
        return px.astype(np.int32)

    def mask(self, h: int, w: int) -> np.ndarray:
        """uint8 h×w mask, 255 inside the zone. Cached (shared across zones with the same polygon, LRU);
        treat the result as read-only."""
        global _masks_bytes
        key = (self.polygon, int(h), int(w))
        with _masks_lock:
            m = _masks.get(key)
            if m is not None:
                _masks.move_to_end(key)
                return m
        m = np.zeros((int(h), int(w)), dtype=np.uint8)
        cv2.fillPoly(m, [self.points(h, w)], 255)
        m.setflags(write=False)
        with _masks_lock:
            if key not in _masks:
                _masks[key] = m
                _masks_bytes += m.nbytes
                while _masks_bytes > MASK_CACHE_BYTES and len(_masks) > 1:
                    _, old = _masks.popitem(last=False)
                    _masks_bytes -= old.nbytes
        return m

    def area(self, h: int, w: int) -> int:
        return int(np.count_nonzero(self.mask(h, w)))

    def bbox(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) pixel bounds of the zone, x1/y1 exclusive."""
        x, y, bw, bh = cv2.boundingRect(self.points(h, w))
        return x, y, x + bw, y + bh

    def __repr__(self) -> str:
        return f"Zone({self.name!r}, {list(self.polygon)!r})"
