"""Frame sources: where a camera's frames come from. One class per kind, one registry entry each.

    source = open_source(camera_conf, project_root, context=SourceContext(...))
    frame = source.read()   # Frame | None (a replay source that reached its end); raises SourceError
    source.close()

Kinds (SOURCE_KINDS): `http_snapshot` (a JPEG/PNG URL fetched per look: HCMC's traffic cameras, with a
Referer header, basic or bearer auth), `mjpeg` (multipart MJPEG over HTTP), `rtsp` (OpenCV's FFmpeg
backend), `video_file` (a file through the same backend; replayed frame by frame, or `live` at its own
speed), `image_folder` (replay of image files).

Live streams (mjpeg, rtsp, live video files) are read by one reader thread per stream that keeps only
the newest frame: `read()` returns the newest frame that arrived after the previous read, so an analyzer
never sees a frame older than the newest available. A stream that delivers nothing new for the read
timeout is "frozen" (a SourceError with kind "frozen"); a stream whose connection ended is `broken`, so
the monitor reopens it (a reconnect).

Untrusted bytes are checked before they are decoded: the JPEG/PNG header gives the image size, and an
image above `max_pixels` (a decompression bomb: a small file that would decode to gigabytes) is refused
without decoding; a JPEG without its end-of-image marker is truncated. JPEGs are decoded at the smallest
scale (1/2, 1/4, 1/8 through libjpeg's scaled decoding) that stays at least as wide as the camera's
`analysis_width`: the analyzers work at that size anyway, and a reduced decode costs a fraction.

A SourceError carries a reason meant for the operator's health page ("HTTP 404 Not Found from …",
"timeout after 10 s", "not an image: content-type text/html") and a short `kind` (timeout, refused,
dns, http_4xx, http_5xx, redirect_loop, content_type, bad_image, too_large, too_slow, frozen, policy,
closed, other). Sources never retry by themselves: scheduling, backoff and reconnecting are
monitors.runner's job.
"""
from __future__ import annotations

import errno
import os
import re
import socket
import struct
import threading
import time
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import cv2
import httpx
import numpy as np

from models.candidate import now_city
from monitors.netpolicy import DnsFailure, UrlPolicy, UrlRefused

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
MAX_SNAPSHOT_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 25_000_000  # 25 MP: above any traffic camera (4K is 8.3 MP)
MAX_REDIRECTS = 5
USER_AGENT = "watch1022-monitor"

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # BGR uint8 h×w×3 (possibly reduced: see `full_size`)
    captured_at: datetime  # aware
    ref: str  # unique per frame of this camera: file name, frame number, fetch time
    full_size: tuple[int, int] | None = None  # (width, height) before a reduced decode
    nbytes: int = 0  # encoded size, when known
    latency_s: float | None = None  # request → last byte, for fetched frames
    digest: int | None = None  # cheap checksum of the encoded bytes (a frozen snapshot repeats it)


class SourceError(Exception):
    """A frame could not be had. `reason` is short and meant for people; `kind` classifies it."""

    def __init__(self, reason: str, kind: str = "other"):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


class FrameSource(ABC):
    kind: str = ""
    broken: bool = False  # the connection is gone: the monitor should close and reopen this source

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame; None when a non-looping replay has no more frames."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class SourceContext:
    """What the monitor hands every source it opens: a shared, pooled HTTP client, the URL policy,
    limits, and the name it fetches under."""
    client: httpx.Client | None = None
    policy: UrlPolicy | None = None  # None: no address checks (file kinds, source tests)
    max_pixels: int = MAX_PIXELS
    max_bytes: int = MAX_SNAPSHOT_BYTES
    user_agent: str = USER_AGENT
    clock: Clock = now_city


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


# ---- image bytes: header check, reduced decode --------------------------------------------------
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


