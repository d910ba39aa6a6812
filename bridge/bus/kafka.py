"""The Kafka bus (kafka-python 3.x): for 1022 Watch on many boxes. Any Kafka-compatible broker —
Apache Kafka in production, Tansu in the tests.

* Publish: an idempotent producer, acks=all, key and value as UTF-8; a key always lands on the same
  partition, so messages with one key stay in order. `flush` waits for the broker's acks and raises
  BusError if any message since the last flush failed.
* Consume: consumer groups with auto-commit off; `commit(messages)` commits, per partition, the next
  offset after the highest given message (offset + 1), after the caller's own database write.
  Uncommitted messages go to whichever member of the group gets the partition next (at-least-once).
* Topics are created when missing (the broker's auto-creation may be off, and the partition count
  matters: it bounds how many consumers of a group can share the work).
* The broker being unreachable is a BusError naming the bootstrap servers, after at most
  `connect_timeout_s` — never a hang.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition

from configs.schema import BusConf

from .base import Bus, Consumer, Message
from .common import BusError, check_message, check_topic, check_topics

log = logging.getLogger(__name__)

if int(kafka.__version__.split(".")[0]) < 3:  # pragma: no cover - depends on the installed library
    raise ImportError(f"bridge.bus.kafka needs kafka-python >= 3.0 (found {kafka.__version__})")

# Short group timeouts: a new member joins in ~3 s instead of ~20 s, and a dead bridge's partitions
# move to the others after 6 s. Override per consumer with consumer_config.
CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
}


def _utf8(b: bytes | None) -> str | None:
    # A poison message written by someone else must not kill the consumer: decode leniently, and
    # let the bridge's validation dead-letter it.
    return None if b is None else b.decode("utf-8", errors="replace")


class KafkaBus(Bus):
    """`KafkaBus(conf)`: connects (admin client) and creates the candidates and dead-letter topics if
    they are missing; raises BusError at once if the broker cannot be reached.

    partitions: partitions of topics this bus creates, by topic name; others get `default_partitions`.
    replication_factor: -1 takes the broker's default.replication.factor.
    producer_config / consumer_config: extra kafka-python settings (they override ours).
    """

    def __init__(self, conf: BusConf, *, partitions: Mapping[str, int] | None = None,
                 default_partitions: int = 3, replication_factor: int = -1,
                 connect_timeout_s: float = 10.0, create_topics: bool = True,
                 client_id: str = "watch1022",
                 producer_config: Mapping[str, Any] | None = None,
                 consumer_config: Mapping[str, Any] | None = None):
        if not conf.bootstrap_servers:
            raise ValueError("bus.bootstrap_servers is empty")
        self.conf = conf
        self.servers = list(conf.bootstrap_servers)
        self.partitions = dict(partitions or {})
        self.default_partitions = default_partitions
        self.replication_factor = replication_factor
        self.connect_timeout_ms = int(connect_timeout_s * 1000)
        self.create_topics = create_topics
        self.client_id = client_id
        self.producer_config = dict(producer_config or {})
        self.consumer_config = dict(consumer_config or {})
        self._lock = threading.RLock()
        self._known_topics: set[str] = set()
        self._producer: KafkaProducer | None = None
        self._failures: list[str] = []
        self._closed = False
        self._admin = self._connect("admin client", KafkaAdminClient, client_id=f"{client_id}-admin",
                                    request_timeout_ms=self.connect_timeout_ms)
        if create_topics:
            try:
                self.ensure_topics([conf.candidates_topic, conf.deadletter_topic])
            except BaseException:
                self._admin.close()
                raise

    def __repr__(self) -> str:
        return f"KafkaBus({','.join(self.servers)})"

    # ---- connection and errors ----------------------------------------------------------------
    def _fail(self, what: str, exc: BaseException) -> BusError:
        return BusError(f"Kafka bus at {','.join(self.servers)}: {what}: {exc}")

    def _connect(self, what: str, cls, *args, **config):
        config = {"bootstrap_servers": self.servers, "bootstrap_timeout_ms": self.connect_timeout_ms,
                  "reconnect_backoff_max_ms": 1000, **config}
        try:
            return cls(*args, **config)
        except KafkaError as exc:  # KafkaTimeoutError "Unable to bootstrap", NoBrokersAvailable, ...
            raise BusError(f"Kafka broker unreachable at {','.join(self.servers)} "
                           f"(no {what} connection within {self.connect_timeout_ms / 1000:g} s): {exc}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise BusError(f"{self!r} is closed")

    # ---- topics -------------------------------------------------------------------------------
    def ensure_topics(self, topics: list[str]) -> None:
        """Create the topics that do not exist yet (known ones are remembered, not asked again)."""
        self._check_open()
        wanted = [check_topic(t) for t in topics if t not in self._known_topics]
        if not wanted or not self.create_topics:
            self._known_topics.update(wanted)
            return
        with self._lock:
            try:
                existing = set(self._admin.list_topics())
                missing = [t for t in wanted if t not in existing]
                if missing:
                    spec = {t: {"num_partitions": self.partitions.get(t, self.default_partitions),
                                "replication_factor": self.replication_factor} for t in missing}
                    try:
                        self._admin.create_topics(spec, timeout_ms=self.connect_timeout_ms)
                        log.info("created Kafka topics %s", spec)
                    except TopicAlreadyExistsError:  # another process (or auto-creation) was first
                        pass
                    self._admin.wait_for_topics(missing, timeout_ms=self.connect_timeout_ms)
            except KafkaError as exc:
                raise self._fail(f"could not create topics {wanted!r}", exc) from exc
            self._known_topics.update(wanted)

    # ---- producing ----------------------------------------------------------------------------
    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                config = {
                    "client_id": f"{self.client_id}-producer",
                    "acks": "all",
                    "enable_idempotence": True,  # retries cannot duplicate or reorder a partition
                    "linger_ms": 5,
                    # bounded: a broker that is gone fails send() / flush() instead of blocking
                    "max_block_ms": self.connect_timeout_ms,
                    "request_timeout_ms": 15000,
                    "delivery_timeout_ms": 60000,
                    **self.producer_config,
                }
                self._producer = self._connect("producer", KafkaProducer, **config)
            return self._producer

    def _on_send_error(self, topic: str, exc: BaseException) -> None:
        log.error("Kafka bus: a message to %s failed: %s", topic, exc)
        with self._lock:
            if len(self._failures) < 100:
                self._failures.append(f"{topic}: {exc!r}")
            else:
                self._failures[-1] = f"... and more; last {topic}: {exc!r}"

    def publish(self, topic: str, key: str | None, value: str) -> None:
        """Queue the message (asynchronous); `flush` confirms it is on the broker."""
        check_message(topic, key, value)
        self._check_open()
        self.ensure_topics([topic])
        producer = self._get_producer()
        try:
            future = producer.send(topic, key=None if key is None else key.encode("utf-8"),
                                   value=value.encode("utf-8"))
        except KafkaError as exc:
            raise self._fail(f"could not publish to {topic!r}", exc) from exc
        future.add_errback(lambda exc: self._on_send_error(topic, exc))

    def flush(self, timeout_s: float = 10.0) -> None:
        self._check_open()
        if self._producer is None:
            return
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise self._fail(f"messages not acknowledged within {timeout_s:g} s", exc) from exc
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            raise BusError(f"Kafka bus at {','.join(self.servers)}: {len(failures)} message(s) were not "
                           f"delivered: {'; '.join(failures[:5])}")

    # ---- consuming ----------------------------------------------------------------------------
    def consumer(self, group_id: str, topics: list[str], **config: Any) -> "KafkaBusConsumer":
        """A member of consumer group `group_id`; `config` overrides kafka-python consumer settings."""
        self._check_open()
        if not isinstance(group_id, str) or not group_id:
            raise ValueError(f"invalid group id {group_id!r}")
        topics = check_topics(topics)
        self.ensure_topics(topics)
        settings = {**CONSUMER_DEFAULTS, "client_id": f"{self.client_id}-consumer",
                    "request_timeout_ms": 30000, **self.consumer_config, **config, "group_id": group_id}
        consumer = self._connect("consumer", KafkaConsumer, *topics, **settings)
        return KafkaBusConsumer(self, consumer, group_id, topics)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._producer is not None:
            try:
                self._producer.close(timeout=10)  # flushes first
            except KafkaError as exc:
                # kafka-python's close() raises when its flush times out, before stopping the sender
                # thread; stop it here so a dead broker does not keep a thread retrying.
                log.error("Kafka bus %s: messages not delivered at close: %s", self, exc)
                sender = getattr(self._producer, "_sender", None)
                if sender is not None:
                    sender.force_close()
        try:
            self._admin.close()
        except KafkaError as exc:  # pragma: no cover - closing sockets
            log.warning("Kafka bus %s: closing the admin client: %s", self, exc)


class KafkaBusConsumer(Consumer):
    def __init__(self, bus: KafkaBus, consumer: KafkaConsumer, group_id: str, topics: list[str]):
        self.bus = bus
        self.kafka = consumer  # the underlying KafkaConsumer, for what the interface does not cover
        self.group_id = group_id
        self.topics = topics
        self._committed: dict[TopicPartition, int] = {}  # what this member committed (next offsets)
        self._closed = False

    def __repr__(self) -> str:
        return f"KafkaBusConsumer(group={self.group_id!r}, topics={self.topics!r})"

    def _check_open(self) -> None:
        if self._closed:
            raise BusError(f"{self!r} is closed")

    def poll(self, max_messages: int = 100, timeout_s: float = 1.0) -> list[Message]:
        """Up to `max_messages`, in order within each partition. The first polls of a new member also
        join the group (about 3 s with the default timeouts) and may return []."""
        self._check_open()
        if max_messages < 1:
            raise ValueError("max_messages must be >= 1")
        try:
            batches = self.kafka.poll(timeout_ms=int(max(timeout_s, 0) * 1000), max_records=max_messages)
        except KafkaError as exc:
            raise self.bus._fail(f"poll of group {self.group_id!r} failed", exc) from exc
        return [Message(topic=r.topic, key=_utf8(r.key), value=_utf8(r.value) or "",
                        partition=r.partition, offset=r.offset)
                for records in batches.values() for r in records]

    def commit(self, messages: list[Message]) -> None:
        """Commit, per partition, the offset after the highest given message. Raises BusError if the
        group took the partition away (a rebalance): the messages will be delivered again."""
        self._check_open()
        nxt: dict[TopicPartition, int] = {}
        for m in messages:
            tp = TopicPartition(m.topic, m.partition)
            nxt[tp] = max(nxt.get(tp, 0), m.offset + 1)
        offsets = {tp: OffsetAndMetadata(o, "", -1) for tp, o in nxt.items()
                   if o > self._committed.get(tp, -1)}  # never move this member backwards
        if not offsets:
            return
        try:
            self.kafka.commit(offsets, timeout_ms=self.bus.connect_timeout_ms)
        except KafkaError as exc:
            raise self.bus._fail(f"commit of group {self.group_id!r} failed (the messages will be "
                                 f"delivered again)", exc) from exc
        for tp, om in offsets.items():
            self._committed[tp] = om.offset

    def rewind(self) -> None:
        """Go back to the group's committed offsets on the assigned partitions: the next poll re-reads
        everything uncommitted (use it after a failed handler instead of opening a new consumer)."""
        self._check_open()
        try:
            for tp in self.kafka.assignment():
                committed = self.kafka.committed(tp, timeout_ms=self.bus.connect_timeout_ms)
                if committed is None:
                    self.kafka.seek_to_beginning(tp)
                else:
                    self.kafka.seek(tp, committed)
        except KafkaError as exc:
            raise self.bus._fail(f"rewind of group {self.group_id!r} failed", exc) from exc

    def close(self) -> None:
        """Leave the group without committing: uncommitted messages go to the next member."""
        if self._closed:
            return
        self._closed = True
        try:
            self.kafka.close(autocommit=False, timeout_ms=5000)
        except KafkaError as exc:
            log.warning("Kafka bus: closing consumer of group %r: %s", self.group_id, exc)
