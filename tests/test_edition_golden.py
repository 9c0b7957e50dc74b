"""Golden files: the rendered edition of the seed articles, byte for byte.

A change to a template, to render.py or to personalize.py shows up here as a readable diff
of what subscribers would get. When the change is intended, rewrite the files and review
them like code:

    UPDATE_GOLDEN=1 python -m pytest tests/test_edition_golden.py

Normalised before comparing: merge-token nonces, MIME boundaries, Date and Message-ID
(everything else is fixed by the inputs below).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from newsletter.collect.article_file import parse_article_file
from newsletter.edition.archive import ArchivePage, atom_feed, render_archive_page
from newsletter.edition.compose import compose
from newsletter.edition.render import ListInfo, render_edition
from newsletter.edition.templates import load_templates
from newsletter.mail.personalize import MailContext, MessageTemplate
from newsletter.models import Article, Edition, Subscriber

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
DAY = date(2026, 11, 27)
INFO = ListInfo(
    name="Daily Newsletter",
    postal_address="Daily Newsletter, 1 Example Street, Example City",
    public_url="https://news.example.com",
    unsubscribe_mailto="unsubscribe@example.com",
    archive_url="https://news.example.com/archive",
    contact="editor@example.com",
)
CTX = MailContext(
    from_address="Daily Newsletter <newsletter@example.com>",
    list_id="daily.example.com",
    list_name="Daily Newsletter",
    message_id_domain="example.com",
    unsubscribe_mailto="unsubscribe@example.com",
    public_url="https://news.example.com",
    secret=b"golden-secret",
    edition_tag="20261127.7",
)
READER = Subscriber(
    "zoe@example.com", "Zoë Ñúñez", fields={"email": "zoe@example.com", "name": "Zoë Ñúñez"}
)


def seed_articles() -> list[Article]:
    """The seed files, parsed with fixed dates (not file mtimes, which vary by checkout)."""
    start = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    files = sorted((ROOT / "seeds").iterdir())
    return [
        parse_article_file(
            path.read_text(encoding="utf-8-sig"),
            source="seeds",
            relpath=path.name,
            where=f"seeds/{path.name}",
            default_published=start + timedelta(minutes=i),
            tz=UTC,
        )
        for i, path in enumerate(files)
    ]


def seed_edition() -> Edition:
    edition = compose(seed_articles(), day=DAY, number=7, max_articles=20)
    assert edition is not None
    return edition


def normalise(text: str) -> str:
    text = re.sub(r"nlm[0-9a-f]{8}_(\d+)_", r"nlmNONCE_\1_", text)
    text = re.sub(r"=_nl_[0-9a-f]{24}", "=_nl_BOUNDARY", text)
    text = re.sub(r"(?m)^Date: .*$", "Date: DATE", text)
    return re.sub(r"(?m)^Message-ID: .*$", "Message-ID: <MESSAGE-ID>", text)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    actual = normalise(actual)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8", newline="")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing: run UPDATE_GOLDEN=1 python -m pytest {__file__}")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), f"golden/{name}", "rendered", lineterm=""
        )
        shown = "\n".join(list(diff)[:80])
        pytest.fail(
            f"{name} differs from the golden file (if intended: UPDATE_GOLDEN=1 python -m "
            f"pytest tests/test_edition_golden.py, then review the diff):\n{shown}"
        )


def test_rendered_edition_matches_the_golden_files() -> None:
    rendered = render_edition(seed_edition(), load_templates(None), INFO, ["city"])
    check_golden("edition.html", rendered.html)
    check_golden("edition.txt", rendered.text)
    check_golden("subject.txt", rendered.subject + "\n")


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_a_french_and_an_arabic_edition_match_their_golden_files(language: str) -> None:
    info = dataclasses.replace(INFO, language=language)
    rendered = render_edition(seed_edition(), load_templates(None), info, ["city"])
    check_golden(f"edition.{language}.html", rendered.html)
    check_golden(f"edition.{language}.txt", rendered.subject + "\n\n" + rendered.text)


def test_message_for_a_subscriber_matches_the_golden_file() -> None:
    rendered = render_edition(seed_edition(), load_templates(None), INFO)
    _, data = MessageTemplate(rendered, CTX, boundary="=_nl_" + "0" * 24).build(
        READER, "Fri, 27 Nov 2026 07:00:00 +0000"
    )
    check_golden("message.eml", data.decode("ascii").replace("\r\n", "\n"))


def test_archive_page_and_feed_match_the_golden_files() -> None:
    page = render_archive_page(seed_edition(), load_templates(None), INFO, ["city"])
    check_golden("archive-page.html", page)
    subject = "Daily Newsletter — 27 November 2026: a subject"
    feed = atom_feed([ArchivePage(seed_edition(), subject)], INFO, "example.com", "d.example", UTC)
    check_golden("feed.xml", feed.decode())


def test_normalise_hides_exactly_the_varying_parts() -> None:
    a = render_edition(seed_edition(), load_templates(None), INFO)
    b = render_edition(seed_edition(), load_templates(None), INFO)
    assert a.token_pattern != b.token_pattern  # a fresh nonce per render...
    assert normalise(a.html) == normalise(b.html)  # ...and nothing else varies
    other = dataclasses.replace(INFO, name="Evening Post")
    changed = render_edition(seed_edition(), load_templates(None), other)
    assert normalise(changed.html) != normalise(a.html)
