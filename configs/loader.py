"""Load and validate the YAML configuration; errors name the file, the key and the reason."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from configs.schema import BridgeFile, CamerasFile, CategoriesFile, SocialFile, VisionFile

CONFIG_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = CONFIG_DIR.parent
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file is missing or wrong. The message is meant for the person who edits it."""


def _key_path(loc: tuple) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[") or "(top level)"


def load_file(path: str | Path, model: type[M]) -> M:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as e:
        problems = "; ".join(f"{_key_path(err['loc'])}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"{path}: {problems}") from None


@dataclass(frozen=True)
class AppConfig:
    directory: Path
    categories: CategoriesFile
    cameras: CamerasFile
    social: SocialFile
    bridge: BridgeFile
    vision: VisionFile = field(default_factory=VisionFile)

    def resolve(self, p: str) -> Path:
        """Paths in configs are relative to the project root (where the samples and var/ live)."""
        path = Path(p)
        return path if path.is_absolute() else PROJECT_ROOT / path

    def database_url(self) -> str:
        """The bridge's database URL, with a relative SQLite path anchored at the project root."""
        url = self.bridge.database_url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve(url[len(prefix):]))
        return url


def load(directory: str | Path | None = None) -> AppConfig:
    d = Path(directory) if directory else CONFIG_DIR
    cfg = AppConfig(
        directory=d,
        categories=load_file(d / "categories.yaml", CategoriesFile),
        cameras=load_file(d / "cameras.yaml", CamerasFile),
        social=load_file(d / "social.yaml", SocialFile),
        bridge=load_file(d / "bridge.yaml", BridgeFile),
        # optional: holds only defaults, and config folders written before it existed must still load
        vision=load_file(d / "vision.yaml", VisionFile) if (d / "vision.yaml").exists() else VisionFile(),
    )
    _cross_check(cfg)
    return cfg


def _cross_check(cfg: AppConfig) -> None:
    """Checks that span files: every analyzer a camera names must be a category the core knows."""
    known = cfg.categories.by_code()
    for i, cam in enumerate(cfg.cameras.cameras):
        for j, zone in enumerate(cam.zones):
            for analyzer in zone.analyzers:
                if analyzer not in known and analyzer != "camera_health":
                    raise ConfigError(f"{cfg.directory / 'cameras.yaml'}: cameras[{i}].zones[{j}].analyzers.{analyzer}: "
                                      f"unknown category (known: {', '.join(sorted(known))})")