def image_header(data: bytes | memoryview) -> tuple[str, int, int]:
    """(format, width, height) from a JPEG's SOF segment or a PNG's IHDR, without decoding.
    Raises SourceError (bad_image) when the bytes are neither."""
    b = bytes(data[:32]) if len(data) < 32 else bytes(data[:32])
    if b[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and b[12:16] == b"IHDR":
        w, h = struct.unpack(">II", b[16:24])
        return "png", w, h
    if b[:2] != b"\xff\xd8":
        raise SourceError(f"not a JPEG or PNG (starts with {bytes(data[:8]).hex()})", "bad_image")
    i, n = 2, len(data)
    mv = memoryview(data)
    while i + 4 <= n:
        if mv[i] != 0xFF:
            raise SourceError(f"garbage JPEG: no marker at byte {i}", "bad_image")
        marker = mv[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        seg_len = (mv[i + 2] << 8) | mv[i + 3]
        if seg_len < 2:
            raise SourceError(f"garbage JPEG: segment length {seg_len} at byte {i}", "bad_image")
        if marker in _SOF:
            if i + 9 > n:
                break
            h = (mv[i + 5] << 8) | mv[i + 6]
            w = (mv[i + 7] << 8) | mv[i + 8]
            return "jpeg", w, h
        if marker in (0xDA, 0xD9):  # start of scan / end of image before any frame header
            break
        i += 2 + seg_len
    raise SourceError("garbage or truncated JPEG: no frame header (SOF) found", "bad_image")


def reduce_factor(width: int, analysis_width: int | None) -> int:
    """The largest libjpeg scale denominator (8, 4, 2) keeping the image at least analysis_width wide."""
    if not analysis_width:
        return 1
    for f in (8, 4, 2):
        if width // f >= analysis_width:
            return f
    return 1


def decode_image(data: bytes, *, analysis_width: int | None = None, max_pixels: int = MAX_PIXELS,
                 what: str = "image") -> tuple[np.ndarray, tuple[int, int]]:
    """Check the header (format, size against max_pixels, JPEG end marker), then decode, reduced for
    JPEGs when analysis_width allows. Returns (BGR image, (full width, full height))."""
    fmt, w, h = image_header(data)
    if w <= 0 or h <= 0:
        raise SourceError(f"{what}: {fmt.upper()} header says {w}x{h}", "bad_image")
    if w * h > max_pixels:
        raise SourceError(f"{what}: {w}x{h} = {w * h / 1e6:.1f} MP exceeds the {max_pixels / 1e6:g} MP limit "
                          f"(refused before decoding)", "too_large")
    flag = cv2.IMREAD_COLOR
    if fmt == "jpeg":
        tail = data[-64:].rstrip(b"\x00\r\n ")
        if not tail.endswith(b"\xff\xd9"):
            raise SourceError(f"{what}: truncated JPEG ({len(data)} bytes, no end-of-image marker)", "bad_image")
        flag = _REDUCED[reduce_factor(w, analysis_width)]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None:
        raise SourceError(f"{what}: undecodable {fmt.upper()} ({len(data)} bytes)", "bad_image")
    return _as_bgr(image), (w, h)


# ---- image_folder --------------------------------------------------------------------------------
class ImageFolderSource(FrameSource):
    """The image files of a folder in name order, one per read. With loop, starts again at the end
    (and picks up files added meanwhile); refs of later passes carry the pass number so they stay unique."""

    kind = "image_folder"

    def __init__(self, folder: str | Path, loop: bool = False, clock: Clock = now_city,
                 analysis_width: int | None = None, max_pixels: int = MAX_PIXELS):
        self.folder = Path(folder)
        self.loop = loop
        self.clock = clock
        self.analysis_width = analysis_width
        self.max_pixels = max_pixels
        self._files: list[Path] = []
        self._pos = 0
        self._pass = 0
        self._scan()

    def _scan(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"image folder {self.folder} does not exist", "missing")
        self._files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self._files:
            raise SourceError(f"image folder {self.folder} has no images ({', '.join(IMAGE_SUFFIXES)})", "missing")

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
            data = path.read_bytes()
        except OSError as e:
            raise SourceError(f"cannot read {path.name}: {e.strerror or e}", "missing") from None
        full = None
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            try:
                image, full = decode_image(data, analysis_width=self.analysis_width, max_pixels=self.max_pixels,
                                           what=path.name)
            except SourceError as e:
                if e.kind == "too_large":
                    raise
                raise SourceError(f"{path.name} is not a decodable image ({len(data)} bytes): {e.reason}",
                                  "bad_image") from None
        else:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if image is None:
                raise SourceError(f"{path.name} is not a decodable image ({len(data)} bytes)", "bad_image")
            image = _as_bgr(image)
        ref = path.name if self._pass == 0 else f"{path.name}@pass{self._pass}"
        return Frame(image, self.clock(), ref, full_size=full, nbytes=len(data))


# ---- OpenCV / FFmpeg captures -------------------------------------------------------------------
def _capture(url: str, open_timeout_s: float, read_timeout_s: float) -> cv2.VideoCapture:
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000)]
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        cap = cv2.VideoCapture(url, cv2.CAP_ANY)  # other backends for odd local files
    return cap


