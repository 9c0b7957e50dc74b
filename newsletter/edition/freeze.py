"""Freeze the day's edition before a send: compose it once (which articles, in which
order, its number) and render it, with its section variants, and put it on the web archive.

The choice of articles is frozen for good: every later send of the day (a resumed one, a
retry, one to subscribers added since) sends the same articles in the same order under the
same number. The rendering is frozen with it, but follows the templates and settings: each
send renders the frozen choice again with the current ones and, when the result differs
(its ``fingerprint``), replaces the frozen rendering and its variants and says how many
subscribers got the earlier version. The ledger still sees to it that nobody gets the
edition twice. Rendering is checked before anything is sent, so a broken template stops
the run as it would a new edition.

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
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from ..errors import visible
from ..models import Article, DeliveryStatus
from ..store.database import Store, StoredEdition
from ..subscribers.csvfile import column_values, subscriber_columns
from .compose import compose
from .plan import ArchiveSite, EditionInputs, EditionPlan, frozen_edition
from .rendered import RenderedEdition
from .templates import load_templates
from .variants import FULL, SECTIONS_COLUMN, Variants, variant_edition, variant_key

log = logging.getLogger("newsletter")
ISOLATE_ABOVE = 100_000  # subscriber rows from which "auto" renders in a child process
Isolation = Literal["auto", "always", "never"]


def plan_edition(
    inputs: EditionInputs, articles: list[Article], day: date, number: int
) -> EditionPlan | None:
    """Compose and render an edition from ``articles``; None when there are none.

    Raises:
        TemplateError, EditionTooLarge: nothing has been recorded or sent.
        InputError: the subscriber file is missing, unreadable or has no email column
            (checked before an edition is frozen, so a fixed file resumes cleanly).
    """
    edition = compose(
        articles,
        day=day,
        number=number,
        max_articles=inputs.max_articles,
        section_order=list(inputs.section_order),
    )
    if edition is None:
        return None
    from .render import render_edition  # Jinja and premailer: only when rendering

    templates = load_templates(inputs.templates)
    fields = subscriber_columns(inputs.subscribers)
    rendered = render_edition(edition, templates, inputs.info, fields)
    return EditionPlan(day, number, tuple(a.id for a in edition.articles), rendered)


def plan_from(stored: StoredEdition) -> EditionPlan:
    """The plan of an edition frozen earlier: its articles and its frozen rendering."""
    rendered = RenderedEdition.from_json(stored.rendered)
    return EditionPlan(stored.day, stored.number, stored.article_ids, rendered, stored)


def freeze_new(inputs: EditionInputs, store: Store, day: date, now: datetime) -> EditionPlan | None:
    """A new edition for ``day``, composed from the articles not yet in one, and frozen;
    None when there are none.

    Raises:
        as ``plan_edition``.
    """
    plan = plan_edition(inputs, store.unassigned_articles(), day, store.next_edition_number())
    if plan is None:
        return None
    stored = store.freeze_edition(
        day,
        plan.number,
        plan.rendered.subject,
        plan.article_ids,
        plan.rendered.to_json(),
        plan.rendered.fingerprint,
        now,
    )
    return EditionPlan(day, plan.number, plan.article_ids, plan.rendered, stored)


def render_frozen(
    inputs: EditionInputs, store: Store, stored: StoredEdition, keys: Iterable[str] = ()
) -> tuple[RenderedEdition, dict[str, RenderedEdition]]:
    """A frozen edition (its articles, their order, its number) rendered with the current
    templates and settings, and its variants ``keys``. Records nothing.

    Raises:
        InputError: the articles are missing from the database, or the subscriber file.
        TemplateError, EditionTooLarge: as for a new edition.
    """
    from .render import render_edition  # Jinja and premailer: only when rendering

    edition = frozen_edition(store, stored)
    templates = load_templates(inputs.templates)
    fields = subscriber_columns(inputs.subscribers)
    rendered = render_edition(edition, templates, inputs.info, fields)
    variants = {
        key: render_edition(variant_edition(edition, key), templates, inputs.info, fields)
        for key in keys
    }
    return rendered, variants


def current_plan(inputs: EditionInputs, store: Store, stored: StoredEdition) -> EditionPlan:
    """A frozen edition as the next send would render it (for a preview); records nothing.

    Raises:
        as ``render_frozen``.
    """
    rendered, _ = render_frozen(inputs, store, stored)
    return EditionPlan(stored.day, stored.number, stored.article_ids, rendered, stored)


def rendering_changed(plan: EditionPlan) -> bool:
    """Whether ``plan``'s rendering differs from the one frozen with its edition."""
    if plan.stored is None:
        return False
    frozen = RenderedEdition.from_json(plan.stored.rendered)
    return plan.rendered.fingerprint != frozen.fingerprint


def refreshed(inputs: EditionInputs, store: Store, stored: StoredEdition) -> EditionPlan:
    """A frozen edition rendered with the current templates and settings, its variants too;
    when that differs from the frozen rendering, the new one replaces it (one transaction)
    and a warning says how many subscribers got the earlier version.

    Raises:
        as ``render_frozen``; nothing has been recorded then.
    """
    frozen = store.variants(stored.id)
    rendered, variants = render_frozen(inputs, store, stored, sorted(frozen))
    before = [stored.rendered, *(frozen[key] for key in variants)]
    after = [rendered, *variants.values()]
    if [RenderedEdition.from_json(r).fingerprint for r in before] == [r.fingerprint for r in after]:
        return plan_from(stored)  # the same messages: keep the frozen bytes as they are
    data = rendered.to_json()
    store.replace_rendering(
        stored.id,
        rendered.subject,
        data,
        rendered.fingerprint,
        {key: (v.to_json(), v.fingerprint) for key, v in variants.items()},
    )
    _say_rendered_again(store, stored)
    stored = replace(
        stored, subject=rendered.subject, rendered=data, fingerprint=rendered.fingerprint
    )
    return EditionPlan(stored.day, stored.number, stored.article_ids, rendered, stored)


