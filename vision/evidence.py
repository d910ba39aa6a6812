"""Evidence for operators: the frame with zones, what was detected and the numbers drawn on it,
stored content-addressed (the sha256 of the JPEG is its name, so storing twice is a no-op).

The raw frame (as the analyzers saw it, nothing drawn) is kept too, content-addressed the same way and
referenced beside the annotated one: `<sha>.raw` next to `<sha>.jpg` holds the raw frame's URI. Training
data (vision.dataset_export) is made from raw frames; the annotated one is for people.
`render_evidence` returns the annotated JPEG carrying its raw frame's JPEG (`EvidenceJPEG.raw_jpeg`), so a
plain `store.put(render_evidence(...))` keeps both; `store.raw_of(uri)` finds the raw frame again."""
from __future__ import annotations

import os
import tempfile
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np

from models.candidate import sha256_hex
from vision.analyzer import Observation
from vision.zones import Zone

POSITIVE = (40, 40, 230)  # BGR red
NEGATIVE = (80, 200, 80)  # green
MASK_TINT = (255, 120, 0)  # blue-ish overlay where the analyzer saw its category
BOX_COLOR = (0, 215, 255)  # BGR amber: boxes an analyzer reported (e.g. the fallen tree)


_PUNCT = str.maketrans({"đ": "d", "Đ": "D", "–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"',
                        "…": "...", "≥": ">=", "≤": "<=", "\u00a0": " "})


def ascii_text(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only: drop Vietnamese diacritics (Nguyễn → Nguyen, đ → d)."""
    text = text.translate(_PUNCT)
    plain = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return plain.encode("ascii", "replace").decode("ascii")


def _label(img: np.ndarray, text: str, org: tuple[int, int], scale: float, color=(255, 255, 255)) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    thick = max(1, int(round(scale * 2)))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    x, y = org
    cv2.rectangle(img, (x - 3, y - th - 4), (x + tw + 3, y + base + 2), (0, 0, 0), -1)
    cv2.putText(img, text, (x, y), font, scale, color, thick, cv2.LINE_AA)


RAW_QUALITY = 92  # the raw frame is training data: little JPEG loss on top of the camera's own


class EvidenceJPEG(bytes):
    """JPEG bytes of an annotated evidence frame, with the JPEG of the raw frame it was drawn on
    (`raw_jpeg`, or None): EvidenceStore.put stores that one too and links it beside the annotated one."""

    raw_jpeg: bytes | None = None

    def __new__(cls, data: bytes, raw_jpeg: bytes | None = None):
        obj = super().__new__(cls, data)
        obj.raw_jpeg = raw_jpeg
        return obj


def encode_jpeg(image: np.ndarray, quality: int = RAW_QUALITY) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def render_evidence(image: np.ndarray, zones: Sequence[Zone], observations: Sequence[Observation],
                    camera_name: str, threshold: float | Mapping[str, float] | None, observed_at: datetime,
                    quality: int = 85, keep_raw: bool = True) -> EvidenceJPEG:
    """JPEG bytes of the frame annotated with zone outlines (red where positive), each observation's
    mask tinted, its score against the threshold, and the camera's name and the time. With keep_raw, the
    result also carries the raw frame's JPEG (`.raw_jpeg`), which EvidenceStore.put stores beside it."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a BGR image, got shape {image.shape}")
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.4, min(1.2, w / 1100))

    for obs in observations:  # tint masks first so outlines and text stay readable
        if obs.mask is not None and obs.mask.shape[:2] == (h, w):
            sel = obs.mask > 0
            out[sel] = (out[sel] * 0.55 + np.array(MASK_TINT, np.float32) * 0.45).astype(np.uint8)

    for obs in observations:  # boxes (relative x, y, w, h), e.g. the fallen tree
        for b in obs.boxes:
            bx0, by0 = int(round(b.x * w)), int(round(b.y * h))
            bx1, by1 = int(round((b.x + b.w) * w)) - 1, int(round((b.y + b.h) * h)) - 1
            bx0, by0 = min(max(bx0, 0), w - 1), min(max(by0, 0), h - 1)
            bx1, by1 = min(max(bx1, bx0), w - 1), min(max(by1, by0), h - 1)
            cv2.rectangle(out, (bx0, by0), (bx1, by1), BOX_COLOR, max(2, int(round(3 * scale))))
            tag = b.label or obs.category
            if b.score is not None:
                tag += f" {b.score:.2f}"
            _label(out, ascii_text(tag), (min(bx0 + 2, w - 60), max(by0 - 6, 14)), scale * 0.5, BOX_COLOR)

    by_zone: dict[str, list[Observation]] = {}
    for obs in observations:
        by_zone.setdefault(obs.zone, []).append(obs)
    for zone in zones:
        obs_here = by_zone.get(zone.name, [])
        color = POSITIVE if any(o.positive for o in obs_here) else NEGATIVE
        pts = zone.points(h, w)
        cv2.polylines(out, [pts], True, color, max(2, int(round(3 * scale))), cv2.LINE_AA)
        tx, ty = min(pts.tolist(), key=lambda p: (p[1], p[0]))  # the zone's top-left-most corner
        _label(out, ascii_text(zone.name), (min(tx + 4, w - 60), max(ty - 8, 16)), scale * 0.6, color)

    lines = []
    for obs in observations:
        thr = obs.threshold  # the threshold argument, if given, is what the operator set and wins
        if isinstance(threshold, Mapping):
            thr = threshold.get(obs.category, thr)
        elif threshold is not None:
            thr = float(threshold)
        share = obs.detail.get("water_share")
        extra = f"  water {share:.0%}" if isinstance(share, (int, float)) else ""
        if obs.detail.get("severity"):
            extra += f"  severity {obs.detail['severity']}"
        if obs.detail.get("depth_band"):
            extra += f"  depth {obs.detail['depth_band']}"
        if obs.boxes and isinstance(obs.detail.get("blocked_share"), (int, float)):
            extra += f"  blocked {obs.detail['blocked_share']:.0%} width {obs.detail.get('width_share', 0):.0%}"
        sign = ">=" if obs.score >= thr else "<"
        lines.append((f"{obs.category} [{obs.zone}] score {obs.score:.2f} {sign} thr {thr:.2f}{extra}",
                      POSITIVE if obs.positive else (255, 255, 255)))

    y = int(22 * scale / 0.6)
    _label(out, ascii_text(camera_name), (8, y), scale * 0.7)
    y += int(26 * scale / 0.6)
    _label(out, observed_at.isoformat(timespec="seconds"), (8, y), scale * 0.6)
    for text, color in lines:
        y += int(24 * scale / 0.6)
        _label(out, ascii_text(text), (8, y), scale * 0.6, color)

    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding of the evidence failed")
    return EvidenceJPEG(buf.tobytes(), encode_jpeg(image) if keep_raw else None)


