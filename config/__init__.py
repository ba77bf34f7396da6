"""Platform configuration: the typed model, its loader and the deterministic names."""

from config.loader import DEFAULT_CONFIG, ConfigError, load_config, parse_config
from config.model import PlatformConfig, Service

__all__ = ["DEFAULT_CONFIG", "ConfigError", "PlatformConfig", "Service", "load_config", "parse_config"]
