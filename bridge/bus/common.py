"""What both bus backends share: the error type and the checks on names, so a topic or key that one
backend would refuse is refused by the other too (the same code runs embedded and on Kafka)."""
from __future__ import annotations

import re

# Kafka's legal topic characters; 200 is the embedded log's column width (Kafka allows 249).
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
MAX_KEY_CHARS = 300  # the embedded log's key column width


class BusError(RuntimeError):
    """The bus could not do what was asked (broker unreachable, database down, commit refused, ...).
    The message names the bus (backend and address) and the reason; the cause is chained."""


def check_topic(topic: str) -> str:
    if not isinstance(topic, str) or not _TOPIC.match(topic) or topic in (".", ".."):
        raise ValueError(f"invalid topic name {topic!r}: use 1-200 characters of A-Z a-z 0-9 . _ -")
    return topic


def check_topics(topics: list[str]) -> list[str]:
    if isinstance(topics, str):
        raise TypeError(f"topics must be a list of names, not the string {topics!r}")
    topics = list(dict.fromkeys(topics))  # de-duplicate, keep order
    if not topics:
        raise ValueError("a consumer needs at least one topic")
    return [check_topic(t) for t in topics]


def check_message(topic: str, key: str | None, value: str) -> None:
    check_topic(topic)
    if key is not None:
        if not isinstance(key, str):
            raise TypeError(f"message key must be str or None, not {type(key).__name__}")
        if len(key) > MAX_KEY_CHARS:
            raise ValueError(f"message key is {len(key)} characters; at most {MAX_KEY_CHARS} are allowed")
    if not isinstance(value, str):
        raise TypeError(f"message value must be str (JSON text), not {type(value).__name__}")