class EvidenceStore:
    """Files under `directory` named by content: `<sha[:2]>/<sha>.jpg`. The relative name is the URI
    the candidate carries; whoever serves the directory (the bridge's evidence_base_url) prefixes it."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def put(self, jpeg_bytes: bytes, raw_jpeg: bytes | None = None) -> tuple[str, str]:
        """Store the bytes (atomically, once) and return (sha256 hex, relative URI). The raw frame's JPEG
        (raw_jpeg, else the one an EvidenceJPEG carries) is stored too and linked beside it (see raw_of)."""
        if not jpeg_bytes:
            raise ValueError("empty evidence")
        sha, rel = self._put(bytes(jpeg_bytes))
        raw = raw_jpeg if raw_jpeg is not None else getattr(jpeg_bytes, "raw_jpeg", None)
        if raw:
            _, raw_rel = self._put(bytes(raw))
            link = self.directory / f"{rel[:-4]}.raw"
            if raw_rel != rel and not (link.is_file() and link.read_text(encoding="ascii") == raw_rel):
                self._write(link, raw_rel.encode("ascii"))
        return sha, rel

    def put_frame(self, image: np.ndarray, quality: int = RAW_QUALITY) -> tuple[str, str]:
        """Store a raw frame (BGR array) as JPEG: (sha256 hex, relative URI)."""
        return self._put(encode_jpeg(image, quality))

    def raw_of(self, uri: str) -> str | None:
        """The relative URI of the raw frame stored beside an annotated evidence frame, or None."""
        p = self.path(uri)
        link = p.with_suffix(".raw")
        if not link.is_file():
            return None
        raw = link.read_text(encoding="ascii").strip()
        try:
            if not self.path(raw).is_file():
                return None
        except ValueError:
            return None
        return raw

    def _put(self, data: bytes) -> tuple[str, str]:
        sha = sha256_hex(data)
        rel = f"{sha[:2]}/{sha}.jpg"
        path = self.directory / rel
        if not (path.exists() and path.stat().st_size == len(data)):
            self._write(path, data)
        return sha, rel

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def path(self, uri: str) -> Path:
        """The file behind a relative URI returned by put (refuses anything outside the store)."""
        p = (self.directory / uri).resolve()
        if self.directory.resolve() not in p.parents:
            raise ValueError(f"{uri!r} is not inside the evidence store")
        return p

    def get(self, uri: str) -> bytes:
        return self.path(uri).read_bytes()
