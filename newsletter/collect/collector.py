"""The collect step: every source (folders and feeds) into the store.

It wires the readers of this stage (``folders`` for article files, ``fetch`` for HTTP,
the pure ``feeds`` parser) to the database (``store.feeds`` for feed state). ``collect``
records what it learns; ``preview_articles`` computes the same selection and records
nothing. A source that fails is reported with its URL and reason and skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from ..errors import ParseError
from ..models import Article, NotTaken, NotTakenReason
from ..store.database import Store
from ..store.feeds import FeedHealth, FeedLedger, Fetch, FolderHealth, FolderLedger
from ..store.images import ImageSizes
from .config import CollectConfig, SourceSpec
from .feeds import FeedItem, FeedSource, ParsedFeed, Selection, parse_feed, select_new
from .fetch import FeedRequest, FeedResponse, fetch_all, fetch_feeds
from .folders import collect_sources, store_folders
from .images import size_pictures, sized_for_preview
from .outside import origin
from .taken import Collection

Report = Callable[[str], None]


async def collect(config: CollectConfig, store: Store, now: datetime, report: Report) -> Collection:
    """Store new articles from every enabled source; return them with every item not
    taken and why. Never raises for a source's problem: each is reported and the others
    go on."""
    result = store_folders(config.sources, config.zone, store, now, report)
    ledger = FeedLedger(store)
    health = ledger.health()
    feeds = _due_feeds(config, health, report)
    requests = [_request(s, health.get(s.key)) for s in feeds]
    responses = await fetch_all(requests, config.limits)
    from_folders = len(result.articles)
    for spec, response in zip(feeds, responses, strict=True):
        _take_feed(config, ledger, spec, response, health.get(spec.key), now, report, result)
    _flag_failing(config, ledger.health(), report)
    # Feeds' pictures are measured over HTTP; article files' from their files, as read.
    from_feeds = result.articles[from_folders:]
    trusted = _feed_hosts(config, ledger.health())
    sized, result.unmeasured = await size_pictures(
        from_feeds, ImageSizes(store), config.limits, now, trusted=trusted
    )
    result.articles[from_folders:] = sized
    return result


def preview_articles(
    config: CollectConfig, store: Store | None, now: datetime, report: Report
) -> list[Article]:
    """What ``collect`` would store now, recording nothing (no validators sent, so every
    feed answers in full)."""
    found = collect_sources(config.sources, config.zone)
    for problem in found.problems:
        report(problem)
    ledger = FeedLedger(store) if store is not None else None
    health = ledger.health() if ledger is not None else {}
    feeds = _due_feeds(config, health, report)
    requests = [FeedRequest(s.key, _where(s, health.get(s.key))) for s in feeds]
    from_feeds: list[Article] = []
    for spec, response in zip(feeds, fetch_feeds(requests, config.limits), strict=True):
        parsed = _parsed(config, spec, response, now, report)
        if parsed is not None:
            items = parsed.items
            seen = ledger.known_keys([k for i in items for k in i.keys]) if ledger else set()
            chosen = _select(config, spec, items, seen, health.get(spec.key), now)
            from_feeds += [item.article for item in chosen.take]
    sizes = ImageSizes(store) if store is not None else None
    trusted = _feed_hosts(config, health)
    return [*found.articles, *sized_for_preview(from_feeds, sizes, config.limits, trusted)]


def feed_name(spec: SourceSpec) -> str:
    """How articles of a feed name their source: the name option, else the feed's host."""
    return spec.name or urlsplit(spec.key).hostname or spec.key


# --- steps ------------------------------------------------------------------------------------


def _due_feeds(
    config: CollectConfig, health: dict[str, FeedHealth], report: Report
) -> list[SourceSpec]:
    """The enabled feeds to fetch now: all but those that answered 410 Gone."""
    due = []
    for spec in config.sources:
        if not (spec.is_feed and spec.enabled):
            continue
        known = health.get(spec.key)
        if known is not None and known.gone_since is not None:
            report(
                f"{spec.key}: gone (HTTP 410 since {known.gone_since:%Y-%m-%d}); no longer "
                "fetched: remove it from 'sources'"
            )
            continue
        due.append(spec)
    return due


def _feed_hosts(config: CollectConfig, health: dict[str, FeedHealth]) -> set[str]:
    """The ``host:port`` of every feed, where it is configured and where it moved to: its
    own pictures may be on an internal address (``outside.guard``)."""
    urls = [_where(s, health.get(s.key)) for s in config.sources if s.is_feed]
    urls += [s.key for s in config.sources if s.is_feed]
    return {host for url in urls if (host := origin(url))}


def _where(spec: SourceSpec, known: FeedHealth | None) -> str:
    return (known.fetch_url if known else None) or spec.key


def _request(spec: SourceSpec, known: FeedHealth | None) -> FeedRequest:
    if known is None:
        return FeedRequest(spec.key, spec.key)
    return FeedRequest(spec.key, _where(spec, known), known.etag, known.last_modified)


