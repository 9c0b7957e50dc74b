"""Dates as real feeds write them: each string with the UTC time a reader means by it, or
"no date" (None) where it cannot be told; never a wrong date."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from newsletter.collect.feeddates import read_date
from newsletter.collect.feeds import FeedSource, parse_feed

PARIS = ZoneInfo("Europe/Paris")  # the list's zone: dates written without one are read in it


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


TABLE = [
    # RFC 822 (RSS) with its common deviations
    ("Sun, 29 Nov 2026 10:07:41 +0000", utc(2026, 11, 29, 10, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 GMT", utc(2026, 11, 29, 10, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 UT", utc(2026, 11, 29, 10, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 Z", utc(2026, 11, 29, 10, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 -0500", utc(2026, 11, 29, 15, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 EST", utc(2026, 11, 29, 15, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 PDT", utc(2026, 11, 29, 17, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 CST", utc(2026, 11, 29, 16, 7, 41)),  # US Central (RFC 822)
    ("Sun, 29 Nov 2026 10:07:41 CET", utc(2026, 11, 29, 9, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 CEST", utc(2026, 11, 29, 8, 7, 41)),  # feedparser: as UTC
    ("Sun, 29 Nov 2026 10:07:41 BST", utc(2026, 11, 29, 9, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 IST", utc(2026, 11, 29, 4, 37, 41)),  # India
    ("Sun, 29 Nov 2026 10:07:41 JST", utc(2026, 11, 29, 1, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 AEDT", utc(2026, 11, 28, 23, 7, 41)),
    ("Sun, 29 Nov 2026 10:07:41 MESZ", utc(2026, 11, 29, 8, 7, 41)),  # German CEST
    ("Sun, 29 Nov 2026 10:07 +0100", utc(2026, 11, 29, 9, 7)),  # no seconds
    ("29 Nov 2026 10:07:41 +0100", utc(2026, 11, 29, 9, 7, 41)),  # no weekday
    ("Mon, 29 Nov 2026 10:07:41 +0100", utc(2026, 11, 29, 9, 7, 41)),  # wrong weekday
    ("Tue, 29 Sept 2026 10:07:41 GMT", utc(2026, 9, 29, 10, 7, 41)),  # four-letter month
    ("Sun, 29 Nov 26 10:07:41 GMT", utc(2026, 11, 29, 10, 7, 41)),  # two-digit year
    ("Sunday, 29-Nov-26 10:07:41 GMT", utc(2026, 11, 29, 10, 7, 41)),  # RFC 850
    ("Sun Nov 29 10:07:41 2026", utc(2026, 11, 29, 9, 7, 41)),  # asctime: no zone
    ("Sun, 29 Nov 2026 10:07:41 +0100 (CET)", utc(2026, 11, 29, 9, 7, 41)),  # comment
    ("Sun, 29 Nov 2026 10:07:41 GMT+0100", utc(2026, 11, 29, 9, 7, 41)),
    ("2026-11-29 10:00 GMT+2", utc(2026, 11, 29, 8, 0)),  # as people mean it, not POSIX
    ("November 29, 2026 10:07 pm EST", utc(2026, 11, 30, 3, 7)),
    # ISO 8601 / RFC 3339 (Atom, JSON Feed) with theirs
    ("2026-11-29T10:07:41Z", utc(2026, 11, 29, 10, 7, 41)),
    ("2026-11-29T10:07:41+01:00", utc(2026, 11, 29, 9, 7, 41)),
    ("2026-11-29T10:07:41+0100", utc(2026, 11, 29, 9, 7, 41)),
    ("2026-11-29T10:07:41.123456789+01:00", utc(2026, 11, 29, 9, 7, 41, 123456)),
    ("2026-11-29T10:07+05:30", utc(2026, 11, 29, 4, 37)),
    ("20261129T100741Z", utc(2026, 11, 29, 10, 7, 41)),
    ("2026-11-29 10:07:41", utc(2026, 11, 29, 9, 7, 41)),  # no zone: the list's
    ("2026-07-01 12:00", utc(2026, 7, 1, 10, 0)),  # ... with its summer time
    ("2026-11-29", utc(2026, 11, 28, 23, 0)),  # a day: its midnight in the list's zone
    # slashes, dots, words
    ("2026/11/29 10:07:41", utc(2026, 11, 29, 9, 7, 41)),  # feedparser: 1st of this month
    ("2026/11/29", utc(2026, 11, 28, 23, 0)),
    ("29/11/2026 10:07", utc(2026, 11, 29, 9, 7)),  # day first: 29 is no month
    ("11/29/2026 10:07 AM", utc(2026, 11, 29, 9, 7)),  # month first: 29 is no month
    ("29.11.2026 10:07", utc(2026, 11, 29, 9, 7)),
    ("29 November 2026", utc(2026, 11, 28, 23, 0)),
    # no date rather than a wrong one
    ("05/06/2026", None),  # 5 June or May 6: cannot be told
    ("Sun, 29 Nov 2026 10:07:41 XYZ", None),  # a zone nobody knows
    ("0001-01-01T00:00:00Z", None),  # a placeholder
    ("Sun, 31 Nov 2026 10:07:41 GMT", None),  # no such day
    ("Sun, 29 Nov 2026 25:07:41 GMT", None),
    ("Nov 2026", None),  # no day
    ("10:07", None),  # no date at all
    ("yesterday", None),
    ("", None),
]


@pytest.mark.parametrize(("written", "meant"), TABLE, ids=[w or "(empty)" for w, _ in TABLE])
def test_a_date_is_read_as_meant_or_as_no_date(written: str, meant: datetime | None) -> None:
    assert read_date(written, zone=PARIS, year=2026) == meant


def test_the_table_has_at_least_30_dates_read() -> None:
    assert sum(meant is not None for _, meant in TABLE) >= 30


def test_two_digit_years_are_read_within_50_years_of_the_year_passed_in() -> None:
    assert read_date("29 Nov 99 10:07 GMT", zone=UTC, year=2026) == utc(1999, 11, 29, 10, 7)
    assert read_date("29 Nov 05 10:07 GMT", zone=UTC, year=2026) == utc(2005, 11, 29, 10, 7)
    assert read_date("29 Nov 05 10:07 GMT", zone=UTC, year=2060) == utc(2105, 11, 29, 10, 7)


def test_feed_items_are_dated_by_the_text_as_written_in_the_lists_zone() -> None:
    doc = (
        '<rss version="2.0"><channel><title>T</title>'
        "<item><guid>1</guid><title>Slash</title><pubDate>2026/11/27 05:30:00</pubDate></item>"
        "<item><guid>2</guid><title>Zone</title><pubDate>Fri, 27 Nov 2026 06:00 CEST</pubDate>"
        "</item><item><guid>3</guid><title>Unreadable</title><pubDate>05/06/2026</pubDate>"
        "</item></channel></rss>"
    )
    now = utc(2026, 11, 27, 6, 0)
    feed = parse_feed(
        doc.encode(),
        url="https://e.org/f.xml",
        content_type=None,
        source=FeedSource("https://e.org/f.xml", "e.org"),
        now=now,
        zone=PARIS,
    )
    slash, zone, unreadable = feed.items
    assert (slash.dated, slash.article.published) == (True, utc(2026, 11, 27, 4, 30))
    assert (zone.dated, zone.article.published) == (True, utc(2026, 11, 27, 4, 0))
    assert (unreadable.dated, unreadable.article.published) == (False, now)  # no date
