"""Several monitor workers sharing the cameras, over Kafka.

A topic of camera assignments (`monitor.assignments_topic`, `monitor.assignment_partitions`
partitions) and one consumer group (`monitor.group_id`): a camera belongs to the partition its id
hashes to (Kafka's own murmur2 key partitioner, so a message keyed by the camera id lands there too),
and each worker watches exactly the cameras of the partitions the group assigned it. The group does
the rest:

* a worker that dies stops heartbeating; after `session_timeout_ms` (6 s) the group rebalances and its
  partitions — its cameras — go to the others (bounded: session timeout + one rejoin, ~10 s);
* Kafka's eager rebalance revokes every partition from every member before assigning any, and
  `on_partitions_revoked` stops the cameras of the revoked partitions — waiting for their looks in
  flight — before it returns, so a camera is never watched by two workers at once;
* a worker whose poll loop stalls longer than the session timeout stops its cameras itself (it may
  already have been replaced).

The topic carries no data the workers need (the registry table is the truth of the cameras); it is
the unit of assignment. Registry changes reach the workers through their periodic re-read.
"""
from __future__ import annotations

import logging
import threading
import time

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

log = logging.getLogger("watch1022.monitors.cluster")

SESSION_TIMEOUT_MS = 6000
HEARTBEAT_MS = 1000


def partition_of(camera_id: str, partitions: int) -> int:
    """The partition a camera belongs to: Kafka's default partitioner on the camera id as the key."""
    return (murmur2(camera_id.encode("utf-8")) & 0x7FFFFFFF) % partitions


def ensure_topic(servers: list[str], topic: str, partitions: int, timeout_s: float = 10.0) -> None:
    admin = KafkaAdminClient(bootstrap_servers=servers, client_id="watch1022-monitor-admin",
                             request_timeout_ms=int(timeout_s * 1000))
    try:
        if topic in set(admin.list_topics()):
            return
        try:
            admin.create_topics([NewTopic(topic, partitions, -1)])
        except TopicAlreadyExistsError:
            pass
    finally:
        admin.close()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, member: "ClusterMember"):
        self.member = member

    def on_partitions_revoked(self, revoked):
        self.member._revoke({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned):
        self.member._assign({tp.partition for tp in assigned})


class ClusterMember:
    """One monitor worker of the group. `run(stop)` joins the group, runs the MonitorLoop in a thread
    and polls the group (heartbeats, rebalances) until stop is set."""

    def __init__(self, loop, servers: list[str], settings, worker: str, *,
                 session_timeout_ms: int = SESSION_TIMEOUT_MS, heartbeat_interval_ms: int = HEARTBEAT_MS):
        self.loop = loop
        self.servers = list(servers)
        self.topic = settings.assignments_topic
        self.partitions = settings.assignment_partitions
        self.group_id = settings.group_id
        self.worker = worker
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.owned: set[int] = set()
        self._lock = threading.Lock()
        self.rebalances = 0

    def owns(self, camera_id: str) -> bool:
        return partition_of(camera_id, self.partitions) in self.owned

    def _revoke(self, parts: set[int]) -> None:
        with self._lock:
            self.owned -= parts
        log.info("worker %s: partitions %s revoked; stopping their cameras", self.worker, sorted(parts))
        self.loop.set_owner(self.owns, wait_s=60.0)  # waits for looks in flight

    def _assign(self, parts: set[int]) -> None:
        with self._lock:
            self.owned = set(parts)
            self.rebalances += 1
        log.info("worker %s: assigned partitions %s", self.worker, sorted(parts))
        self.loop.set_owner(self.owns)
        self.loop.sync()

    def run(self, stop: threading.Event) -> None:
        ensure_topic(self.servers, self.topic, self.partitions)
        consumer = KafkaConsumer(bootstrap_servers=self.servers, group_id=self.group_id,
                                 client_id=f"watch1022-monitor-{self.worker}", enable_auto_commit=False,
                                 session_timeout_ms=self.session_timeout_ms,
                                 heartbeat_interval_ms=self.heartbeat_interval_ms,
                                 max_poll_interval_ms=max(self.session_timeout_ms * 5, 60000))
        consumer.subscribe([self.topic], listener=_Listener(self))
        self.loop.set_owner(self.owns)
        thread = self.loop.start()
        last_poll = time.monotonic()
        try:
            while not stop.is_set() and thread.is_alive():
                try:
                    consumer.poll(timeout_ms=500, max_records=100)  # messages are notifications only
                    last_poll = time.monotonic()
                except KafkaError as e:
                    log.warning("worker %s: group poll failed: %s", self.worker, e)
                    if time.monotonic() - last_poll > self.session_timeout_ms / 1000 and self.owned:
                        # The group has probably given our partitions away: stop watching them.
                        self._revoke(set(self.owned))
                    time.sleep(0.5)
        finally:
            self.loop.stop()
            thread.join(timeout=60)
            try:
                consumer.close(autocommit=False, timeout_ms=5000)
            except KafkaError:
                pass
