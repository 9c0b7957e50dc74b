"""Collection alone (``newsletter collect``, the daemon's collect schedule): read every
source and store new articles under the run lock; compose and send nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime

from ..collect.taken import Collection
from ..models import Article
from ..settings import Settings
from ..store.database import Store
from ..store.lock import lock_path, run_lock
from .send import check_store, collect


def run_collect(settings: Settings, now: datetime) -> Collection:
    """Collect and store new articles, under the lock; compose and send nothing. Returns
    them with every item not taken and why.

    Raises:
        LockedError: another run holds the lock; nothing was done.
        StoreError, ConfigError: as ``check_store``; nothing was done.
    """
    return asyncio.run(_collect_under_lock(settings, now))


async def collect_locked(settings: Settings, now: datetime) -> list[Article]:
    """``run_collect`` for a running event loop (the daemon's collect schedule): the new
    articles.

    Raises:
        LockedError: another run holds the lock; nothing was done.
    """
    return (await _collect_under_lock(settings, now)).articles


async def _collect_under_lock(settings: Settings, now: datetime) -> Collection:
    with run_lock(lock_path(settings.database)), Store(settings.database) as store:
        check_store(settings, store)
        return await collect(settings, store, now)