class VideoFileSource(FrameSource):
    """A video file through OpenCV's FFmpeg backend, the next frame on each read (a replay: nothing is
    skipped); with loop, rewinds. For a file played as if it were a live camera, see CaptureStreamSource."""

    kind = "video_file"

    def __init__(self, path: str | Path, loop: bool = False, clock: Clock = now_city,
                 open_timeout_s: float = 10.0, read_timeout_s: float = 10.0):
        self.path = Path(path)
        self.loop = loop
        self.clock = clock
        self.open_timeout_s, self.read_timeout_s = open_timeout_s, read_timeout_s
        self._index = 0
        self._pass = 0
        self._cap: cv2.VideoCapture | None = None
        self._open()

    def _open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video file {self.path} does not exist", "missing")
        cap = _capture(str(self.path), self.open_timeout_s, self.read_timeout_s)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open video {self.path.name} (unsupported or corrupt)", "bad_image")
        self._cap = cap
        self._index = 0

    def read(self) -> Frame | None:
        if self._cap is None:
            self._open()
        ok, image = self._cap.read()
        if not ok or image is None:
            if self._index == 0:
                raise SourceError(f"video {self.path.name} has no readable frames", "bad_image")
            if not self.loop:
                return None
            self._cap.release()
            self._cap = None
            self._open()
            self._pass += 1
            ok, image = self._cap.read()
            if not ok or image is None:
                raise SourceError(f"video {self.path.name} could not be rewound", "bad_image")
        ref = f"{self.path.name}#{self._index:06d}" + (f"@pass{self._pass}" if self._pass else "")
        self._index += 1
        return Frame(_as_bgr(image), self.clock(), ref, full_size=(image.shape[1], image.shape[0]))

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class _LatestFrameSource(FrameSource):
    """Base of live streams: a reader thread publishes the newest frame; read() takes a frame newer
    than the one it returned last, waiting at most `stall_s` for one ("frozen" otherwise)."""

    def __init__(self, name: str, stall_s: float, first_frame_s: float, clock: Clock):
        self.name = name
        self.stall_s = stall_s
        self.first_frame_s = first_frame_s
        self.clock = clock
        self._cond = threading.Condition()
        self._latest: tuple[int, object, datetime, float] | None = None  # (seq, payload, at, monotonic)
        self._returned = 0
        self._error: SourceError | None = None
        self._stop = threading.Event()
        self._opened_at = time.monotonic()
        self._thread = threading.Thread(target=self._run_safe, name=f"stream-{name}", daemon=True)

    def _start(self) -> None:
        self._thread.start()

    def _publish(self, payload) -> None:
        with self._cond:
            seq = (self._latest[0] if self._latest else 0) + 1
            self._latest = (seq, payload, self.clock(), time.monotonic())
            self._cond.notify_all()

    def _run_safe(self) -> None:
        try:
            self._run()
            if not self._stop.is_set():
                self._fail(SourceError(f"stream {self.name} ended", "closed"))
        except SourceError as e:
            self._fail(e)
        except Exception as e:  # never let a reader thread die silently
            self._fail(SourceError(f"stream {self.name}: {type(e).__name__}: {e}", "other"))

    def _fail(self, err: SourceError) -> None:
        with self._cond:
            if not self._stop.is_set():
                self._error = err
            self.broken = True
            self._cond.notify_all()

    @abstractmethod
    def _run(self) -> None: ...

    @abstractmethod
    def _decode(self, payload) -> tuple[np.ndarray, tuple[int, int] | None, int]:
        """payload → (BGR image, full size, encoded bytes)."""

    def read(self) -> Frame:
        first = self._returned == 0
        wait_s = self.first_frame_s if first else self.stall_s
        deadline = time.monotonic() + wait_s
        with self._cond:
            while True:
                if self._latest is not None and self._latest[0] > self._returned:
                    seq, payload, at, _ = self._latest
                    self._returned = seq
                    break
                if self._error is not None:
                    raise self._error
                left = deadline - time.monotonic()
                if left <= 0:
                    if first:
                        raise SourceError(f"no frame from {self.name} within {wait_s:g} s of opening", "timeout")
                    raise SourceError(f"stream frozen: no new frame from {self.name} for {wait_s:g} s", "frozen")
                self._cond.wait(left)
        image, full, nbytes = self._decode(payload)
        return Frame(image, at, f"{at.strftime('%Y%m%dT%H%M%S.%f%z')}#{seq}", full_size=full, nbytes=nbytes)

    def close(self) -> None:
        self._stop.set()
        self._close_transport()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _close_transport(self) -> None:
        pass