def _parsed(
    config: CollectConfig, spec: SourceSpec, response: FeedResponse, now: datetime, report: Report
) -> ParsedFeed | None:
    """The parsed feed, or None after reporting why there is none."""
    if response.gone:
        report(f"{spec.key}: {response.error}; it will not be fetched again: remove it")
        return None
    if response.error is not None:
        report(f"{spec.key}: {response.error}; skipped")
        return None
    if response.not_modified:
        return None
    source = FeedSource(spec.key, feed_name(spec), spec.section)
    try:
        parsed = parse_feed(
            response.body,
            url=response.url,
            content_type=response.content_type,
            source=source,
            now=now,
            zone=config.zone,
        )
    except ParseError as exc:
        where = spec.key if exc.where == response.url else f"{spec.key} (at {exc.where})"
        report(f"{where}: {exc.reason}; skipped")
        return None
    if parsed.nothing:
        report(f"{spec.key}: {parsed.nothing}")
    return parsed


def _select(
    config: CollectConfig,
    spec: SourceSpec,
    items: tuple[FeedItem, ...],
    seen: set[str],
    known: FeedHealth | None,
    now: datetime,
    elsewhere: set[str] | None = None,
) -> Selection:
    return select_new(
        items,
        seen=seen,
        first_run=known is None or known.first_run,
        now=now,
        window=config.new_source_window,
        max_items=spec.max_items,
        elsewhere=elsewhere or frozenset(),
    )


def _take_feed(
    config: CollectConfig,
    ledger: FeedLedger,
    spec: SourceSpec,
    response: FeedResponse,
    known: FeedHealth | None,
    now: datetime,
    report: Report,
    result: Collection,
) -> None:
    """Record one fetch, store its new items and add them (and the items not taken) to
    ``result``."""
    parsed = _parsed(config, spec, response, now, report)
    if parsed is None and not response.not_modified:
        reason = response.error or "not a usable feed"
        ledger.record(spec.key, Fetch(ok=False, error=reason, gone=response.gone), now)
        return
    fetch = Fetch(
        ok=True,
        fetch_url=response.moved_to,
        etag=response.etag,
        last_modified=response.last_modified,
    )
    if response.moved_to:
        report(f"{spec.key}: moved permanently to {response.moved_to}; fetched there from now on")
    if parsed is None:  # 304 Not Modified
        ledger.record(spec.key, fetch, now)
        return
    items = parsed.items
    seen = ledger.known_keys([k for i in items for k in i.keys])
    chosen = _select(config, spec, items, seen, known, now, result.keys)
    name = feed_name(spec)
    taken = [(i.article, i.keys) for i in chosen.take]
    new = ledger.add_items(name, taken, [i.keys for i in chosen.leave], now)
    fresh = sum(1 for i in items if seen.isdisjoint(i.keys))
    ledger.record(spec.key, replace(fetch, title=parsed.title, new_items=fresh), now)
    _account(result, chosen, new, parsed)


def _account(result: Collection, chosen: Selection, new: list[Article], parsed: ParsedFeed) -> None:
    """Add a feed's stored articles and its items not taken (with why) to ``result``."""
    stored = {a.id for a in new}
    # An item taken whose id the database already had (an article file's url, say).
    known = [(i, NotTakenReason.SEEN) for i in chosen.take if i.article.id not in stored]
    result.articles += new
    result.not_taken += parsed.empty
    result.not_taken += [
        NotTaken(reason, i.article.source, i.article.title, i.article.url or i.article.id)
        for i, reason in [*chosen.not_taken, *known]
    ]
    for item in chosen.take:
        result.keys.update(item.keys)


def _flag_failing(config: CollectConfig, health: dict[str, FeedHealth], report: Report) -> None:
    """Say loudly which configured feeds have failed several times in a row."""
    for spec in config.sources:
        known = health.get(spec.key)
        if known is None or known.gone_since or known.failures < config.failure_alert:
            continue
        since = f"{known.last_success:%Y-%m-%d %H:%M} UTC" if known.last_success else "never"
        report(
            f"warning: {spec.key} is failing: {known.failures} failures in a row "
            f"(last success: {since}; last error: {known.last_error})"
        )


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One line of ``newsletter sources``: a feed's health, or a folder's (``folder``)
    and whether it is missing now."""

    spec: SourceSpec
    health: FeedHealth | None
    failing: bool
    folder: FolderHealth | None = None
    missing: bool = False


def source_rows(config: CollectConfig, store: Store | None) -> list[SourceRow]:
    """Every configured source with what the database knows of its health; a folder is
    also looked for on disk now, so a misspelled path shows at once."""
    health = FeedLedger(store).health() if store is not None else {}
    folders = FolderLedger(store).health() if store is not None else {}
    rows = []
    for spec in config.sources:
        if spec.path is not None:
            missing = not spec.path.is_dir()
            rows.append(SourceRow(spec, None, missing, folders.get(spec.key), missing))
            continue
        known = health.get(spec.key)
        failing = known is not None and known.failures >= config.failure_alert
        rows.append(SourceRow(spec, known, failing))
    return rows