def _say_rendered_again(store: Store, stored: StoredEdition) -> None:
    got = store.delivery_counts(stored.id).get(DeliveryStatus.SENT.value, 0)
    if got:
        log.warning(
            "templates or settings changed since this edition was first sent: %d got the "
            "earlier version, the others get the current one (same articles)",
            got,
        )
    else:  # frozen by a run that sent nothing (stopped, or a relay that refused all)
        log.info("templates or settings changed since this edition was frozen: rendered again")


def edition_to_send(
    inputs: EditionInputs, store: Store, day: date, now: datetime, retry_only: bool
) -> EditionPlan | None:
    """The day's edition: the frozen one, rendered with the current templates and settings
    (``refreshed``); unless ``retry_only``, a new one composed and frozen when there is
    none (None: no edition and no new articles).

    Raises:
        TemplateError, EditionTooLarge, InputError: nothing has been sent.
    """
    stored = store.edition_for(day)
    if stored is not None:
        return refreshed(inputs, store, stored)
    return None if retry_only else freeze_new(inputs, store, day, now)


def prepare_variants(inputs: EditionInputs, store: Store, plan: EditionPlan) -> Variants:
    """Every section variant the subscriber list asks for, rendered once and frozen.

    Raises:
        InputError, TemplateError, EditionTooLarge: nothing has been sent.
    """
    assert plan.stored is not None
    choices = column_values(inputs.subscribers, SECTIONS_COLUMN)
    if not any(choices):  # no column, or everyone takes the whole edition
        return Variants(())
    edition = frozen_edition(store, plan.stored)
    names = tuple(s.name for s in edition.sections)
    wanted = {variant_key(names, c) for c in choices} - {None, FULL}
    frozen = store.variants(plan.stored.id)
    missing = sorted(k for k in wanted if k is not None and k not in frozen)
    if missing:
        from .render import render_edition  # Jinja and premailer: only when rendering

        templates = load_templates(inputs.templates)
        fields = subscriber_columns(inputs.subscribers)
        new = {}
        for key in missing:
            variant = variant_edition(edition, key)
            rendered = render_edition(variant, templates, inputs.info, fields)
            new[key] = (rendered.to_json(), rendered.fingerprint)
        store.freeze_variants(plan.stored.id, new)
        frozen = store.variants(plan.stored.id)
    rendered_variants = {k: RenderedEdition.from_json(frozen[k]) for k in wanted if k}
    return Variants(names, rendered_variants)


def prepare(
    inputs: EditionInputs,
    site: ArchiveSite | None,
    store: Store,
    day: date,
    now: datetime,
    retry_only: bool,
) -> tuple[EditionPlan | None, Variants]:
    """The day's edition, frozen (composed and rendered if new), its variants, and its page
    on the web archive (when there is one).

    Raises:
        TemplateError, EditionTooLarge, InputError: nothing has been sent.
    """
    plan = edition_to_send(inputs, store, day, now, retry_only)
    if plan is None or plan.stored is None:
        return None, Variants(())
    variants = prepare_variants(inputs, store, plan)
    if site is not None:
        from .archive import publish_edition  # Jinja and premailer: only when rendering

        publish_edition(
            site, inputs, store, plan.day, lambda problem: log.warning("%s", visible(problem))
        )
    return plan, variants


async def prepare_for_send(
    inputs: EditionInputs,
    site: ArchiveSite | None,
    store: Store,
    day: date,
    now: datetime,
    retry_only: bool,
    rows: int,
    isolation: Isolation,
) -> tuple[EditionPlan | None, Variants]:
    """``prepare``, in a child process when the list is large (see the module's docstring).

    Raises:
        as ``prepare`` (an error in the child is raised here, unchanged).
    """
    if isolation == "never" or (isolation == "auto" and rows < ISOLATE_ABOVE):
        return prepare(inputs, site, store, day, now, retry_only)
    await asyncio.to_thread(_in_child, inputs, site, store.path, day, now, retry_only)
    # Frozen (and rendered again if the templates or settings changed) by the child:
    # reading it back renders nothing (unless the CSV gained a new section choice in
    # between, which is then rendered here, still before sending).
    stored = store.edition_for(day)
    if stored is None:
        return None, Variants(())
    plan = plan_from(stored)
    return plan, prepare_variants(inputs, store, plan)


def _in_child(
    inputs: EditionInputs,
    site: ArchiveSite | None,
    database: Path,
    day: date,
    now: datetime,
    retry_only: bool,
) -> None:
    handlers = [(h.formatter, h.level) for h in log.handlers]
    # spawn, not fork: the daemon's process has threads, and a forked child would inherit
    # their locks; a fresh interpreter inherits nothing.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        args = (inputs, site, database, day, now, retry_only, log.level, handlers)
        pool.submit(_child, *args).result()


def _child(
    inputs: EditionInputs,
    site: ArchiveSite | None,
    database: Path,
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
    with Store(database) as store:
        prepare(inputs, site, store, day, now, retry_only)