class CaptureStreamSource(_LatestFrameSource):
    """RTSP (or any URL FFmpeg opens), or a video file played at its own frame rate, through OpenCV's
    FFmpeg backend with open and read timeouts. The reader thread grab()s continuously (decoding is
    needed for inter-frame codecs anyway) and retrieve()s (converts to BGR) only the frame a read asked
    for, so unread frames cost little."""

    kind = "rtsp"

    def __init__(self, url: str, *, open_timeout_s: float = 10.0, read_timeout_s: float = 10.0,
                 pace: bool = False, loop: bool = False, clock: Clock = now_city, label: str | None = None):
        super().__init__(label or url, stall_s=read_timeout_s, first_frame_s=open_timeout_s + read_timeout_s,
                         clock=clock)
        self.url = url
        self.open_timeout_s, self.read_timeout_s = open_timeout_s, read_timeout_s
        self.pace, self.loop = pace, loop
        self._want = threading.Event()
        self._start()

    def read(self) -> Frame:
        self._want.set()  # the next grabbed frame is retrieved: the newest there is
        return super().read()

    def _run(self) -> None:
        while not self._stop.is_set():
            cap = _capture(self.url, self.open_timeout_s, self.read_timeout_s)
            try:
                if not cap.isOpened():
                    raise SourceError(f"cannot open stream {self.name} within {self.open_timeout_s:g} s "
                                      f"(refused, unreachable or not a stream)", "refused")
                fps = cap.get(cv2.CAP_PROP_FPS) or 0
                period = 1.0 / fps if self.pace and 0 < fps < 1000 else 0.0
                nxt = time.monotonic()
                n = 0
                while not self._stop.is_set():
                    if not cap.grab():
                        if n and self.loop:
                            break  # reopen: rewinds a file
                        raise SourceError(f"stream {self.name} stalled or ended: no data within "
                                          f"{self.read_timeout_s:g} s", "frozen" if n else "timeout")
                    n += 1
                    if self._want.is_set():
                        ok, image = cap.retrieve()
                        if ok and image is not None:
                            self._want.clear()
                            self._publish(image)
                    if period:
                        nxt += period
                        delay = nxt - time.monotonic()
                        if delay > 0:
                            self._stop.wait(delay)
                        else:
                            nxt = time.monotonic()
            finally:
                cap.release()
            if not self.loop:
                return

    def _decode(self, payload):
        image = _as_bgr(payload)
        return image, (image.shape[1], image.shape[0]), 0


