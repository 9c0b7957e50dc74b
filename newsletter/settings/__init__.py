"""Configuration."""

from .config import DEFAULT_CONFIG, SMTP_SCHEMES, Settings, SourceSpec, load_settings, split_listen

__all__ = [
    "DEFAULT_CONFIG",
    "SMTP_SCHEMES",
    "Settings",
    "SourceSpec",
    "load_settings",
    "split_listen",
]
