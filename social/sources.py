"""Where posts come from. A source is one module and one entry in SOURCE_KINDS.

Interface (:class:`PostSource`): ``name`` and ``fetch(cursor) -> (items, new_cursor)``. The cursor is
an opaque string the runner persists and hands back (None the first time), so a restart continues
where it stopped: a line count for a JSONL file, a ``since_id`` for X, an ETag/date for RSS. Items are
:class:`Post` or :class:`Rejected` — a source never raises on one bad record; it reports it with a
reason and moves on. It may raise :class:`SourceError` when the whole source is unusable (file gone).
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["Post", "Rejected", "PostSource", "JsonlFileSource", "SourceError", "SourceAuthError", "SourceDelayed",
           "SOURCE_KINDS", "build_source", "register_source", "FetchResult"]


class SourceError(RuntimeError):
    """The source as a whole cannot be read (missing file, bad configuration, peer down)."""


class SourceAuthError(SourceError):
    """The peer refused our credentials (HTTP 401/403, no token configured). Retrying soon will not help:
    the runner reports the source as ``auth_error`` and retries only at a long interval."""


class SourceDelayed(SourceError):
    """The peer asked us to wait (HTTP 429). ``retry_at`` is a Unix time; only this source waits.
    ``cursor`` is where to continue (pages already read are returned through ``items``)."""

    def __init__(self, message: str, retry_at: float, items: list | None = None, cursor: str | None = None):
        super().__init__(message)
        self.retry_at = float(retry_at)
        self.items = items or []
        self.cursor = cursor


class Post(BaseModel):
    """One post, whatever the platform."""
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    id: str = Field(min_length=1, max_length=200)
    platform: str = Field(min_length=1, max_length=40)  # "x", "facebook", "zalo", "news", ...
    url: str | None = None
    text: str = Field(min_length=1, max_length=20000)
    author: str | None = None  # the handle as the platform gives it; hashed before it goes anywhere
    posted_at: datetime  # must carry a UTC offset
    lang: str | None = None
    place: str | None = None  # a place tag set by the platform or the exporter, if any

    @field_validator("id", mode="before")
    @classmethod
    def _id_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("posted_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("posted_at needs a UTC offset (e.g. 2025-10-28T17:05:00+07:00)")
        return v

    @property
    def ref(self) -> str:
        """The candidate's source_ref: "platform:id"."""
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True)
class Rejected:
    """A record a source could not turn into a Post."""
    line_no: int  # 1-based position in the source (line number for files; 0 when not applicable)
    raw: str
    reason: str


FetchResult = tuple[list[Union[Post, Rejected]], str]


class PostSource(ABC):
    """A place posts come from."""
    name: str

    @abstractmethod
    def fetch(self, cursor: str | None = None) -> FetchResult:
        """Posts after `cursor`, and the cursor to pass next time."""

    @classmethod
    def from_conf(cls, conf: Any, resolve: Callable[[str], Path]) -> "PostSource":
        """Build from a configs.schema.SocialSourceConf (each kind reads the keys it needs)."""
        raise NotImplementedError


def _reason(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(record)"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {'missing' if err['type'] == 'missing' else msg}")
    return "; ".join(parts)


class JsonlFileSource(PostSource):
    """Posts exported one JSON object per line (Facebook/Zalo/news exports, the webhook's spool file).

    Cursor: the number of lines consumed, as a string. A bad line comes back as Rejected and is consumed.
    A last line without its newline is consumed only if it parses — otherwise it is probably still being
    written and is left for the next fetch.
    """

    def __init__(self, path: str | Path, name: str | None = None, platform: str = "import",
                 max_lines: int | None = None):
        self.path = Path(path)
        self.name = name or self.path.stem
        self.platform = platform  # for records that do not say which platform they come from
        self.max_lines = max_lines

    @classmethod
    def from_conf(cls, conf: Any, resolve: Callable[[str], Path]) -> "JsonlFileSource":
        if not conf.path:
            raise SourceError(f"social source {conf.name!r}: kind jsonl needs a path")
        return cls(resolve(conf.path), name=conf.name, platform=conf.platform or "import")

    def fetch(self, cursor: str | None = None) -> FetchResult:
        try:
            start = int(cursor) if cursor not in (None, "") else 0
        except (TypeError, ValueError):
            raise SourceError(f"{self.name}: bad cursor {cursor!r} (expected a line count)") from None
        if start < 0:
            raise SourceError(f"{self.name}: bad cursor {cursor!r} (negative)")
        try:
            fh = self.path.open("r", encoding="utf-8", errors="replace", newline="")
        except FileNotFoundError:
            raise SourceError(f"{self.name}: {self.path} not found") from None
        except OSError as e:
            raise SourceError(f"{self.name}: {self.path}: {e}") from None
        items: list[Post | Rejected] = []
        consumed = start
        with fh:
            for line_no, line in enumerate(fh, start=1):
                if line_no <= start:
                    continue
                if self.max_lines is not None and consumed - start >= self.max_lines:
                    break
                complete = line.endswith("\n")
                raw = line.rstrip("\r\n")
                item = self._parse(line_no, raw)
                if not complete and isinstance(item, Rejected):
                    break  # a line being written: leave it for next time
                consumed = line_no
                if item is not None:
                    items.append(item)
        return items, str(consumed)

    def _parse(self, line_no: int, raw: str) -> Post | Rejected | None:
        if not raw.strip():
            return None
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            return Rejected(line_no, raw, f"not valid JSON: {e.msg} at column {e.colno}")
        if not isinstance(obj, dict):
            return Rejected(line_no, raw, f"expected a JSON object, got {type(obj).__name__}")
        obj.setdefault("platform", self.platform)
        if obj.get("platform") in (None, ""):
            obj["platform"] = self.platform
        try:
            return Post.model_validate(obj)
        except ValidationError as e:
            return Rejected(line_no, raw, _reason(e))


# kind (configs/social.yaml sources[].kind) → PostSource subclass with a `from_conf(conf, resolve)`.
# Kinds living in their own module (x, rss) register themselves when imported; build_source imports them.
SOURCE_KINDS: dict[str, type[PostSource]] = {
    "jsonl": JsonlFileSource,
}
_KIND_MODULES = {"x": "social.x", "rss": "social.rss"}


def register_source(kind: str):
    def deco(cls: type[PostSource]) -> type[PostSource]:
        SOURCE_KINDS[kind] = cls
        return cls
    return deco


def _load_kinds() -> None:
    import importlib
    for kind, module in _KIND_MODULES.items():
        if kind not in SOURCE_KINDS:
            importlib.import_module(module)


def build_source(conf: Any, resolve: Callable[[str], Path] = Path) -> PostSource:
    """Build a source from a configs.schema.SocialSourceConf; `resolve` turns config paths into paths."""
    _load_kinds()
    kind = SOURCE_KINDS.get(conf.kind)
    if kind is None:
        raise SourceError(f"social source {conf.name!r}: unknown kind {conf.kind!r} "
                          f"(known: {', '.join(sorted(SOURCE_KINDS))})")
    return kind.from_conf(conf, resolve)