# ---- HTTP --------------------------------------------------------------------------------------------
def _http_reason(e: Exception, url: str, timeout_s: float) -> SourceError:
    if isinstance(e, SourceError):
        return e
    if isinstance(e, UrlRefused):
        return SourceError(e.reason, e.kind)
    if isinstance(e, httpx.TooManyRedirects):
        return SourceError(f"redirect loop: more than {MAX_REDIRECTS} redirects from {url}", "redirect_loop")
    if isinstance(e, httpx.TimeoutException):
        return SourceError(f"timeout after {timeout_s:g} s from {url}", "timeout")
    cause = e
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return SourceError(f"DNS failure: cannot resolve the host of {url}", "dns")
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return SourceError(f"cannot connect to {url}: connection refused", "refused")
        cause = cause.__cause__ or cause.__context__
    if isinstance(e, httpx.ConnectError):
        text = str(e)
        if "Name or service not known" in text or "nodename nor servname" in text or "No address" in text:
            return SourceError(f"DNS failure: cannot resolve the host of {url}", "dns")
        if "refused" in text.lower():
            return SourceError(f"cannot connect to {url}: connection refused", "refused")
        return SourceError(f"cannot connect to {url}: {e}", "refused")
    if isinstance(e, (httpx.RemoteProtocolError, httpx.ReadError)):
        return SourceError(f"connection broke while reading from {url}: {e}", "truncated")
    if isinstance(e, httpx.HTTPError):
        return SourceError(f"HTTP error from {url}: {type(e).__name__}: {e}", "other")
    return SourceError(f"{type(e).__name__}: {e}", "other")


def _check_status(resp: httpx.Response, url: str) -> None:
    """Only a 200 carries a frame; anything else becomes the camera's reason, sorted by class."""
    code = resp.status_code
    if code != 200:
        kind = "http_4xx" if 400 <= code < 500 else "http_5xx" if code >= 500 else "http_other"
        raise SourceError(f"HTTP {code} {resp.reason_phrase} from {url}".rstrip(), kind)


def _auth(auth) -> tuple[httpx.Auth | None, dict[str, str]]:
    """(httpx auth, extra headers) from a configs.schema.CameraAuth (or None)."""
    if auth is None:
        return None, {}
    if auth.type == "basic":
        password = auth.password if auth.password is not None else os.environ.get(auth.password_env or "", "")
        return httpx.BasicAuth(auth.username or "", password), {}
    token = auth.token if auth.token is not None else os.environ.get(auth.token_env or "", "")
    return None, {"Authorization": f"Bearer {token}"}


def make_http_client(max_connections: int = 64, policy: UrlPolicy | None = None) -> httpx.Client:
    """A pooled client shared by a monitor's snapshot cameras. With a policy, every request it sends
    (redirects included) is checked first."""
    hooks = {}
    if policy is not None:
        def check(request: httpx.Request) -> None:
            policy.check_host(request.url.host)
        hooks["request"] = [check]
    return httpx.Client(follow_redirects=True, max_redirects=MAX_REDIRECTS, event_hooks=hooks,
                        limits=httpx.Limits(max_connections=max_connections,
                                            max_keepalive_connections=max_connections, keepalive_expiry=30))


