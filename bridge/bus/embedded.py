"""The embedded bus: an append-only log in the project's database (SQLite on one box, or PostgreSQL),
for running 1022 Watch with no broker.

* One log per topic, one partition (0). A message's offset is its `bus_messages.offset` row id: it
  grows within a topic (the ids are shared by all topics, so a topic's offsets have gaps).
* `publish` commits its row at once, so `flush` has nothing to do.
* A consumer of group G reads, per topic, the rows after G's committed offset (`bus_commits`), then
  after the last row it returned itself; `commit` stores the highest offset of the given messages per
  topic and never moves a group backwards. A consumer that stops before committing (a crash, a
  failed database write) leaves the group where it was, so the next consumer of G — or this one after
  `rewind()` — gets those messages again: at-least-once, handlers must be idempotent.
* Offsets become visible in order. SQLite has one writer at a time; on PostgreSQL `publish` holds a
  per-topic advisory lock until its commit, so a reader never sees offset n+1 while offset n is still
  uncommitted (and then skips n for ever).
* Two consumers of the same group at once are NOT balanced: each reads every message after the
  group's committed offset, so both would handle the same messages. The embedded bus is for one
  bridge process; run several bridges over Kafka.
* Rows are never deleted by the bus. If old rows are pruned, keep the newest row of the table:
  SQLite re-uses the highest row id after it is deleted, and a re-used offset would be skipped.
"""
from __future__ import annotations

import hashlib
import time

from sqlalchemy import and_, exists, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from models.db import Database
from models.tables import BusCommit, BusMessage

from .base import Bus, Consumer, Message
from .common import BusError, check_message, check_topic, check_topics

PARTITION = 0


def _lock_key(topic: str) -> int:
    """A stable signed 64-bit key for pg_advisory_xact_lock, one per topic."""
    digest = hashlib.blake2b(b"watch1022.bus\0" + topic.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _where(db: Database) -> str:
    try:
        return db.engine.url.render_as_string(hide_password=True)
    except Exception:  # pragma: no cover - an engine without a URL
        return "database"


class EmbeddedBus(Bus):
    """`EmbeddedBus(db)`: the database must be migrated (it holds bus_messages and bus_commits).
    The bus does not own `db`; `close()` leaves it open."""

    def __init__(self, db: Database, *, poll_interval_s: float = 0.05):
        if poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be > 0")
        self.db = db
        self.poll_interval_s = poll_interval_s
        self._dialect = db.engine.dialect.name
        self._closed = False

    def __repr__(self) -> str:
        return f"EmbeddedBus({_where(self.db)})"

    def _fail(self, what: str, exc: BaseException) -> BusError:
        return BusError(f"embedded bus on {_where(self.db)}: {what}: {exc}")

    def publish(self, topic: str, key: str | None, value: str) -> None:
        check_message(topic, key, value)
        if self._closed:
            raise BusError(f"{self!r} is closed")
        try:
            with self.db.session() as s:
                if self._dialect == "postgresql":
                    # Held until commit: the offsets of one topic become visible in order.
                    s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(topic)})
                s.add(BusMessage(topic=topic, key=key, value=value))
        except SQLAlchemyError as exc:
            raise self._fail(f"could not publish to {topic!r}", exc) from exc

    def flush(self, timeout_s: float = 10.0) -> None:
        """Nothing to do: every publish is committed before it returns."""

    def consumer(self, group_id: str, topics: list[str]) -> "EmbeddedConsumer":
        if self._closed:
            raise BusError(f"{self!r} is closed")
        return EmbeddedConsumer(self, group_id, check_topics(topics))

    def committed(self, group_id: str, topic: str) -> int | None:
        """The group's last processed offset on the topic, or None if it never committed."""
        check_topic(topic)
        try:
            with self.db.engine.connect() as conn:
                return conn.execute(select(BusCommit.offset).where(
                    BusCommit.group_id == group_id, BusCommit.topic == topic)).scalar_one_or_none()
        except SQLAlchemyError as exc:
            raise self._fail(f"could not read the position of group {group_id!r}", exc) from exc

    def close(self) -> None:
        self._closed = True


