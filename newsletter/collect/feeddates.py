"""Dates as feeds write them -> aware UTC datetimes, or None ("no date"). Pure.

RSS says RFC 822 (``Sun, 29 Nov 2026 10:07:41 +0100``), Atom and JSON Feed say RFC 3339
(``2026-11-29T10:07:41+01:00``); feeds deviate from both: slashes or dots, missing seconds,
two-digit years, RFC 850 and asctime forms, zone abbreviations (``CEST``, ``PDT``), no zone
at all. The text is read by ``datetime.fromisoformat`` (ISO 8601) and otherwise by
python-dateutil, with these rules:

- a zone abbreviation is read with its real offset from ``ZONES`` (the ambiguous ones as
  named there: CST is US Central as in RFC 822, IST is India, BST British Summer Time);
  ``GMT+2``/``UTC+0200`` mean two hours east of UTC, as people write them;
- a date without a zone is read in ``zone`` (the caller passes the list's time zone);
- two-digit years are read within 50 years of ``year`` (the caller's current year);
- "no date" rather than a wrong date: missing day, month or year; day and month that could
  be either way round (``05/06/2026``; ``29/11/2026`` and ``2026/11/29`` are clear); a zone
  name not in the table; a year before 1991 (before the web: placeholders like
  ``0001-01-01`` mean "no date").

feedparser's own reading is not used: it fills what it cannot read from the current date
(``2026/11/29 10:07:41`` becomes the 1st of the current month at midnight) and reads zone
names it does not know as UTC, both silently.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from dateutil import parser as dateutil_parser

EARLIEST = datetime(1991, 1, 1, tzinfo=UTC)  # the first web page; earlier dates are placeholders

# Zone abbreviations seen in feeds, as hours east of UTC. RFC 822 names the US ones; the
# rest are the common civil names (tz database abbreviations, German MEZ/MESZ).
ZONES: dict[str, float] = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEZ": 0,
    "BST": 1, "WEST": 1, "WESZ": 1, "CET": 1, "MET": 1, "MEZ": 1, "WAT": 1,
    "CEST": 2, "MEST": 2, "MESZ": 2, "EET": 2, "OEZ": 2, "SAST": 2, "CAT": 2,
    "EEST": 3, "OESZ": 3, "MSK": 3, "EAT": 3, "TRT": 3,
    "PKT": 5, "IST": 5.5, "WIB": 7, "ICT": 7,
    "HKT": 8, "SGT": 8, "AWST": 8, "PHT": 8, "JST": 9, "KST": 9,
    "ACST": 9.5, "ACDT": 10.5, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
    "NST": -3.5, "NDT": -2.5, "AST": -4, "ADT": -3, "BRT": -3, "ART": -3,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7, "AKST": -9, "AKDT": -8, "HST": -10,
}  # fmt: skip

# "GMT+2", "UTC-05:00", "GMT+0100": an offset from UTC written after its name.
_NAMED_OFFSET = re.compile(r"\b(?:GMT|UTC|UT)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?\b", re.I)
_COMMENT = re.compile(r"\s*\([^()]*\)\s*$")  # RFC 2822 comment: "+0100 (CET)"
_YEAR_FIRST = re.compile(r"^(?:[A-Za-z]+,?\s*)?\d{4}\s*[-/.]")
# Two readings that must agree: any part of the date they fill in differs between them.
_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))
_MAX_CHARS = 80  # longer is prose, not a date
_RFC822 = re.compile(
    r"(?:[A-Za-z]{3,9},?\s*)?(?P<day>\d{1,2})\s+(?P<month>[A-Za-z]{3})[A-Za-z]*\.?\s+"
    r"(?P<year>\d{4})\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?:\s*(?P<zone>[+-]\d{4}|[A-Za-z]{1,5}))?$"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def read_date(text: str | None, *, zone: tzinfo, year: int) -> datetime | None:
    """``text`` as an aware UTC datetime; None when it is no date (see the module's rules).

    ``zone`` is the zone of dates written without one; ``year`` the current year, against
    which two-digit years are read.
    """
    if not text:
        return None
    value = _COMMENT.sub("", " ".join(text.split()))
    if not value or len(value) > _MAX_CHARS:
        return None
    value = _NAMED_OFFSET.sub(_as_offset, value)
    try:
        moment = _rfc822(value) or _iso(value) or _lenient(value, year)
    except ValueError:  # out of range: 31 November, 25 o'clock
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    moment = moment.astimezone(UTC)
    return moment if moment >= EARLIEST else None


def _as_offset(match: re.Match[str]) -> str:
    sign, hours, minutes = match[1], int(match[2]), int(match[3] or 0)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _rfc822(value: str) -> datetime | None:
    """The RSS form with a four-digit year (RFC 822 as amended by RFC 1123), read directly:
    most feeds write it, and it needs none of dateutil's guessing.

    Raises:
        ValueError: a field out of range; an unknown zone name.
    """
    match = _RFC822.match(value)
    if match is None or match["month"].title() not in _MONTHS:
        return None
    zone = match["zone"]
    if zone is None:
        offset = None
    elif zone[0] in "+-":
        minutes = int(zone[1:3]) * 60 + int(zone[3:])
        offset = timezone(timedelta(minutes=-minutes if zone[0] == "-" else minutes))
    else:
        offset = _zone(zone, None)
    return datetime(
        int(match["year"]),
        _MONTHS[match["month"].title()],
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"] or 0),
        tzinfo=offset,
    )


def _iso(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class _Info(dateutil_parser.parserinfo):
    """dateutil's parser settings, with two-digit years read against a year passed in
    (dateutil reads the machine's clock for it)."""

    def __init__(self, year: int, dayfirst: bool) -> None:
        super().__init__(dayfirst=dayfirst)
        self._year = year
        self._century = year // 100 * 100


class _UnknownZone(ValueError):
    pass


def _zone(name: str | None, offset: int | None) -> tzinfo | None:
    """dateutil's ``tzinfos`` hook: every zone it finds comes here (never the machine's)."""
    if name is not None and name.upper() in ZONES:
        hours = ZONES[name.upper()]
        return UTC if hours == 0 else timezone(timedelta(hours=hours), name.upper())
    if name is not None and offset is None:
        raise _UnknownZone(name)
    if offset is None:
        return None  # no zone written: the caller's zone applies
    return UTC if offset == 0 else timezone(timedelta(seconds=offset))


def _lenient(value: str, year: int) -> datetime | None:
    """dateutil's reading, when every reading of ``value`` agrees (see ``_DEFAULTS``; and day
    first or month first, unless the year comes first)."""
    orders = (False,) if _YEAR_FIRST.match(value) else (False, True)
    readings = set()
    for dayfirst in orders:
        info = _Info(year, dayfirst)
        for default in _DEFAULTS:
            try:
                readings.add(
                    dateutil_parser.parse(value, parserinfo=info, default=default, tzinfos=_zone)
                )
            except (ValueError, OverflowError):  # dateutil's ParserError is a ValueError
                return None
    return readings.pop() if len(readings) == 1 else None