class HttpSnapshotSource(FrameSource):
    """A JPEG/PNG snapshot URL fetched once per read (HCMC traffic cameras: they want a Referer).

    The whole fetch has one deadline (`timeout_s`): a server that trickles bytes is cut off when it
    passes, not only when one chunk is late. The body is capped at `max_bytes`; the image header is
    checked against `max_pixels` before decoding."""

    kind = "http_snapshot"

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout_s: float = 10.0,
                 max_bytes: int = MAX_SNAPSHOT_BYTES, client: httpx.Client | None = None, clock: Clock = now_city,
                 *, auth=None, analysis_width: int | None = None, max_pixels: int = MAX_PIXELS,
                 policy: UrlPolicy | None = None, user_agent: str = USER_AGENT):
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"snapshot URL must be http(s): {url!r}", "policy")
        self.url = url
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.analysis_width = analysis_width
        self.clock = clock
        self.policy = policy
        self._auth, extra = _auth(auth)
        self.headers = {"User-Agent": user_agent, "Accept": "image/jpeg, image/png;q=0.9, */*;q=0.1",
                        **dict(headers or {}), **extra}
        self._own_client = client is None
        self._client = client or make_http_client(4, policy)
        self._last_ref = ""

    def _fetch(self) -> tuple[bytes, str, float]:
        started = time.monotonic()
        deadline = started + self.timeout_s
        timeout = httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 5.0))
        try:
            # the policy (if any) is checked by the client's request hook, on every redirect hop too
            with self._client.stream("GET", self.url, headers=self.headers, timeout=timeout,
                                     auth=self._auth or httpx.USE_CLIENT_DEFAULT) as resp:
                _check_status(resp, self.url)
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if not ctype.startswith("image/"):
                    raise SourceError(f"not an image: content-type {ctype or '(none)'} from {self.url}", "content_type")
                declared = resp.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise SourceError(f"snapshot too large: {int(declared)} bytes > cap {self.max_bytes}", "too_large")
                body = bytearray()
                checked = False
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise SourceError(f"snapshot too large: more than cap {self.max_bytes} bytes", "too_large")
                    if not checked and len(body) >= 512:  # refuse a bomb before downloading all of it
                        self._check_header(body)
                        checked = True
                    if time.monotonic() > deadline:
                        raise SourceError(f"too slow: {len(body)} bytes in {self.timeout_s:g} s from {self.url} "
                                          f"(overall read deadline)", "too_slow")
                return bytes(body), ctype, time.monotonic() - started
        except Exception as e:  # noqa: BLE001 - every failure becomes a reason
            raise _http_reason(e, self.url, self.timeout_s) from None

    def _check_header(self, body: bytearray) -> None:
        try:
            fmt, w, h = image_header(body)
        except SourceError:
            return  # decided on the whole body (it may be a format without a quick header)
        if w * h > self.max_pixels:
            raise SourceError(f"image {w}x{h} = {w * h / 1e6:.1f} MP exceeds the {self.max_pixels / 1e6:g} MP "
                              f"limit (refused before decoding) from {self.url}", "too_large")

    def read(self) -> Frame:
        body, ctype, latency = self._fetch()
        captured_at = self.clock()
        if not body:
            raise SourceError(f"empty body ({ctype}) from {self.url}", "bad_image")
        try:
            image, full = decode_image(body, analysis_width=self.analysis_width, max_pixels=self.max_pixels,
                                       what=f"{ctype} from {self.url}")
        except SourceError as e:
            if e.kind == "bad_image" and "undecodable" not in e.reason and "truncated" not in e.reason:
                raise SourceError(f"undecodable image: {len(body)} bytes of {ctype} from {self.url} ({e.reason})",
                                  "bad_image") from None
            raise
        ref = captured_at.strftime("%Y%m%dT%H%M%S.%f%z")
        if ref == self._last_ref:  # two reads within one microsecond of a coarse clock: keep refs unique
            ref += "-1"
        self._last_ref = ref
        return Frame(image, captured_at, ref, full_size=full, nbytes=len(body), latency_s=latency,
                     digest=zlib.adler32(body))

    def close(self) -> None:
        if self._own_client:
            self._client.close()


