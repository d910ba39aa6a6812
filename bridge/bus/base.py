"""The bus interface: producers publish keyed messages to topics; consumer groups read them in order
per key and commit after their own database write (at-least-once; handlers are idempotent)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    topic: str
    key: str | None
    value: str  # JSON text
    partition: int
    offset: int


class Consumer(ABC):
    @abstractmethod
    def poll(self, max_messages: int = 100, timeout_s: float = 1.0) -> list[Message]:
        """Next messages after this group's committed position (or after the last poll)."""

    @abstractmethod
    def commit(self, messages: list[Message]) -> None:
        """Mark these messages (and everything before them on their partitions) as processed."""

    @abstractmethod
    def rewind(self) -> None:
        """Go back to the group's committed position: the next poll re-reads everything uncommitted.
        Call it after a failed handler, so a batch that was not stored is read again, not skipped."""

    @abstractmethod
    def close(self) -> None: ...


class Bus(ABC):
    @abstractmethod
    def publish(self, topic: str, key: str | None, value: str) -> None: ...

    @abstractmethod
    def flush(self, timeout_s: float = 10.0) -> None:
        """Block until every published message is durable on the bus."""

    @abstractmethod
    def consumer(self, group_id: str, topics: list[str]) -> Consumer: ...

    def close(self) -> None:
        pass
