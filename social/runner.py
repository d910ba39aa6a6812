"""Run the configured social sources: read new posts after each source's saved cursor, turn reports into
candidates, refuse malformed records to the dead-letter store, then save the cursor.

The cursor is saved only after the batch is on the bus, so a crash re-reads the batch (harmless: candidate
ids come from platform + post id) rather than skipping it."""
from __future__ import annotations

import logging
import threading
from typing import Protocol

from models.candidate import Candidate
from models.db import Database
from models.tables import SourceCursor
from social.pipeline import SocialPipeline
from social.sources import PostSource, Rejected, SourceError, build_source

log = logging.getLogger("watch1022.social")


class Publisher(Protocol):
    def publish(self, candidate: Candidate) -> None: ...
    def dead_letter(self, stage: str, reason: str, payload: str) -> None: ...
    def flush(self) -> None: ...


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


def read_source(source: PostSource, pipeline: SocialPipeline, db: Database, publisher: Publisher) -> tuple[int, int]:
    """One pass over one source: (candidates raised, records refused)."""
    key = cursor_key(source)
    items, new_cursor = source.fetch(load_cursor(db, key))
    raised = refused = 0
    for item in items:
        if isinstance(item, Rejected):
            publisher.dead_letter(f"social.{source.name}", f"record {item.line_no}: {item.reason}", item.raw)
            refused += 1
            continue
        candidate = pipeline.process(item)
        if candidate is not None:
            publisher.publish(candidate)
            raised += 1
    publisher.flush()
    save_cursor(db, key, new_cursor)
    return raised, refused


def run_social(rt, publisher: Publisher, stop: threading.Event, *, once: bool = False,
               from_start: bool = False) -> None:
    """Poll every enabled source at its interval until stopped. A failing source is logged and retried at
    its next turn; it does not stop the others. `from_start` forgets saved cursors first (the demo replays
    its sample files each run)."""
    conf = rt.config.social
    pipeline = SocialPipeline(rt.config.categories.categories, conf.threshold, rt.author_salt())
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
    next_due = {source.name: 0.0 for source, _ in sources}
    clock = 0.0
    while not stop.is_set():
        for source, interval in sources:
            if next_due[source.name] > clock:
                continue
            try:
                read_source(source, pipeline, rt.db, publisher)
            except SourceError as e:
                log.error("social source %s: %s", source.name, e)
            next_due[source.name] = clock + interval
        if once:
            return
        wait = max(0.5, min(next_due.values(), default=30.0) - clock)
        stop.wait(wait)
        clock += wait