class MjpegSource(_LatestFrameSource):
    """multipart/x-mixed-replace MJPEG over HTTP. The reader thread splits parts (by Content-Length
    when the part gives one, else by the boundary) and keeps only the newest JPEG's bytes; read()
    decodes that one (reduced), so frames nobody asked for are never decoded."""

    kind = "mjpeg"

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout_s: float = 10.0, *,
                 auth=None, analysis_width: int | None = None, max_pixels: int = MAX_PIXELS,
                 max_bytes: int = MAX_SNAPSHOT_BYTES, policy: UrlPolicy | None = None,
                 user_agent: str = USER_AGENT, clock: Clock = now_city):
        if not url.startswith(("http://", "https://")):
            raise SourceError(f"MJPEG URL must be http(s): {url!r}", "policy")
        super().__init__(url, stall_s=timeout_s, first_frame_s=timeout_s, clock=clock)
        self.url = url
        self.timeout_s = timeout_s
        self.analysis_width, self.max_pixels, self.max_bytes = analysis_width, max_pixels, max_bytes
        self._auth, extra = _auth(auth)
        self.headers = {"User-Agent": user_agent, **dict(headers or {}), **extra}
        if policy is not None:
            try:
                policy.check(url)
            except UrlRefused as e:
                raise SourceError(e.reason, e.kind) from None
        self._client = make_http_client(1, policy)
        self._start()

    def _close_transport(self) -> None:
        try:
            self._client.close()
        except Exception:  # closing under a reading thread
            pass

    def _run(self) -> None:
        timeout = httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 5.0))
        try:
            with self._client.stream("GET", self.url, headers=self.headers, timeout=timeout,
                                     auth=self._auth or httpx.USE_CLIENT_DEFAULT) as resp:
                _check_status(resp, self.url)
                ctype = resp.headers.get("content-type", "")
                m = re.search(r'boundary="?([^";]+)"?', ctype)
                if not ctype.lower().startswith("multipart/") or not m:
                    raise SourceError(f"not an MJPEG stream: content-type {ctype or '(none)'} from {self.url}",
                                      "content_type")
                self._parse(resp.iter_raw(), m.group(1).encode())
        except SourceError:
            raise
        except Exception as e:  # noqa: BLE001
            if self._stop.is_set():
                return
            if isinstance(e, httpx.ReadTimeout) and self._latest is not None:
                raise SourceError(f"stream frozen: no data from {self.url} for {self.timeout_s:g} s", "frozen") from None
            raise _http_reason(e, self.url, self.timeout_s) from None

    def _parse(self, chunks, boundary: bytes) -> None:
        delim = b"--" + boundary.lstrip(b"-") if not boundary.startswith(b"--") else boundary
        buf = bytearray()
        for chunk in chunks:
            if self._stop.is_set():
                return
            buf += chunk
            while True:
                start = buf.find(delim)
                if start < 0:
                    if len(buf) > self.max_bytes:
                        raise SourceError(f"MJPEG part larger than {self.max_bytes} bytes from {self.url}", "too_large")
                    break
                head_end = buf.find(b"\r\n\r\n", start)
                if head_end < 0:
                    break
                headers = bytes(buf[start + len(delim):head_end]).decode("latin-1").lower()
                body_start = head_end + 4
                m = re.search(r"content-length:\s*(\d+)", headers)
                if m:
                    length = int(m.group(1))
                    if length > self.max_bytes:
                        raise SourceError(f"MJPEG part of {length} bytes > cap {self.max_bytes}", "too_large")
                    if len(buf) < body_start + length:
                        break
                    part = bytes(buf[body_start:body_start + length])
                    del buf[:body_start + length]
                else:
                    nxt = buf.find(delim, body_start)
                    if nxt < 0:
                        break
                    part = bytes(buf[body_start:nxt]).rstrip(b"\r\n")
                    del buf[:nxt]
                if part:
                    self._publish(part)

    def _decode(self, payload: bytes):
        image, full = decode_image(payload, analysis_width=self.analysis_width, max_pixels=self.max_pixels,
                                   what=f"MJPEG frame from {self.url}")
        return image, full, len(payload)


