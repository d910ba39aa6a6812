"""The bridge: consume candidates, validate, store and merge, deliver through the outbox, sync verdicts.

Offsets are committed on the bus only after the database transaction that stored the batch, so a crash
between the two replays the batch, and replays are harmless (candidate ids are deterministic)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from bridge.bus.base import Bus, Message
from bridge.deadletter import store_dead_letter
from bridge.fusion import store_candidate
from bridge.intake import InvalidCandidate, parse_candidate
from bridge.open311 import Open311Client
from bridge.publish import deadletter_message
from bridge.outbox import DeliveryEvent, OutboxSender
from bridge.status_sync import StatusSync, VerdictEvent, VerdictRules
from configs.loader import AppConfig
from models.candidate import now_city
from models.db import Database

log = logging.getLogger("watch1022.bridge")


@dataclass
class BridgeCounts:
    received: int = 0
    new_incidents: int = 0
    merged: int = 0
    replays: int = 0
    deadletter: int = 0
    delivered: int = 0
    verdicts: int = 0
    by_source: dict[str, int] = field(default_factory=dict)


class BridgeService:
    def __init__(self, config: AppConfig, db: Database, bus: Bus, client: Open311Client,
                 on_delivery: Callable[[DeliveryEvent], None] | None = None,
                 on_verdict: Callable[[VerdictEvent], None] | None = None):
        self.config, self.db, self.bus = config, db, bus
        self.categories = config.categories.by_code()
        conf = config.bridge
        self.candidates_topic, self.deadletter_topic = conf.bus.candidates_topic, conf.bus.deadletter_topic
        self.consumer = bus.consumer(conf.bus.group_id, [self.candidates_topic, self.deadletter_topic])
        self.counts = BridgeCounts()
        self._on_delivery = on_delivery or (lambda e: None)
        self.sender = OutboxSender(db, client, self.categories, conf.core.retry, conf.evidence_base_url,
                                   on_event=self._delivered)
        self.status = StatusSync(db, client, VerdictRules(conf.core.verdict_rules), on_event=on_verdict)
        self.status_poll_s = conf.core.status_poll_s
        self._last_status_poll = 0.0
        self.idle_steps = 0  # consecutive steps that found nothing to consume or deliver

    def _delivered(self, ev: DeliveryEvent) -> None:
        if ev.outcome in ("sent", "found"):
            self.counts.delivered += 1
        self._on_delivery(ev)

    def consume_once(self, max_messages: int = 200, timeout_s: float = 0.5) -> int:
        messages = self.consumer.poll(max_messages=max_messages, timeout_s=timeout_s)
        if not messages:
            return 0
        try:
            outcomes, refused = self._store_batch(messages)
        except Exception:
            self.consumer.rewind()  # nothing of the batch was stored: read it again, never skip it
            raise
        c = self.counts
        c.received += len(messages)
        for source, outcome in outcomes:
            if outcome == "deadletter":
                c.deadletter += 1
            elif outcome == "new":
                c.new_incidents += 1
                c.by_source[source] = c.by_source.get(source, 0) + 1
            elif outcome == "merged":
                c.merged += 1
            else:
                c.replays += 1
        for reason, value in refused:
            log.warning("dead letter: %s", reason)
            self.bus.publish(self.deadletter_topic, "bridge.validate", deadletter_message("bridge.validate", reason, value))
        if refused:
            self.bus.flush()  # the refusals are durable on the bus before their inputs are committed away
        self.consumer.commit(messages)  # only now: the batch is in the database
        return len(messages)

    def _store_batch(self, messages: list[Message]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """One transaction for the batch: (source, outcome) per stored candidate, (reason, raw) per refusal."""
        outcomes: list[tuple[str, str]] = []
        refused: list[tuple[str, str]] = []
        with self.db.session() as s:
            for msg in messages:
                if msg.topic == self.deadletter_topic:
                    store_dead_letter(s, msg.value)
                    outcomes.append(("", "deadletter"))
                    continue
                try:
                    cand = parse_candidate(msg.value, set(self.categories))
                except InvalidCandidate as e:
                    refused.append((str(e), msg.value))
                    continue
                stored = store_candidate(s, cand, self.categories[cand.category])
                outcomes.append((cand.source, stored.outcome))
        return outcomes, refused

    def deliver_once(self) -> list[DeliveryEvent]:
        return self.sender.send_due()

    def sync_once(self, force: bool = False) -> list[VerdictEvent]:
        if not force and time.monotonic() - self._last_status_poll < self.status_poll_s:
            return []
        self._last_status_poll = time.monotonic()
        events = self.status.poll()
        self.counts.verdicts += len(events)
        return events

    def step(self) -> None:
        consumed = self.consume_once()
        delivered = self.deliver_once()
        self.sync_once()
        self.idle_steps = 0 if (consumed or delivered or self.sender.due(now_city(), 1)) else self.idle_steps + 1

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # the bridge keeps running; the failure is in the log with its trace
                log.exception("bridge step failed; retrying in 2 s")
                stop.wait(2)

    def close(self) -> None:
        self.consumer.close()
