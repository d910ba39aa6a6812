"""Pydantic models for the YAML files in configs/: one small model per concern, validated at load.
A bad file fails at start with the file, the key and the reason (see configs.loader)."""
from __future__ import annotations

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


# ---- cameras.yaml ----------------------------------------------------------------------------
class AnalyzerSettings(_Conf):
    threshold: float = Field(0.5, ge=0, le=1)
    confirm_k: int = Field(3, ge=1)  # confirm a state after K of the last N looks agree
    confirm_n: int = Field(5, ge=1)
    backend: str = "classical"

    @model_validator(mode="after")
    def _k_le_n(self) -> "AnalyzerSettings":
        if self.confirm_k > self.confirm_n:
            raise ValueError(f"confirm_k ({self.confirm_k}) must not exceed confirm_n ({self.confirm_n})")
        return self


class ZoneConf(_Conf):
    name: str
    polygon: list[tuple[float, float]] = Field(min_length=3)  # relative 0..1 (x, y)
    analyzers: dict[str, AnalyzerSettings] = Field(default_factory=dict)

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


class CameraConf(_Conf):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str
    kind: str  # a key of monitors.sources.SOURCE_KINDS
    url: str  # http(s) URL, or a path (relative paths are relative to the project root)
    interval_s: float = Field(15.0, gt=0)
    timeout_s: float = Field(10.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. Referer for HCMC snapshot cameras
    loop: bool = False  # replay sources: start again at the end
    enabled: bool = True
    location: CameraLocation
    zones: list[ZoneConf] = Field(min_length=1)


class CamerasFile(_Conf):
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
class SocialSourceConf(_Conf):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    kind: str  # a key of social.sources.SOURCE_KINDS
    path: str | None = None
    url: str | None = None
    interval_s: float = Field(30.0, gt=0)
    enabled: bool = True


class SocialFile(_Conf):
    # Authors are kept only as a salted hash; the salt comes from this env var (a fixed default would
    # make the hash reversible by anyone with a list of handles).
    author_salt_env: str = "WATCH1022_AUTHOR_SALT"
    threshold: float = Field(0.5, ge=0, le=1)
    sources: list[SocialSourceConf] = Field(default_factory=list)


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