# ---- registry --------------------------------------------------------------------------------------
def _path(camera, project_root: Path) -> Path:
    p = Path(camera.url)
    return p if p.is_absolute() else Path(project_root) / p


def _aw(camera) -> int | None:
    return getattr(camera, "analysis_width", None)


def _max_pixels(camera, ctx: SourceContext) -> int:
    return getattr(camera, "max_pixels", None) or ctx.max_pixels


def _image_folder(camera, project_root: Path, ctx: SourceContext) -> FrameSource:
    return ImageFolderSource(_path(camera, project_root), loop=camera.loop, clock=ctx.clock,
                             analysis_width=_aw(camera), max_pixels=_max_pixels(camera, ctx))


def _video_file(camera, project_root: Path, ctx: SourceContext) -> FrameSource:
    path = _path(camera, project_root)
    if getattr(camera, "live", False):
        if not path.is_file():
            raise SourceError(f"video file {path} does not exist", "missing")
        return CaptureStreamSource(str(path), open_timeout_s=camera.timeout_s, read_timeout_s=camera.timeout_s,
                                   pace=True, loop=camera.loop, clock=ctx.clock, label=path.name)
    return VideoFileSource(path, loop=camera.loop, clock=ctx.clock, open_timeout_s=camera.timeout_s,
                           read_timeout_s=camera.timeout_s)


def _rtsp(camera, project_root: Path, ctx: SourceContext) -> FrameSource:
    if not camera.url.startswith(("rtsp://", "rtsps://")):
        raise SourceError(f"RTSP URL must start with rtsp://: {camera.url!r}", "policy")
    if ctx.policy is not None:
        try:
            ctx.policy.check(camera.url)
        except UrlRefused as e:
            raise SourceError(e.reason, e.kind) from None
    return CaptureStreamSource(camera.url, open_timeout_s=camera.timeout_s, read_timeout_s=camera.timeout_s,
                               clock=ctx.clock)


def _http_snapshot(camera, project_root: Path, ctx: SourceContext) -> FrameSource:
    return HttpSnapshotSource(camera.url, headers=camera.headers, timeout_s=camera.timeout_s, client=ctx.client,
                              clock=ctx.clock, auth=getattr(camera, "auth", None), analysis_width=_aw(camera),
                              max_pixels=_max_pixels(camera, ctx), max_bytes=ctx.max_bytes, policy=ctx.policy,
                              user_agent=ctx.user_agent)


def _mjpeg(camera, project_root: Path, ctx: SourceContext) -> FrameSource:
    return MjpegSource(camera.url, headers=camera.headers, timeout_s=camera.timeout_s,
                       auth=getattr(camera, "auth", None), analysis_width=_aw(camera),
                       max_pixels=_max_pixels(camera, ctx), max_bytes=ctx.max_bytes, policy=ctx.policy,
                       user_agent=ctx.user_agent, clock=ctx.clock)


# kind -> factory(camera_conf, project_root, context) -> FrameSource. A new kind: one module, one entry here.
SOURCE_KINDS: dict[str, Callable[..., FrameSource]] = {
    "image_folder": _image_folder,
    "video_file": _video_file,
    "http_snapshot": _http_snapshot,
    "mjpeg": _mjpeg,
    "rtsp": _rtsp,
}
NETWORK_KINDS = frozenset({"http_snapshot", "mjpeg", "rtsp"})


def open_source(camera, project_root: str | Path | None = None, context: SourceContext | None = None) -> FrameSource:
    """Open the source a configs.schema.CameraConf describes. Relative paths are relative to
    project_root (default: the project's root folder). Raises SourceError with the reason."""
    if project_root is None:
        from configs.loader import PROJECT_ROOT
        project_root = PROJECT_ROOT
    factory = SOURCE_KINDS.get(camera.kind)
    if factory is None:
        raise SourceError(f"unknown camera kind {camera.kind!r} (known: {', '.join(sorted(SOURCE_KINDS))})", "config")
    return factory(camera, Path(project_root), context or SourceContext())
