"""The pure feed parser: formats, identity, summaries, dates, and what a collection takes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsletter.collect.feeds import FeedSource, ParsedFeed, parse_feed, select_new
from newsletter.collect.feedtext import LEAD_MAX_CHARS
from newsletter.errors import ParseError

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
SOURCE = FeedSource("https://feeds.example.org/main.xml", "example.org")
URL = "https://feeds.example.org/main.xml"


def parse(data: str | bytes, content_type: str | None = None, url: str = URL) -> ParsedFeed:
    raw = data.encode() if isinstance(data, str) else data
    return parse_feed(raw, url=url, content_type=content_type, source=SOURCE, now=NOW)


def rss(items: str, version: str = "2.0") -> str:
    return f'<rss version="{version}"><channel><title>Main</title>{items}</channel></rss>'


def test_rss_091_and_rss_10_rdf_are_read() -> None:
    rss091 = (
        '<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        ' "http://my.netscape.com/publish/formats/rss-0.91.dtd">'
        + rss("<item><title>Old school</title><link>https://e.org/1</link></item>", "0.91")
    )
    rdf = """<?xml version="1.0"?>
    <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
      xmlns:dc="http://purl.org/dc/elements/1.1/">
      <channel rdf:about="https://e.org/"><title>RDF</title></channel>
      <item rdf:about="https://e.org/2"><title>RDF item</title><link>https://e.org/2</link>
        <dc:date>2026-11-27T01:00:00+01:00</dc:date></item>
    </rdf:RDF>"""
    assert [i.article.title for i in parse(rss091).items] == ["Old school"]
    (item,) = parse(rdf).items
    assert item.article.title == "RDF item"
    assert item.article.published == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # stored as UTC


def test_full_content_yields_a_short_lead_cut_on_a_word_boundary() -> None:
    words = " ".join(f"word{i}" for i in range(400))
    item = parse(
        rss(
            f"<item><title>Long</title><description><![CDATA[<p>{words}</p>"
            "<p>Second paragraph.</p>]]></description></item>"
        )
    ).items[0]
    summary = item.article.summary
    assert len(summary) <= LEAD_MAX_CHARS and summary.endswith("…")
    assert summary[:-1].split()[-1] in words.split()  # no word was cut in half
    assert item.article.body.endswith("Second paragraph.")


def test_summary_is_plain_text_without_scripts_styles_or_frames() -> None:
    html = (
        "<div><style>.x{color:red}</style><script>document.write('evil')</script>"
        "<p>Real <b>text</b> &amp; more.</p><iframe>frame</iframe><noscript>ns</noscript></div>"
    )
    item = parse(
        rss(f"<item><title>T</title><description><![CDATA[{html}]]></description></item>")
    ).items[0]
    assert item.article.summary == "Real text & more."


def test_identity_keys_guid_link_and_hash() -> None:
    feed = parse(
        rss(
            "<item><title>A</title><guid isPermaLink='false'>42</guid><link>https://e.org/a#top</link>"
            "</item>"
            "<item><title>B</title><guid>https://e.org/?p=7</guid></item>"
            "<item><title>C</title><description>no id, no link</description></item>"
            "<item><title>D</title><link>https://e.org/</link></item>"
            "<item><title>E</title><link>https://e.org/</link></item>"
        )
    )
    a, b, c, d, e = (i.keys for i in feed.items)
    assert a == (f"{URL}#42", "https://e.org/a")  # a bare guid is scoped to its source
    assert b == ("https://e.org/?p=7",)  # a URI guid is global
    assert c[0].startswith("sha256:")
    # Two items linking to the same page: the link identifies neither.
    assert d[0].startswith("sha256:") and e[0].startswith("sha256:") and d != e


def test_a_reordered_feed_gives_the_same_keys() -> None:
    one = "<item><title>One</title><description>first</description></item>"
    two = "<item><title>Two</title><description>second</description></item>"
    forward = {i.article.title: i.keys for i in parse(rss(one + two)).items}
    backward = {i.article.title: i.keys for i in parse(rss(two + one)).items}
    assert forward == backward


def test_dates_missing_malformed_future_and_offsets() -> None:
    feed = parse(
        rss(
            "<item><title>None</title><link>https://e.org/1</link></item>"
            "<item><title>Bad</title><link>https://e.org/2</link>"
            "<pubDate>32 Foo 99</pubDate></item>"
            "<item><title>Future</title><link>https://e.org/3</link>"
            "<pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>"
            "<item><title>Offset</title><link>https://e.org/4</link>"
            "<pubDate>Fri, 27 Nov 2026 09:00:00 +0300</pubDate></item>"
        )
    )
    by_title = {i.article.title: i for i in feed.items}
    assert not by_title["None"].dated and by_title["None"].article.published == NOW
    assert not by_title["Bad"].dated and by_title["Bad"].article.published == NOW
    assert by_title["Future"].article.published == NOW
    assert by_title["Offset"].article.published == datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    assert all(i.article.published.tzinfo is UTC for i in feed.items)  # type: ignore[union-attr]


def _items(*ages_hours: float | None) -> ParsedFeed:
    items = ""
    for n, age in enumerate(ages_hours):
        date = (
            ""
            if age is None
            else (
                f"<pubDate>{(NOW - timedelta(hours=age)).strftime('%a, %d %b %Y %H:%M:%S +0000')}"
                "</pubDate>"
            )
        )
        items += f"<item><title>T{n}</title><guid>g{n}</guid>{date}</item>"
    return parse(rss(items))


def test_first_run_takes_only_the_last_day_and_remembers_the_rest() -> None:
    feed = _items(1, 30, None, 5)
    window = timedelta(hours=24)
    chosen = select_new(
        feed.items, seen=set(), first_run=True, now=NOW, window=window, max_items=None
    )
    assert [i.article.title for i in chosen.take] == ["T0", "T3"]  # newest first
    assert sorted(i.article.title for i in chosen.leave) == ["T1", "T2"]
    assert sorted((i.article.title, str(why)) for i, why in chosen.not_taken) == [
        ("T1", "outside the first-run window"),
        ("T2", "undated on a first run"),
    ]

    chosen = select_new(
        feed.items, seen=set(), first_run=False, now=NOW, window=window, max_items=None
    )
    assert len(chosen.take) == 4 and not chosen.leave  # later runs take every unseen item


def test_seen_items_and_max_items() -> None:
    feed = _items(1, 2, 3, 4)
    seen = {feed.items[0].keys[0]}
    chosen = select_new(
        feed.items, seen=seen, first_run=False, now=NOW, window=timedelta(0), max_items=2
    )
    assert [i.article.title for i in chosen.take] == ["T1", "T2"]
    assert [i.article.title for i in chosen.leave] == ["T3"]
    assert [(i.article.title, str(why)) for i, why in chosen.not_taken] == [
        ("T0", "already seen"),
        ("T3", "over max_items"),
    ]


def test_an_item_another_source_brought_is_a_duplicate_not_already_seen() -> None:
    feed = _items(1, 2, 3)
    t0, t1, _ = (i.keys[0] for i in feed.items)
    chosen = select_new(
        [*feed.items, feed.items[2]],  # the feed lists T2 twice
        seen={t0, t1},
        elsewhere={t1},  # another feed of this run carries T1
        first_run=False,
        now=NOW,
        window=timedelta(hours=24),
        max_items=None,
    )
    assert [i.article.title for i in chosen.take] == ["T2"]
    assert [(i.article.title, str(why)) for i, why in chosen.not_taken] == [
        ("T0", "already seen"),
        ("T1", "duplicate"),
        ("T2", "duplicate"),
    ]
    # On a feed's first run nothing of it was seen before: a known key is another source's.
    first = select_new(
        feed.items, seen={t0}, first_run=True, now=NOW, window=timedelta(hours=24), max_items=None
    )
    assert [(i.article.title, str(why)) for i, why in first.not_taken] == [("T0", "duplicate")]


def test_json_feed_items_and_errors() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1",
        "title": "JF",
        "items": [
            {
                "id": "1",
                "content_html": "<p>Hello <script>x()</script>world</p>",
                "date_published": "2026-11-27T05:00:00Z",
                "author": {"name": "Ann"},
            },
            {"id": "2", "title": "Bad date", "content_text": "t", "date_published": "nope"},
        ],
    }
    first, second = parse(json.dumps(doc), "application/feed+json").items
    assert first.article.title == "Hello world" and first.article.author == "Ann"
    assert first.article.section == "JF" and first.dated
    assert not second.dated
    with pytest.raises(ParseError, match="not a JSON Feed"):
        parse('{"items": []}', "application/json")
    with pytest.raises(ParseError, match="invalid JSON"):
        parse("{not json", "application/json")


def test_feedparser_never_opens_a_path_or_url_given_as_bytes(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text(rss("<item><title>Leaked</title><guid>s</guid></item>"))
    for data in (str(secret).encode(), b"http://127.0.0.1:9/feed.xml"):
        with pytest.raises(ParseError):
            parse(data)


def test_entity_declarations_are_refused_even_in_utf16() -> None:
    doc = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><rss version="2.0"></rss>'
    for data in (doc.encode(), doc.replace('1.0"?>', '1.0" encoding="utf-16"?>').encode("utf-16")):
        with pytest.raises(ParseError, match="declares XML entities"):
            parse(data)
