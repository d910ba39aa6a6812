"""Frame sources: where a camera's frames come from. One class per kind, one registry entry each.

    source = open_source(camera_conf, project_root)
    frame = source.read()   # Frame | None (a replay source that reached its end); raises SourceError
    source.close()

A SourceError carries a reason meant for the operator's health page ("HTTP 404 Not Found from …",
"timeout after 10 s", "not an image: content-type text/html"). Sources never retry by themselves:
scheduling, backoff and reconnecting are monitors.runner's job.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import cv2
import httpx
import numpy as np

from models.candidate import now_city


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_SNAPSHOT_BYTES = 10 * 1024 * 1024

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # BGR uint8 h×w×3
    captured_at: datetime  # aware
    ref: str  # unique per frame of this camera: file name, frame number, fetch time


class SourceError(Exception):
    """A frame could not be had. `reason` is short and meant for people."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class FrameSource(ABC):
    kind: str = ""

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame; None when a non-looping replay has no more frames."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


# ---- image_folder --------------------------------------------------------------------------------
class ImageFolderSource(FrameSource):
    """The image files of a folder in name order, one per read. With loop, starts again at the end
    (and picks up files added meanwhile); refs of later passes carry the pass number so they stay unique."""

    kind = "image_folder"

    def __init__(self, folder: str | Path, loop: bool = False, clock: Clock = now_city):
        self.folder = Path(folder)
        self.loop = loop
        self.clock = clock
        self._files: list[Path] = []
        self._pos = 0
        self._pass = 0
        self._scan()

    def _scan(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"image folder {self.folder} does not exist")
        self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self._files:
            raise SourceError(f"image folder {self.folder} has no images ({', '.join(IMAGE_SUFFIXES)})")

    def read(self) -> Frame | None:
        if self._pos >= len(self._files):
            if not self.loop:
                return None
            self._pass += 1
            self._pos = 0
            self._scan()
        path = self._files[self._pos]
        self._pos += 1
        try:
            data = np.frombuffer(path.read_bytes(), np.uint8)
        except OSError as e:
            raise SourceError(f"cannot read {path.name}: {e.strerror or e}") from None
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            raise SourceError(f"{path.name} is not a decodable image ({data.size} bytes)")
        ref = path.name if self._pass == 0 else f"{path.name}@pass{self._pass}"
        return Frame(_as_bgr(image), self.clock(), ref)


# ---- video_file ----------------------------------------------------------------------------------
class VideoFileSource(FrameSource):
    """A video file through cv2.VideoCapture, the next frame on each read; with loop, rewinds."""

    kind = "video_file"

    def __init__(self, path: str | Path, loop: bool = False, clock: Clock = now_city):
        self.path = Path(path)
        self.loop = loop
        self.clock = clock
        self._index = 0
        self._pass = 0
        self._cap: cv2.VideoCapture | None = None
        self._open()

    def _open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video file {self.path} does not exist")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open video {self.path.name} (unsupported or corrupt)")
        self._cap = cap
        self._index = 0

    def read(self) -> Frame | None:
        if self._cap is None:
            self._open()
        ok, image = self._cap.read()
        if not ok or image is None:
            if self._index == 0:
                raise SourceError(f"video {self.path.name} has no readable frames")
            if not self.loop:
                return None
            self._cap.release()
            self._cap = None
            self._open()
            self._pass += 1
            ok, image = self._cap.read()
            if not ok or image is None:
                raise SourceError(f"video {self.path.name} could not be rewound")
        ref = f"{self.path.name}#{self._index:06d}" + (f"@pass{self._pass}" if self._pass else "")
        self._index += 1
        return Frame(_as_bgr(image), self.clock(), ref)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


# ---- http_snapshot -------------------------------------------------------------------------------
class HttpSnapshotSource(FrameSource):
    """A JPEG/PNG snapshot URL fetched once per read (HCMC traffic cameras: they want a Referer)."""

    kind = "http_snapshot"

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout_s: float = 10.0,
                 max_bytes: int = MAX_SNAPSHOT_BYTES, client: httpx.Client | None = None, clock: Clock = now_city):
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"snapshot URL must be http(s): {url!r}")
        self.url = url
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.clock = clock
        self._own_client = client is None
        self._client = client or httpx.Client(follow_redirects=True)
        self._last_ref = ""

    def _fetch(self) -> tuple[bytes, str]:
        try:
            with self._client.stream("GET", self.url, headers=self.headers, timeout=self.timeout_s) as resp:
                if resp.status_code != 200:
                    raise SourceError(f"HTTP {resp.status_code} {resp.reason_phrase} from {self.url}".rstrip())
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if not ctype.startswith("image/"):
                    raise SourceError(f"not an image: content-type {ctype or '(none)'} from {self.url}")
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise SourceError(f"snapshot too large: {int(declared)} bytes > cap {self.max_bytes}")
                body = bytearray()
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise SourceError(f"snapshot too large: more than cap {self.max_bytes} bytes")
                return bytes(body), ctype
        except httpx.TimeoutException:
            raise SourceError(f"timeout after {self.timeout_s:g} s from {self.url}") from None
        except httpx.ConnectError as e:
            raise SourceError(f"cannot connect to {self.url}: {e}") from None
        except httpx.HTTPError as e:
            raise SourceError(f"HTTP error from {self.url}: {type(e).__name__}: {e}") from None

    def read(self) -> Frame:
        body, ctype = self._fetch()
        captured_at = self.clock()
        if not body:
            raise SourceError(f"empty body ({ctype}) from {self.url}")
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"undecodable image: {len(body)} bytes of {ctype} from {self.url}")
        ref = captured_at.strftime("%Y%m%dT%H%M%S.%f%z")
        if ref == self._last_ref:  # two reads within one microsecond of a coarse clock: keep refs unique
            ref += "-1"
        self._last_ref = ref
        return Frame(_as_bgr(image), captured_at, ref)

    def close(self) -> None:
        if self._own_client:
            self._client.close()


# ---- registry --------------------------------------------------------------------------------------
def _path(camera, project_root: Path) -> Path:
    p = Path(camera.url)
    return p if p.is_absolute() else Path(project_root) / p


def _image_folder(camera, project_root: Path) -> FrameSource:
    return ImageFolderSource(_path(camera, project_root), loop=camera.loop)


def _video_file(camera, project_root: Path) -> FrameSource:
    return VideoFileSource(_path(camera, project_root), loop=camera.loop)


def _http_snapshot(camera, project_root: Path) -> FrameSource:
    return HttpSnapshotSource(camera.url, headers=camera.headers, timeout_s=camera.timeout_s)


# kind -> factory(camera_conf, project_root) -> FrameSource. A new kind: one module, one entry here.
SOURCE_KINDS: dict[str, Callable[..., FrameSource]] = {
    "image_folder": _image_folder,
    "video_file": _video_file,
    "http_snapshot": _http_snapshot,
}


def open_source(camera, project_root: str | Path | None = None) -> FrameSource:
    """Open the source a configs.schema.CameraConf describes. Relative paths are relative to
    project_root (default: the project's root folder). Raises SourceError with the reason."""
    if project_root is None:
        from configs.loader import PROJECT_ROOT
        project_root = PROJECT_ROOT
    factory = SOURCE_KINDS.get(camera.kind)
    if factory is None:
        raise SourceError(f"unknown camera kind {camera.kind!r} (known: {', '.join(sorted(SOURCE_KINDS))})")
    return factory(camera, Path(project_root))
