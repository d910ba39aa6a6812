"""Candidate v1: the one contract between producers (cameras, social) and the bridge.

A candidate is a *possible* incident. Its id is derived from (source, source_ref) so that
replaying the same frame or post yields the same id and the bridge can stay idempotent.
"""
from __future__ import annotations

import hashlib
import math
import uuid
from datetime import datetime, timedelta, timezone
from typing import Annotated, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = "candidate/v1"
CITY_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
# Namespace for deterministic candidate ids (uuid5); never change it or replays stop being idempotent.
_ID_NAMESPACE = uuid.UUID("6f1c1022-8a3b-4c55-9e0d-1022a7c4e0aa")
# HCMC after the July 2025 merger (with former Bình Dương and Bà Rịa–Vũng Tàu), with a margin.
HCMC_BOUNDS = {"lat": (10.0, 11.7), "lon": (106.0, 107.7)}


def candidate_id(source: str, source_ref: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{source}:{source_ref}"))


def now_city() -> datetime:
    return datetime.now(CITY_TZ)


def city_time(dt: datetime) -> datetime:
    """The same instant on the city's clock. Naive values are taken as city time: that is how they come
    back from SQLite, where every timestamp is written on the city's clock (see bridge.fusion)."""
    return dt.replace(tzinfo=CITY_TZ) if dt.tzinfo is None else dt.astimezone(CITY_TZ)


def geocell(lat: float, lon: float, cell_deg: float = 0.01) -> str:
    """A coarse grid cell (~1.1 km at this latitude) used in bus keys: nearby reports share a partition."""
    return f"{math.floor(lat / cell_deg)}:{math.floor(lon / cell_deg)}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Location(_Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    ward: str | None = None
    street: str | None = None
    address: str | None = None
    precision: Literal["exact", "street", "ward", "city"]

    @model_validator(mode="after")
    def _inside_city(self) -> "Location":
        (lat0, lat1), (lon0, lon1) = HCMC_BOUNDS["lat"], HCMC_BOUNDS["lon"]
        if not (lat0 <= self.lat <= lat1 and lon0 <= self.lon <= lon1):
            raise ValueError(f"location {self.lat},{self.lon} is outside Ho Chi Minh City")
        return self


class Box(_Strict):
    """A detection box in relative (0..1) frame coordinates."""
    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float = Field(ge=0, le=1)
    h: float = Field(ge=0, le=1)
    label: str
    score: float = Field(ge=0, le=1)


class FrameEvidence(_Strict):
    kind: Literal["frame"] = "frame"
    uri: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    boxes: list[Box] = Field(default_factory=list)
    mask_summary: str | None = None
    score: float = Field(ge=0, le=1)


class PostEvidence(_Strict):
    kind: Literal["post"] = "post"
    url: str | None = None
    text: str = Field(min_length=1, max_length=10000)
    author_hash: str | None = None
    posted_at: AwareDatetime  # with its offset: the city is +07:00


Evidence = Annotated[Union[FrameEvidence, PostEvidence], Field(discriminator="kind")]


class Detector(_Strict):
    name: str
    backend: str
    model_version: str
    threshold: float = Field(ge=0, le=1)


class Candidate(_Strict):
    schema_: Literal["candidate/v1"] = Field(SCHEMA_VERSION, alias="schema")
    id: str
    source: Literal["camera", "social"]
    source_ref: str = Field(min_length=1, max_length=500)
    category: str = Field(min_length=1, max_length=64)
    confidence: float = Field(ge=0, le=1)
    observed_at: AwareDatetime
    location: Location
    summary: str = Field(min_length=1, max_length=2000)
    evidence: list[Evidence] = Field(min_length=1)
    detector: Detector
    attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    @model_validator(mode="after")
    def _id_matches_source(self) -> "Candidate":
        expected = candidate_id(self.source, self.source_ref)
        if self.id != expected:
            raise ValueError(f"id {self.id!r} is not derived from source+source_ref (expected {expected})")
        return self

    @classmethod
    def create(cls, **fields) -> "Candidate":
        """Build a candidate, deriving its id from source and source_ref."""
        fields.setdefault("id", candidate_id(fields["source"], fields["source_ref"]))
        return cls(**fields)

    @property
    def dedup_key(self) -> str:
        """Bus key: same category in the same coarse cell lands on the same partition, in order."""
        return f"{self.category}|{geocell(self.location.lat, self.location.lon)}"

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


def json_schema() -> dict:
    return Candidate.model_json_schema(by_alias=True)
