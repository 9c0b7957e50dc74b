"""Relative paths in the settings, resolved against the config file's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from .bounces import BounceSettings, resolve_bounce_paths

Settings = TypeVar("Settings", bound=BaseModel)  # config.Settings (which imports this)


def resolve_paths(settings: Settings, base: Path) -> Settings:
    """``settings`` with every relative path made absolute against ``base`` (the config
    file's folder, else the working directory)."""

    def rel(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    updates: dict[str, Any] = {
        name: rel(getattr(settings, name))
        for name in ("subscribers", "outbox", "previews", "database")
    }
    for optional in ("templates", "archive", "dkim_private_key"):
        if getattr(settings, optional) is not None:
            updates[optional] = rel(getattr(settings, optional))
    assert isinstance(settings, BounceSettings)
    updates.update(resolve_bounce_paths(settings, rel))
    updates["sources"] = [
        s.model_copy(update={"path": rel(s.path)}) if s.path is not None else s
        for s in settings.sources
    ]
    return settings.model_copy(update=updates)
