"""The bus between producers (monitors, social) and the bridge. `open_bus(conf, db)` picks the
backend named in the config: `embedded` (in the database, one box) or `kafka` (many boxes).

    bus = open_bus(conf.bus, db)
    bus.publish(conf.bus.candidates_topic, key, candidate_json); bus.flush()
    consumer = bus.consumer(conf.bus.group_id, [conf.bus.candidates_topic])
    messages = consumer.poll(); ...store them...; consumer.commit(messages)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Bus, Consumer, Message
from .common import BusError

if TYPE_CHECKING:
    from configs.schema import BusConf
    from models.db import Database

__all__ = ["Bus", "Consumer", "Message", "BusError", "open_bus"]


def open_bus(conf: "BusConf", db: "Database | None" = None, **options: Any) -> Bus:
    """The bus named by `conf.backend`. The embedded bus needs the (migrated) database; `options`
    go to the backend's constructor (e.g. poll_interval_s, or partitions / connect_timeout_s)."""
    if conf.backend == "embedded":
        if db is None:
            raise ValueError("the embedded bus lives in the database: open_bus(conf, db) needs db")
        from .embedded import EmbeddedBus

        return EmbeddedBus(db, **options)
    if conf.backend == "kafka":
        from .kafka import KafkaBus  # kafka-python is imported only when Kafka is used

        return KafkaBus(conf, **{"default_partitions": conf.partitions, "connect_timeout_s": conf.connect_timeout_s,
                                 **options})
    raise ValueError(f"unknown bus backend {conf.backend!r} (embedded | kafka)")
