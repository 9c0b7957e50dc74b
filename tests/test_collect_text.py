"""Text is text: every field of a collected article, whatever the publisher wrote, is plain
text a reader can read (no controls, entities, tags or escape sequences), NFC."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from html.entities import html5
from xml.sax.saxutils import escape

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml.html import defs

from newsletter.collect.article_file import parse_article_file
from newsletter.collect.feeds import FeedSource, ParsedFeed, parse_feed
from newsletter.collect.plaintext import html_paragraphs, plain_text
from newsletter.errors import ParseError, visible
from newsletter.models import Article

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
URL = "https://feeds.example.org/main.xml"
SOURCE = FeedSource(URL, "example.org")
ESC = "\x1b"


def parse(doc: str, content_type: str | None = None) -> ParsedFeed:
    return parse_feed(doc.encode(), url=URL, content_type=content_type, source=SOURCE, now=NOW)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        (f"Terminal colours: {ESC}[31mred{ESC}[0m explained", "Terminal colours: red explained"),
        ("Terminal colours: &#27;[31mred&#x1b;[0m explained", "Terminal colours: red explained"),
        ("Bell\x07 and\x00 nul, C1\x85 and \x9b31m CSI", "Bell and nul, C1 and CSI"),
        ("Tabs\tand\nnewlines\r\nfold", "Tabs and newlines fold"),
        ("Example <b>Tech</b> &amp; Science", "Example Tech & Science"),
        ("Example &lt;b&gt;Tech&lt;/b&gt; &amp;amp; Science", "Example Tech & Science"),
        ("5&nbsp;% &ndash; the shop&#8217;s &copy; owner", "5 % – the shop’s © owner"),
        ("&#150; and &#x80; as HTML5 reads them", "– and € as HTML5 reads them"),
        ("AT&T, Q&A, x < y > z, List<T>, <3", "AT&T, Q&A, x < y > z, List<T>, <3"),
        ("&madeup; &amp", "&madeup; &amp"),  # not entities (unknown name; no semicolon)
        ("Before <object data='x.swf'> after the object", "Before after the object"),
        ("<script>alert(1)</script>Safe", "Safe"),
        ("Comment <!-- hidden --> shown", "Comment shown"),
        ("Cafe\u0301 d\u00e9ja\u0300", "Café déjà"),  # NFC
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("lone \ud800 surrogate", "lone surrogate"),
    ],
)
def test_one_line_text_is_read_as_a_reader_sees_it(written: str, read: str) -> None:
    assert plain_text(written) == read


def test_unclosed_elements_keep_the_text_after_them_closed_ones_drop_theirs() -> None:
    markup = (
        '<p>Before <object data="x.swf"> after the object</p>'
        "<p>Fallback <object>only for plugins</object> dropped</p>"
        "<p>Void <embed src=x.swf> embed</p><p>Self-closed <iframe src=x /> frame</p>"
        "<p>Form <form> never closed</p><p>Script <script>code()</script> gone</p>"
    )
    assert html_paragraphs(markup) == [
        "Before after the object",
        "Fallback dropped",
        "Void embed",
        "Self-closed frame",
        "Form never closed",
        "Script gone",
    ]


def test_escaped_markup_inside_html_keeps_its_paragraphs() -> None:
    assert html_paragraphs("&lt;p&gt;One&lt;/p&gt;&lt;p&gt;Two &amp;amp; three&lt;/p&gt;") == [
        "One",
        "Two & three",
    ]


def test_links_lose_controls_and_spaces_but_keep_their_identity() -> None:
    doc = (
        '<rss version="2.0"><channel><title>T</title><item><title>Odd link</title>'
        "<link> https://e.org/a b\x1b[2J </link><media:thumbnail url='https://e.org/i x.jpg'"
        ' xmlns:media="http://search.yahoo.com/mrss/"/></item></channel></rss>'
    )
    (item,) = parse(doc).items
    assert item.article.url == "https://e.org/a%20b%1B[2J"
    assert item.article.image_url == "https://e.org/i%20x.jpg"


def test_the_terminal_sees_escapes_not_control_characters() -> None:
    assert visible(f"a{ESC}[31mb\u202ec\x07") == "a\\x1b[31mb\\u202ec\\x07"


def test_atom_text_content_with_markup_is_read_as_html() -> None:
    # feedparser keeps type="text" as text even when a generator put escaped HTML in it.
    doc = """<feed xmlns="http://www.w3.org/2005/Atom">
      <title type="text">A &lt;i&gt;blog&lt;/i&gt;</title>
      <entry><id>tag:e.org,2026:1</id><title type="text">&lt;em&gt;Hello&lt;/em&gt; world</title>
      <updated>2026-11-27T05:00:00Z</updated>
      <author><name>Ann &lt;b&gt;Lee&lt;/b&gt;</name></author>
      <content type="text">&lt;p&gt;First paragraph.&lt;/p&gt;&lt;p&gt;Second one.&lt;/p&gt;
      </content></entry></feed>"""
    feed = parse(doc, "application/atom+xml")
    (item,) = feed.items
    assert feed.title == "A blog" and item.article.section == "A blog"
    assert item.article.title == "Hello world"
    assert item.article.author == "Ann Lee"
    assert item.article.body == "First paragraph.\n\nSecond one."


def test_an_image_only_post_is_titled_by_what_it_is() -> None:
    doc = """<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
      <title>Photo &amp; Co</title>
      <item><guid>p1</guid><pubDate>Thu, 26 Nov 2026 23:30:00 GMT</pubDate>
        <media:content url="https://e.org/heron.jpg" medium="image"/></item>
      <item><guid>p2</guid><description><![CDATA[<img src="https://e.org/owl.jpg" alt="An owl">]]>
        </description></item>
      <item><guid>p3</guid><link>https://e.org/nothing</link></item>
    </channel></rss>"""
    feed = parse_feed(
        doc.encode(), url=URL, content_type=None, source=SOURCE, now=NOW, zone=_zone("Asia/Tokyo")
    )
    heron, owl = (i.article for i in feed.items)
    # Its day in the list's zone: 23:30 UTC on the 26th is the 27th in Tokyo.
    assert heron.title == "Image from Photo & Co, 27 November 2026"
    assert heron.image_url == "https://e.org/heron.jpg"
    assert owl.title == "Image from Photo & Co, 27 November 2026"  # undated: collected now
    assert owl.summary == "An owl"  # its alt text is the lead
    assert [(n.reason.value, n.link) for n in feed.empty] == [
        ("no title or text", "https://e.org/nothing")
    ]


def _zone(name: str):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def test_markdown_entities_and_markup_are_decoded_once() -> None:
    article = parse_article_file(
        "---\ntitle: Shop&#8217;s <em>prices</em>\nauthor: Ann &amp; Bob\n---\n\n"
        "Prices rose 5&nbsp;% this year, the shop&#8217;s owner said &ndash; &copy; "
        "Example Press.\n",
        source="seeds",
        relpath="prices.md",
        where="seeds/prices.md",
    )
    assert article.title == "Shop’s prices"
    assert article.author == "Ann & Bob"
    assert article.summary == (
        "Prices rose 5 % this year, the shop’s owner said – © Example Press."
    )


def test_an_article_file_whose_title_is_only_markup_is_an_error_naming_it() -> None:
    with pytest.raises(ParseError, match=r"seeds/x\.md: the title is only markup"):
        parse_article_file(
            "---\ntitle: <b></b>\n---\n\nSome text here.\n",
            source="seeds",
            relpath="x.md",
            where="seeds/x.md",
        )


# --- the property: for arbitrary feed text, nothing but text comes out ---------------------

# What a reader must never see, defined from HTML itself: an element lxml's HTML parser
# knows, a comment, an entity reference HTML5 decodes (html.entities), a control character.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)(?=[\s/>])[^<>]*>|<!--")
_REFERENCE = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")


def unreadable(text: str, *, multiline: bool = False) -> list[str]:
    found = [m[0] for m in _TAG.finditer(text) if m[0] == "<!--" or m[2].lower() in defs.tags]
    found += [m[0] for m in _REFERENCE.finditer(text) if m[1][0] == "#" or f"{m[1]};" in html5]
    allowed = "\n" if multiline else ""
    found += [repr(c) for c in text if unicodedata.category(c) == "Cc" and c not in allowed]
    if text != unicodedata.normalize("NFC", text):
        found.append("not NFC")
    return found


PIECES = st.sampled_from(
    [
        "<b>", "</b>", "<p>", "</p>", "<br>", "<script>", "</script>", "<object>", "<iframe>",
        "<em class='x'>", "<!--", "-->", "&amp;", "&lt;", "&gt;", "&amp;lt;", "&#27;", "&#x9b;",
        "&nbsp;", "&copy;", "&#8217;", "&amp;amp;", "&", "<", ">", ";", "#", "lt", "amp",
        "\x1b[31m", "\x1b", "\x07", "\x00", "\x85", "\t", "\n", "\r", "\u200b", "e\u0301",
        "<![CDATA[", "]]>", "b>", "</", "List<T>", "AT&T", " ",
    ]
)  # fmt: skip
FEED_TEXT = st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=12).map("".join)


def fields(article: Article) -> dict[str, str]:
    return {
        name: value
        for name in ("title", "source", "section", "summary", "author", "image_alt")
        if (value := getattr(article, name))
    }


def check(articles: list[Article], feed_title: str | None = None) -> None:
    for article in articles:
        for name, value in fields(article).items():
            assert unreadable(value) == [], (name, value)
        assert unreadable(article.body, multiline=True) == [], article.body
    if feed_title is not None:
        assert unreadable(feed_title) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=FEED_TEXT, text=FEED_TEXT, author=FEED_TEXT, channel=FEED_TEXT)
def test_no_collected_rss_or_atom_field_holds_a_control_an_entity_or_a_tag(
    title: str, text: str, author: str, channel: str
) -> None:
    rss = (
        f'<rss version="2.0"><channel><title>{escape(channel)}</title><item><guid>1</guid>'
        f"<title>{escape(title)}</title><author>{escape(author)}</author>"
        f"<description>{escape(text)}</description></item>"
        f"<item><guid>2</guid><title>{title}</title><description>{text}</description></item>"
        "</channel></rss>"
    )
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f'<title type="html">{escape(channel)}</title><entry><id>tag:e,1:1</id>'
        f'<title type="text">{escape(title)}</title><author><name>{escape(author)}</name></author>'
        f'<content type="text">{escape(text)}</content></entry></feed>'
    )
    for doc in (rss, atom):
        try:
            feed = parse(doc)
        except ParseError:
            continue  # a feed too broken to read gives no article at all
        check([i.article for i in feed.items], feed.title)


@settings(max_examples=100, deadline=None)
@given(title=FEED_TEXT, text=FEED_TEXT, author=FEED_TEXT)
def test_no_collected_json_feed_field_holds_a_control_an_entity_or_a_tag(
    title: str, text: str, author: str
) -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "items": [
            {"id": "1", "title": title, "content_html": text, "authors": [{"name": author}]},
            {"id": "2", "content_text": text},
        ],
    }
    feed = parse(json.dumps(doc), "application/feed+json")
    check([i.article for i in feed.items], feed.title)


@settings(max_examples=100, deadline=None)
@given(title=FEED_TEXT, text=FEED_TEXT, author=FEED_TEXT)
def test_no_article_file_field_holds_a_control_an_entity_or_a_tag(
    title: str, text: str, author: str
) -> None:
    front = yaml.safe_dump({"title": f"T {title}", "author": author, "section": title})
    try:
        article = parse_article_file(
            f"---\n{front}---\n\nLead {text}\n",
            source="seeds",
            relpath="a.md",
            where="seeds/a.md",
        )
    except ParseError:
        return  # refused with a message naming the file: nothing reaches a reader
    check([article])
