"""YAML configuration (categories, cameras, social, bridge) and its validated models."""
from configs.loader import AppConfig, ConfigError, load, load_file

__all__ = ["AppConfig", "ConfigError", "load", "load_file"]
