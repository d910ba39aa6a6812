"""Pydantic models for the YAML files in configs/: one small model per concern, validated at load.
A bad file fails at start with the file, the key and the reason (see configs.loader)."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Conf(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- categories.yaml -------------------------------------------------------------------------
class Category(_Conf):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_vi: str
    field: str  # the 1022 field (lĩnh vực) that routes it
    service_code: str
    dedup_radius_m: float = Field(gt=0)
    dedup_window_min: float = Field(gt=0)


class CategoriesFile(_Conf):
    categories: list[Category] = Field(min_length=1)

    @field_validator("categories")
    @classmethod
    def _unique(cls, v: list[Category]) -> list[Category]:
        seen: set[str] = set()
        for c in v:
            if c.code in seen:
                raise ValueError(f"category code {c.code!r} appears twice")
            seen.add(c.code)
        return v

    def by_code(self) -> dict[str, Category]:
        return {c.code: c for c in self.categories}


# A model version: a folder name of the model store (no path separators, no leading dot).
MODEL_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


# ---- cameras.yaml ----------------------------------------------------------------------------
class AnalyzerSettings(_Conf):
    threshold: float = Field(0.5, ge=0, le=1)
    confirm_k: int = Field(3, ge=1)  # confirm a state after K of the last N looks agree
    confirm_n: int = Field(5, ge=1)
    backend: str = "classical"
    # learned backend: a model version in the model store (vision.yaml model_dir), or "current" = the promoted one
    model: str | None = None

    @field_validator("model")
    @classmethod
    def _model_version(cls, v: str | None) -> str | None:
        if v is not None and not MODEL_VERSION.match(v):
            raise ValueError(f"model {v!r} is not a model version: use 'current' or a version listed by "
                             "`watch1022 models list` (letters, digits, '.', '_', '-')")
        return v

    @model_validator(mode="after")
    def _k_le_n(self) -> "AnalyzerSettings":
        if self.confirm_k > self.confirm_n:
            raise ValueError(f"confirm_k ({self.confirm_k}) must not exceed confirm_n ({self.confirm_n})")
        if self.model is not None and self.backend == "classical":
            raise ValueError(f"model {self.model!r} is set but backend is 'classical' (no weights): "
                             "set backend: learned, or remove model")
        return self


class ZoneConf(_Conf):
    name: str
    polygon: list[tuple[float, float]] = Field(min_length=3)  # relative 0..1 (x, y)
    analyzers: dict[str, AnalyzerSettings] = Field(default_factory=dict)
    # optional water-depth reference: [foot, top] in relative (x, y), e.g. the kerb face or a marked pole
    reference_line: list[tuple[float, float]] | None = None
    reference_height_cm: float | None = Field(None, gt=0)

    @field_validator("reference_line")
    @classmethod
    def _line(cls, v: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if v is None:
            return v
        if len(v) != 2:
            raise ValueError(f"reference_line needs exactly 2 points [foot, top], got {len(v)}")
        for x, y in v:
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(f"reference_line point ({x}, {y}) is outside 0..1: use relative coordinates")
        if v[0] == v[1]:
            raise ValueError("reference_line: foot and top must differ")
        return v

    @field_validator("polygon")
    @classmethod
    def _relative(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for x, y in v:
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(f"point ({x}, {y}) is outside 0..1: zone polygons use relative coordinates")
        return v


class CameraLocation(_Conf):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    ward: str | None = None
    street: str | None = None
    address: str | None = None


class CameraAuth(_Conf):
    """HTTP authentication of a camera: basic (username + password) or bearer (token). Secrets may
    come from the environment instead of the file (password_env / token_env name the variable)."""
    type: Literal["basic", "bearer"]
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    token: str | None = None
    token_env: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> "CameraAuth":
        if self.type == "basic" and (not self.username or (self.password is None and not self.password_env)):
            raise ValueError("basic auth needs username and password (or password_env)")
        if self.type == "bearer" and self.token is None and not self.token_env:
            raise ValueError("bearer auth needs token (or token_env)")
        return self


HTTP_KINDS = ("http_snapshot", "mjpeg")


class CameraConf(_Conf):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str
    kind: str  # a key of monitors.sources.SOURCE_KINDS: http_snapshot, mjpeg, rtsp, video_file, image_folder
    url: str  # http(s) URL, rtsp URL, or a path (relative paths are relative to the project root)
    interval_s: float = Field(15.0, gt=0)
    timeout_s: float = Field(10.0, gt=0)  # whole fetch deadline (snapshots); open/read timeout (streams)
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. Referer for HCMC snapshot cameras
    auth: CameraAuth | None = None
    loop: bool = False  # replay sources: start again at the end
    live: bool = False  # video_file: play at the file's own speed, newest frame per look (like a camera)
    # The smallest width the camera's analyzers need: JPEGs are decoded at 1/2, 1/4 or 1/8 scale when
    # that stays at least this wide (the classical flooding analyzer works at 640 px).
    analysis_width: int = Field(640, ge=16, le=8192)
    max_pixels: int | None = Field(None, gt=0)  # override monitor.max_pixels for this camera
    enabled: bool = True
    location: CameraLocation
    zones: list[ZoneConf] = Field(min_length=1)

    @model_validator(mode="after")
    def _url_fits_kind(self) -> "CameraConf":
        if self.kind in HTTP_KINDS and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"kind {self.kind} needs an http:// or https:// url, got {self.url!r}")
        if self.kind == "rtsp" and not self.url.startswith(("rtsp://", "rtsps://")):
            raise ValueError(f"kind rtsp needs an rtsp:// url, got {self.url!r}")
        if self.auth is not None and self.kind not in HTTP_KINDS:
            raise ValueError(f"auth is for http cameras ({', '.join(HTTP_KINDS)}); put RTSP credentials in the url")
        return self


class MonitorConf(_Conf):
    """How the monitors run the cameras (the `monitor:` section of cameras.yaml)."""
    max_workers: int = Field(32, ge=1, le=1024)  # concurrent looks at healthy cameras
    probation_workers: int = Field(8, ge=1, le=1024)  # concurrent looks at failing cameras (kept apart)
    jitter: float = Field(0.1, ge=0, lt=1)  # each interval is interval_s × (1 ± jitter)
    start_spread: float = Field(1.0, ge=0, le=1)  # first looks spread over this share of the interval
    backoff_base_s: float = Field(2.0, gt=0)
    backoff_max_s: float = Field(300.0, gt=0)
    reopen_after: int = Field(3, ge=1)  # failures in a row before a source is closed and reopened
    max_pixels: int = Field(25_000_000, gt=0)  # larger images are refused before decoding
    max_bytes: int = Field(10 * 1024 * 1024, gt=0)
    registry_poll_s: float = Field(5.0, gt=0)  # re-read the camera registry (cameras added live)
    status_every_s: float = Field(10.0, gt=0)  # write per-camera health to the database
    # Networks camera URLs may reach although loopback/private/link-local (e.g. the city's camera VLAN).
    allow_networks: list[str] = Field(default_factory=list)
    # The environment variable with the comma-separated keys for camera changes through the API.
    api_keys_env: str = "WATCH1022_CAMERA_API_KEYS"
    # Several monitor workers (Kafka bus): one consumer group over a topic of camera assignments.
    assignments_topic: str = "watch1022.camera-assignments"
    assignment_partitions: int = Field(12, ge=1, le=1000)
    group_id: str = "watch1022-monitors"

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress
        for net in v:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"{net!r} is not an IP address or network (e.g. 10.20.0.0/16)") from None
        return v


class CamerasFile(_Conf):
    monitor: MonitorConf = Field(default_factory=MonitorConf)
    cameras: list[CameraConf] = Field(default_factory=list)

    @field_validator("cameras")
    @classmethod
    def _unique(cls, v: list[CameraConf]) -> list[CameraConf]:
        ids = [c.id for c in v]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"camera id(s) {sorted(dup)} appear more than once")
        return v


# ---- social.yaml -----------------------------------------------------------------------------
_SOURCE_NEEDS = {"jsonl": ("path",), "x": ("queries",), "rss": ("url",)}


class SocialSourceConf(_Conf):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: str  # a key of social.sources.SOURCE_KINDS: jsonl | x | rss (more may be registered)
    path: str | None = None  # jsonl: the file (relative paths are relative to the project root)
    url: str | None = None  # rss: the feed URL
    platform: str | None = None  # the platform recorded on posts that do not say (jsonl: "import", rss: "news")
    interval_s: float = Field(30.0, gt=0)
    timeout_s: float = Field(15.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)  # rss: extra request headers
    enabled: bool = True
    # x: recent-search queries (one request series each), the bearer token's env var, page size/limit
    queries: list[str] = Field(default_factory=list)
    bearer_token_env: str = "X_BEARER_TOKEN"
    max_results: int = Field(100, ge=10, le=100)
    max_pages: int = Field(5, ge=1, le=100)
    api_base: str | None = None  # x: send requests here instead of api.twitter.com (a proxy or a test server)

    @field_validator("queries")
    @classmethod
    def _queries(cls, v: list[str]) -> list[str]:
        for i, q in enumerate(v):
            if not q.strip():
                raise ValueError(f"queries[{i}] is empty")
            if len(q) > 512:
                raise ValueError(f"queries[{i}] is {len(q)} characters; X recent search takes at most 512")
        return v

    @field_validator("url", "api_base")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v

    @model_validator(mode="after")
    def _kind_needs(self) -> "SocialSourceConf":
        for key in _SOURCE_NEEDS.get(self.kind, ()):
            if not getattr(self, key):
                raise ValueError(f"source {self.name!r} of kind {self.kind!r} needs `{key}`")
        return self


class NearDuplicateConf(_Conf):
    """Posts of one category whose folded word sets overlap this much (Jaccard), within the window, are one
    report: the candidate lists every post as evidence."""
    threshold: float = Field(0.6, gt=0, le=1)
    window_min: float = Field(360.0, gt=0)


class WebhookConf(_Conf):
    # API keys accepted in the X-API-Key header, read from this env var (comma-separated)
    api_keys_env: str = "WATCH1022_SOCIAL_API_KEYS"
    max_items: int = Field(500, ge=1)


class SocialFile(_Conf):
    # Authors are kept only as a salted hash; the salt comes from this env var (a fixed default would
    # make the hash reversible by anyone with a list of handles).
    author_salt_env: str = "WATCH1022_AUTHOR_SALT"
    threshold: float = Field(0.5, ge=0, le=1)
    # Posts that looked like a report but stayed below the threshold go to <state_dir>/misses.jsonl (relative
    # paths are relative to the project root), for reviewing what the classifier missed.
    state_dir: str = "var/social"
    keep_misses: bool = True
    near_duplicates: NearDuplicateConf = Field(default_factory=NearDuplicateConf)
    webhook: WebhookConf = Field(default_factory=WebhookConf)
    sources: list[SocialSourceConf] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _unique(cls, v: list[SocialSourceConf]) -> list[SocialSourceConf]:
        names = [s.name for s in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"source name(s) {dup} appear more than once (each keeps its own cursor)")
        return v


# ---- bridge.yaml -----------------------------------------------------------------------------
class BusConf(_Conf):
    backend: Literal["embedded", "kafka"] = "embedded"
    bootstrap_servers: list[str] = Field(default_factory=lambda: ["127.0.0.1:9092"])
    group_id: str = "watch1022-bridge"
    candidates_topic: str = "watch1022.candidates"
    deadletter_topic: str = "watch1022.deadletter"
    partitions: int = Field(3, ge=1)  # Kafka: partitions of the topics the bridge creates when missing
    connect_timeout_s: float = Field(10.0, gt=0)  # Kafka: give up on an unreachable broker after this


class RetryConf(_Conf):
    base_s: float = Field(2.0, gt=0)
    max_s: float = Field(600.0, gt=0)
    max_attempts: int = Field(0, ge=0)  # 0: never give up on a transient failure


class CoreConf(_Conf):
    base_url: str = "http://127.0.0.1:8022/core/open311/v2"
    api_key: str = "demo-key"
    timeout_s: float = Field(10.0, gt=0)
    status_poll_s: float = Field(30.0, gt=0)
    retry: RetryConf = Field(default_factory=RetryConf)
    # The core's status + status_notes → our verdict; first matching rule wins (regex on the notes).
    verdict_rules: list[dict[str, str]] = Field(default_factory=lambda: [
        {"notes": r"^Duplicate", "verdict": "duplicate"},
        {"notes": r"^Rejected", "verdict": "rejected"},
        {"notes": r"^Resolved", "verdict": "resolved"},
        {"notes": r"^Accepted", "verdict": "accepted"},
    ])


class BridgeFile(_Conf):
    database_url: str = "sqlite:///var/watch1022.db"
    evidence_dir: str = "var/evidence"
    # Public base URL of stored evidence, sent to the core as media_url.
    evidence_base_url: str = "http://127.0.0.1:8022/evidence"
    bus: BusConf = Field(default_factory=BusConf)
    core: CoreConf = Field(default_factory=CoreConf)


# ---- vision.yaml -----------------------------------------------------------------------------
class VisionFile(_Conf):
    """Where learned models live and how they run."""
    # the model store: <model_dir>/<version>/model.onnx + model.json, and current.json naming the promoted one
    # (relative paths are relative to the project root)
    model_dir: str = "var/models"
    onnx_threads: int = Field(1, ge=1, le=64)  # ONNX Runtime intra-op threads per model (many cameras share a core)
    imgsz: int = Field(64, ge=16, le=1024)  # `watch1022 train` default input size (pixels, square)
    epochs: int = Field(10, ge=1, le=1000)  # `watch1022 train` default epochs