class EmbeddedConsumer(Consumer):
    def __init__(self, bus: EmbeddedBus, group_id: str, topics: list[str]):
        if not isinstance(group_id, str) or not group_id or len(group_id) > 200:
            raise ValueError(f"invalid group id {group_id!r}: 1-200 characters")
        self.bus = bus
        self.group_id = group_id
        self.topics = topics
        self._closed = False
        self._position: dict[str, int] = {}  # topic -> last offset handed out (or committed)
        self.rewind()

    def __repr__(self) -> str:
        return f"EmbeddedConsumer(group={self.group_id!r}, topics={self.topics!r})"

    def _check_open(self) -> None:
        if self._closed:
            raise BusError(f"{self!r} is closed")

    def rewind(self) -> None:
        """Go back to the group's committed offsets: the next poll re-reads everything uncommitted
        (use it after a failed handler instead of opening a new consumer)."""
        self._check_open()
        try:
            with self.bus.db.engine.connect() as conn:
                rows = conn.execute(select(BusCommit.topic, BusCommit.offset).where(
                    BusCommit.group_id == self.group_id, BusCommit.topic.in_(self.topics))).all()
        except SQLAlchemyError as exc:
            raise self.bus._fail(f"could not read the position of group {self.group_id!r}", exc) from exc
        committed = {t: o for t, o in rows}
        self._position = {t: committed.get(t, 0) for t in self.topics}

    def poll(self, max_messages: int = 100, timeout_s: float = 1.0) -> list[Message]:
        """Up to `max_messages` in offset order; returns as soon as there are any, or [] after `timeout_s`."""
        self._check_open()
        if max_messages < 1:
            raise ValueError("max_messages must be >= 1")
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            messages = self._read(max_messages)
            if messages:
                for m in messages:
                    self._position[m.topic] = max(self._position[m.topic], m.offset)
                return messages
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            time.sleep(min(self.bus.poll_interval_s, left))

    def _read(self, limit: int) -> list[Message]:
        after = or_(*(and_(BusMessage.topic == t, BusMessage.offset > pos) for t, pos in self._position.items()))
        stmt = (select(BusMessage.topic, BusMessage.key, BusMessage.value, BusMessage.offset)
                .where(after).order_by(BusMessage.offset).limit(limit))
        try:
            with self.bus.db.engine.connect() as conn:
                rows = conn.execute(stmt).all()
        except SQLAlchemyError as exc:
            raise self.bus._fail(f"could not read {self.topics!r}", exc) from exc
        return [Message(topic=t, key=k, value=v, partition=PARTITION, offset=o) for t, k, v, o in rows]

    def commit(self, messages: list[Message]) -> None:
        """Store, per topic, the highest offset among `messages` as the group's position (never lower
        than what the group has already committed)."""
        self._check_open()
        highest: dict[str, int] = {}
        for m in messages:
            if m.partition != PARTITION:
                raise ValueError(f"{m!r} is not from the embedded bus (partition {m.partition})")
            highest[m.topic] = max(highest.get(m.topic, m.offset), m.offset)
        if not highest:
            return
        try:
            with self.bus.db.session() as s:
                for topic, offset in highest.items():
                    self._upsert(s, topic, offset)
        except SQLAlchemyError as exc:
            raise self.bus._fail(f"could not commit group {self.group_id!r}", exc) from exc
        for topic, offset in highest.items():
            if topic in self._position:
                self._position[topic] = max(self._position[topic], offset)

    def _upsert(self, s, topic: str, offset: int) -> None:
        dialect = self.bus._dialect
        if dialect in ("postgresql", "sqlite"):
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            ins = insert(BusCommit).values(group_id=self.group_id, topic=topic, offset=offset)
            s.execute(ins.on_conflict_do_update(
                index_elements=[BusCommit.group_id, BusCommit.topic],
                set_={"offset": ins.excluded["offset"]},
                where=BusCommit.offset < ins.excluded["offset"]))
            return
        # Other databases: update forwards, or insert the first position.
        key = and_(BusCommit.group_id == self.group_id, BusCommit.topic == topic)
        s.execute(update(BusCommit).where(key, BusCommit.offset < offset).values(offset=offset))
        if not s.execute(select(exists().where(key))).scalar():
            s.add(BusCommit(group_id=self.group_id, topic=topic, offset=offset))

    def close(self) -> None:
        """Stop reading. Uncommitted messages stay for the group's next consumer."""
        self._closed = True
