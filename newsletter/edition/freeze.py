"""Freeze the day's edition before a send: compose and render it once, its section
variants, and its page on the web archive.

Rendering loads premailer, cssutils and lxml: ~15 MB that would stay in the sending
process for the whole run. For a large list, where the send's memory matters (the budget
is 80 MB for a million subscribers), this step runs in a short-lived child process and
the send reads the frozen result back from the database; for a small list the ~1 s a
child costs to start is not worth it, and it runs in-process. Either way the frozen
edition is the same.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime

from ..job import EditionPlan, edition_to_send, log
from ..settings.config import Settings
from ..store.database import Store
from .variants import Variants

ISOLATE_ABOVE = 100_000  # subscriber rows from which "auto" renders in a child process


def prepare(
    settings: Settings, store: Store, day: date, now: datetime, retry_only: bool
) -> tuple[EditionPlan | None, Variants]:
    """The day's edition, frozen (composed and rendered if new), its variants, and the
    archive page.

    Raises:
        TemplateError, EditionTooLarge, InputError: nothing has been sent.
    """
    from .publish import prepare_variants, publish_edition  # renders: Jinja, premailer

    plan = edition_to_send(settings, store, day, now, retry_only)
    if plan is None or plan.stored is None:
        return None, Variants(())
    variants = prepare_variants(settings, store, plan)
    publish_edition(settings, store, plan, lambda problem: log.warning("%s", problem))
    return plan, variants


async def prepare_for_send(
    settings: Settings, store: Store, day: date, now: datetime, retry_only: bool, rows: int
) -> tuple[EditionPlan | None, Variants]:
    """``prepare``, in a child process when the list is large (see the module's docstring).

    Raises:
        as ``prepare`` (an error in the child is raised here, unchanged).
    """
    mode = settings.render_isolation
    if mode == "never" or (mode == "auto" and rows < ISOLATE_ABOVE):
        return prepare(settings, store, day, now, retry_only)
    await asyncio.to_thread(_in_child, settings, day, now, retry_only)
    # Frozen by the child: reading it back renders nothing (unless the CSV gained a new
    # section choice in between, which is then rendered here, still before sending).
    plan = edition_to_send(settings, store, day, now, retry_only=True)
    if plan is None or plan.stored is None:
        return None, Variants(())
    from .publish import prepare_variants

    return plan, prepare_variants(settings, store, plan)


def _in_child(settings: Settings, day: date, now: datetime, retry_only: bool) -> None:
    handlers = [(h.formatter, h.level) for h in log.handlers]
    # spawn, not fork: the daemon's process has threads, and a forked child would inherit
    # their locks; a fresh interpreter inherits nothing.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        pool.submit(_child, settings, day, now, retry_only, log.level, handlers).result()


def _child(
    settings: Settings,
    day: date,
    now: datetime,
    retry_only: bool,
    level: int,
    handlers: list[tuple[logging.Formatter | None, int]],
) -> None:
    """The child's work: its warnings go to stderr formatted as the parent's."""
    log.setLevel(level)
    log.propagate = False
    for formatter, handler_level in handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter)
        handler.setLevel(handler_level)
        log.addHandler(handler)
    with Store(settings.database) as store:
        prepare(settings, store, day, now, retry_only)
