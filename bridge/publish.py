"""The one thing producers (monitors, social) import from the bridge: how to put a candidate, or a
refused input with its reason, on the bus."""
from __future__ import annotations

import json

from bridge.bus.base import Bus
from models.candidate import Candidate

CANDIDATES_TOPIC = "watch1022.candidates"
DEADLETTER_TOPIC = "watch1022.deadletter"


def deadletter_message(stage: str, reason: str, payload: str) -> str:
    return json.dumps({"stage": stage, "reason": reason, "payload": payload}, ensure_ascii=False)


class CandidatePublisher:
    def __init__(self, bus: Bus, topic: str = CANDIDATES_TOPIC, deadletter_topic: str = DEADLETTER_TOPIC):
        self.bus, self.topic, self.deadletter_topic = bus, topic, deadletter_topic

    def publish(self, candidate: Candidate) -> None:
        # Keyed by category + coarse geocell: reports of one place stay in order on one partition.
        self.bus.publish(self.topic, candidate.dedup_key, candidate.to_json())

    def dead_letter(self, stage: str, reason: str, payload: str) -> None:
        """An input a producer could not use (a malformed post, say): kept with its reason, never dropped."""
        self.bus.publish(self.deadletter_topic, stage, deadletter_message(stage, reason, payload))

    def flush(self) -> None:
        self.bus.flush()
