"""The web archive: a page per sent edition, an index newest first, an Atom feed, no
personal data, rebuilt by `newsletter archive`."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import feedparser
from conftest import Project

ATOM = "{http://www.w3.org/2005/Atom}"


def send_two_days(project: Project, env: dict[str, str] | None = None) -> None:
    assert project.run("send", "--date", "2026-11-26", env=env).code == 0
    project.write(
        "seeds/100_next-day.md",
        """
        ---
        title: Second day's story about the harbour
        section: Local
        url: https://example.org/local/harbour
        ---
        The harbour reopened on Friday after a month of repairs to the old sea wall.
        """,
    )
    run = project.run("send", "--date", "2026-11-27", env=env)
    assert run.code == 0, run.err


def test_each_sent_edition_gets_a_page_an_index_entry_and_a_feed_entry(project: Project) -> None:
    send_two_days(project)
    folder = project.path / "archive"

    assert sorted(p.name for p in folder.iterdir()) == [
        "2026-11-26.html",
        "2026-11-27.html",
        "feed.xml",
        "index.html",
    ]
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert index.index('href="2026-11-27.html"') < index.index('href="2026-11-26.html"')
    assert "Second day&#39;s story about the harbour" in index
    day2 = (folder / "2026-11-27.html").read_text(encoding="utf-8")
    assert "This is the web edition of Daily Newsletter, No. 2 of 27 November 2026" in day2
    assert "harbour reopened" in day2 and 'style="' in day2  # the email's own design

    feed = ET.parse(folder / "feed.xml").getroot()
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{required}") is not None, required
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}link").get("href") for e in entries] == [  # type: ignore[union-attr]
        "2026-11-27.html",
        "2026-11-26.html",
    ]
    for entry in entries:
        for required in ("id", "title", "updated"):
            assert (entry.findtext(f"{ATOM}{required}") or "").strip(), required
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == 2 and all(i and i.startswith("tag:example.com,") for i in ids)

    parsed = feedparser.parse((folder / "feed.xml").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.entries[0].title.startswith("Second day's story about the harbour")
    assert "harbour" in parsed.entries[0].content[0].value


LONG_HEADLINE = (
    "Central bank holds rates steady as inflation cools for a third month in a row, "
    "and signals no change before the spring"
)


def test_a_feed_entry_is_titled_with_the_whole_lead_headline_and_the_long_date(
    project: Project,
) -> None:
    project.write(
        "seeds/100_long.md",
        f"""
        ---
        title: {LONG_HEADLINE}
        section: World
        url: https://example.org/rates
        ---
        The central bank kept its main rate unchanged on Friday, as expected by markets.
        """,
    )
    assert project.run("send", "--date", "2026-11-27").code == 0
    parsed = feedparser.parse((project.path / "archive" / "feed.xml").read_bytes())
    # the subject was cut for a phone; the feed has room for the whole headline
    assert parsed.entries[0].title == f"{LONG_HEADLINE} — 27 November 2026"


def test_no_personal_data_lands_in_the_archive(project: Project) -> None:
    env = {"NEWSLETTER_PUBLIC_URL": "https://news.example.com"}
    send_two_days(project, env)

    published = b"".join(p.read_bytes() for p in (project.path / "archive").iterdir())
    for private in (b"ada@", b"grace@", b"Lovelace", b"Hopper", b"Arlington", b"London"):
        assert private not in published, private
    assert b"/unsubscribe/" not in published  # no signed unsubscribe token
    assert b"nlm" not in published  # no merge token left over
    assert b"Hello" not in published  # no greeting of a reader


def test_archive_url_makes_feed_links_absolute_and_adds_browser_links_to_mail(
    project: Project,
) -> None:
    env = {"NEWSLETTER_ARCHIVE_URL": "https://news.example.com/archive/"}
    send_two_days(project, env)

    parsed = feedparser.parse((project.path / "archive" / "feed.xml").read_bytes())
    assert parsed.feed.links[0].href == "https://news.example.com/archive/feed.xml"
    assert parsed.entries[0].link == "https://news.example.com/archive/2026-11-27.html"
    mail = sorted((project.path / "outbox" / "new").iterdir())[-1].read_text()
    assert "https://news.example.com/archive/2026-11-2" in mail  # "View in your browser"


def test_newsletter_archive_rebuilds_everything(project: Project) -> None:
    send_two_days(project)
    shutil.rmtree(project.path / "archive")

    run = project.run("archive")

    assert run.code == 0, run.err
    assert "web archive rebuilt in archive/: 2 editions" in run.out
    assert (project.path / "archive" / "2026-11-26.html").is_file()
    assert (project.path / "archive" / "feed.xml").is_file()


def test_archive_can_be_turned_off_or_moved(project: Project) -> None:
    project.write("newsletter.toml", 'archive = ""\n')
    assert project.run("send", "--date", "2026-11-26").code == 0
    assert not (project.path / "archive").exists()
    run = project.run("archive")
    assert run.code == 2 and "the web archive is turned off" in run.err

    project.write("newsletter.toml", 'archive = "public/editions"\n')
    assert project.run("archive").code == 0
    assert (project.path / "public" / "editions" / "2026-11-26.html").is_file()


def test_an_unwritable_archive_is_reported_and_the_mail_still_goes_out(project: Project) -> None:
    (project.path / "archive").write_text("a file where the folder should be")

    run = project.run("send", "--date", "2026-11-26")

    assert run.code == 0, run.err
    assert "web archive not updated" in run.err and "cannot write the web archive" in run.err
    assert "4 messages written" in run.out
