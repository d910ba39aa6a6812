"""Wiring shared by the commands: configuration, database, bus, core client and the bridge, built once."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import configs
from bridge.bus import open_bus
from bridge.bus.base import Bus
from bridge.open311 import Open311Client
from bridge.publish import CandidatePublisher
from configs.loader import AppConfig
from models.db import Database


@dataclass
class Runtime:
    config: AppConfig
    db: Database
    bus: Bus

    def publisher(self) -> CandidatePublisher:
        conf = self.config.bridge.bus
        return CandidatePublisher(self.bus, conf.candidates_topic, conf.deadletter_topic)

    def core_client(self) -> Open311Client:
        core = self.config.bridge.core
        return Open311Client(core.base_url, core.api_key, core.timeout_s)

    def evidence_dir(self) -> Path:
        return self.config.resolve(self.config.bridge.evidence_dir)

    def author_salt(self) -> str:
        return os.environ.get(self.config.social.author_salt_env, "")

    def close(self) -> None:
        self.bus.close()
        self.db.dispose()


def load_config(config_dir: str | None = None, database: str | None = None, **bridge_overrides) -> AppConfig:
    cfg = configs.load(config_dir)
    over = {k: v for k, v in bridge_overrides.items() if v is not None}
    if database:
        over["database_url"] = database
    if over:
        cfg = replace(cfg, bridge=cfg.bridge.model_copy(update=over))
    return cfg


def open_runtime(cfg: AppConfig) -> Runtime:
    db = Database(cfg.database_url())
    db.migrate()
    return Runtime(cfg, db, open_bus(cfg.bridge.bus, db))
