"""Run the configured social sources: read new posts after each source's saved cursor, turn reports into
candidates, refuse malformed records to the dead-letter store, then save the cursor.

The cursor is saved only after the batch is on the bus, so a crash re-reads the batch (harmless: candidate
ids come from platform + post id) rather than skipping it.

Each source has a state (``SourceState``): ``ok``, ``rate_limited`` (a 429: only this source waits until the
time the peer gave), ``auth_error`` (401/403 or no token: reported, retried only every AUTH_RETRY_S) or
``error`` (retried at its next turn). A failing source never stops the others.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Protocol

from models.candidate import Candidate
from models.db import Database
from models.tables import SourceCursor
from social.pipeline import MissLog, SocialPipeline
from social.sources import (PostSource, Rejected, SourceAuthError, SourceDelayed, SourceError, build_source)

log = logging.getLogger("watch1022.social")

AUTH_RETRY_S = 15 * 60


class Publisher(Protocol):
    def publish(self, candidate: Candidate) -> None: ...
    def dead_letter(self, stage: str, reason: str, payload: str) -> None: ...
    def flush(self) -> None: ...


@dataclass
class SourceState:
    state: str = "idle"  # idle | ok | rate_limited | auth_error | error
    detail: str = ""
    next_at: float = 0.0  # monotonic-free wall time (time.time()) of the next read
    raised: int = 0
    refused: int = 0
    reads: int = 0


def cursor_key(source: PostSource) -> str:
    return f"social:{source.name}"


def load_cursor(db: Database, key: str) -> str | None:
    with db.session() as s:
        row = s.get(SourceCursor, key)
        return row.cursor if row else None


def save_cursor(db: Database, key: str, cursor: str) -> None:
    with db.session() as s:
        row = s.get(SourceCursor, key)
        if row is None:
            s.add(SourceCursor(source=key, cursor=cursor))
        else:
            row.cursor = cursor


def _publish(source: PostSource, items, pipeline: SocialPipeline, publisher: Publisher) -> tuple[int, int]:
    refused = 0
    posts = []
    for item in items:
        if isinstance(item, Rejected):
            where = f"record {item.line_no}: " if item.line_no else ""
            publisher.dead_letter(f"social.{source.name}", f"{where}{item.reason}", item.raw)
            refused += 1
        else:
            posts.append(item)
    candidates = pipeline.process_batch(posts)
    for c in candidates:
        publisher.publish(c)
    return len(candidates), refused


def read_source(source: PostSource, pipeline: SocialPipeline, db: Database, publisher: Publisher) -> tuple[int, int]:
    """One pass over one source: (candidates raised, records refused). Raises SourceError (and its kinds)
    after publishing and saving what was read before a rate limit."""
    key = cursor_key(source)
    try:
        items, new_cursor = source.fetch(load_cursor(db, key))
    except SourceDelayed as e:  # pages read before the 429 still count; continue from e.cursor later
        if e.items or e.cursor is not None:
            _publish(source, e.items, pipeline, publisher)
            publisher.flush()
            if e.cursor is not None:
                save_cursor(db, key, e.cursor)
        raise
    raised, refused = _publish(source, items, pipeline, publisher)
    publisher.flush()
    save_cursor(db, key, new_cursor)
    return raised, refused


def pipeline_for(rt, state_dir: str | Path | None = None) -> SocialPipeline:
    """The pipeline as social.yaml sets it up; `state_dir` (e.g. the demo's --var folder + "/social") overrides
    where misses.jsonl goes."""
    conf = rt.config.social
    where = Path(state_dir) if state_dir is not None else rt.config.resolve(conf.state_dir)
    misses = MissLog(where / "misses.jsonl") if conf.keep_misses else None
    return SocialPipeline(rt.config.categories.categories, conf.threshold, rt.author_salt(),
                          near_threshold=conf.near_duplicates.threshold,
                          near_window=timedelta(minutes=conf.near_duplicates.window_min), misses=misses)


class SocialRunner:
    """Polls the sources at their intervals; `step()` reads those that are due."""

    def __init__(self, sources: list[tuple[PostSource, float]], pipeline: SocialPipeline, db: Database,
                 publisher: Publisher, clock: Callable[[], float] = time.time):
        self.sources, self.pipeline, self.db, self.publisher, self.clock = sources, pipeline, db, publisher, clock
        self.states: dict[str, SourceState] = {s.name: SourceState() for s, _ in sources}

    def step(self) -> None:
        now = self.clock()
        for source, interval in self.sources:
            st = self.states[source.name]
            if st.next_at > now:
                continue
            st.reads += 1
            try:
                raised, refused = read_source(source, self.pipeline, self.db, self.publisher)
                st.state, st.detail = "ok", ""
                st.raised += raised
                st.refused += refused
                st.next_at = now + interval
            except SourceDelayed as e:
                st.state, st.detail = "rate_limited", str(e)
                st.next_at = max(e.retry_at, now + 1.0)
                log.warning("social source %s: %s", source.name, e)
            except SourceAuthError as e:
                st.state, st.detail = "auth_error", str(e)
                st.next_at = now + max(interval, AUTH_RETRY_S)
                log.error("social source %s: %s", source.name, e)
            except SourceError as e:
                st.state, st.detail = "error", str(e)
                st.next_at = now + interval
                log.error("social source %s: %s", source.name, e)

    def next_due(self) -> float:
        return min((st.next_at for st in self.states.values()), default=self.clock() + 30.0)


def run_social(rt, publisher: Publisher, stop: threading.Event, *, once: bool = False,
               from_start: bool = False, state_dir: str | Path | None = None) -> SocialRunner:
    """Poll every enabled source at its interval until stopped. A failing source is logged and retried at
    its next turn; it does not stop the others. `from_start` forgets saved cursors first (the demo replays
    its sample files each run). `state_dir`: where the misses log goes instead of social.yaml's state_dir."""
    conf = rt.config.social
    pipeline = pipeline_for(rt, state_dir)
    sources: list[tuple[PostSource, float]] = []
    for sc in conf.sources:
        if not sc.enabled:
            continue
        try:
            sources.append((build_source(sc, rt.config.resolve), sc.interval_s))
        except SourceError as e:
            log.error("social source %s not started: %s", sc.name, e)
    if from_start:
        for source, _ in sources:
            save_cursor(rt.db, cursor_key(source), "")
    runner = SocialRunner(sources, pipeline, rt.db, publisher)
    while not stop.is_set():
        runner.step()
        if once:
            break
        stop.wait(min(60.0, max(0.5, runner.next_due() - time.time())))
    return runner
