"""Feeds end to end: a real HTTP server serving fixture feeds, the real CLI, the outbox."""

from __future__ import annotations

import gzip
import json
import mailbox

from conftest import Project
from feedserver import FeedServer, hours_ago, picture, rss, rss_item, slow

DAY = "2026-11-27"

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{base}/blog/">
  <title>Atom Blog</title>
  <id>tag:atom.example,2026:feed</id>
  <updated>{updated}</updated>
  <entry>
    <id>tag:atom.example,2026:post-1</id>
    <title type="html">Relative &lt;em&gt;links&lt;/em&gt; resolved</title>
    <link href="posts/relative-links"/>
    <updated>{updated}</updated>
    <content type="html">&lt;p&gt;The lead paragraph of the Atom post explains relative links
      and why they matter.&lt;script&gt;alert("owned")&lt;/script&gt;&lt;style&gt;p {{color:red}}
      &lt;/style&gt;&lt;/p&gt;&lt;img src="pixel.gif" width="1" height="1"&gt;
      &lt;iframe src="https://ads.example/frame"&gt;iframe text&lt;/iframe&gt;
      &lt;p&gt;&lt;img src="images/photo.jpg" alt="A photo"&gt;Second paragraph.&lt;/p&gt;
    </content>
  </entry>
</feed>
"""


def _config(project: Project, urls: list[str], extra: str = "") -> None:
    tables = "".join(f'\n[[sources]]\nurl = "{u}"\n' for u in urls)
    project.write("newsletter.toml", f"feed_timeout = 2\n{extra}\n{tables}")


def _outbox_html(project: Project) -> str:
    box = mailbox.Maildir(project.path / "outbox", create=False)
    msg = next(iter(box))
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no HTML part")


def _serve_good_feeds(feeds: FeedServer) -> list[str]:
    base = feeds.url("")
    # The Atom entry's photo is there (a picture that is not found is left out).
    photo = picture((640, 480), "JPEG", colour=(90, 120, 160))
    feeds.add("/blog/images/photo.jpg", photo, "image/jpeg")
    feeds.add(
        "/guid.xml",
        rss(
            "Guid News",
            [
                rss_item(
                    "Fresh with guid",
                    guid="g-1",
                    link=f"{base}/a/1",
                    age_hours=2,
                    description="<p>A fresh item from a feed with guids, today.</p>",
                ),
                rss_item(
                    "Archive item from last week", guid="g-0", link=f"{base}/a/0", age_hours=24 * 7
                ),
            ],
        ),
    )
    feeds.add(
        "/noguid.xml",
        rss("No Guid Daily", [rss_item("Fresh without guid", link=f"{base}/b/1", age_hours=3)]),
    )
    feeds.add(
        "/atom.xml",
        ATOM.format(base=base, updated=hours_ago(1).isoformat(timespec="seconds")),
        "application/atom+xml",
    )
    feeds.add(
        "/feed.json",
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "JSON Side",
                "home_page_url": f"{base}/json/",
                "items": [
                    {
                        "id": "j-1",
                        "url": "posts/json-1",
                        "title": "Fresh from JSON Feed",
                        "content_text": "Plain text content of the JSON Feed item.",
                        "date_published": hours_ago(4).isoformat(),
                    }
                ],
            }
        ),
        "application/feed+json",
    )
    feeds.add(
        "/dates.xml",
        rss(
            "Bad Dates",
            [
                rss_item("Malformed date item", link=f"{base}/d/1", date="yesterday-ish"),
                rss_item(
                    "Future date item", link=f"{base}/d/2", date="Sat, 01 Jan 2050 00:00:00 GMT"
                ),
            ],
        ),
    )
    return ["/guid.xml", "/noguid.xml", "/atom.xml", "/feed.json", "/dates.xml"]


def test_fresh_items_of_every_feed_kind_go_into_the_edition(
    project: Project, feeds: FeedServer
) -> None:
    paths = _serve_good_feeds(feeds)
    _config(project, [feeds.url(p) for p in paths])

    run = project.run("send", "--date", DAY)

    assert run.code == 0, run.err
    assert "4 messages written" in run.out
    html = _outbox_html(project)
    for title in (
        "Fresh with guid",
        "Fresh without guid",
        "Relative links resolved",
        "Fresh from JSON Feed",
    ):
        assert title in html
    assert "Archive item from last week" not in html  # first run: only the last day
    # Relative links made absolute against the feed's URL (xml:base) and the JSON home page.
    assert f'href="{feeds.url("/blog/posts/relative-links")}"' in html
    assert f'href="{feeds.url("/json/posts/json-1")}"' in html
    assert f'src="{feeds.url("/blog/images/photo.jpg")}"' in html  # the photo, not the pixel
    assert "pixel.gif" not in html
    assert "alert" not in html and "owned" not in html and "iframe text" not in html
    assert "The lead paragraph of the Atom post explains relative links" in html
    # Undated and future-dated items are not archive: dated as collected, not flooding.
    assert "Future date item" in html
    assert "Malformed date item" not in html  # undated on a first run counts as archive
    agents = {h["user-agent"] for _, h in feeds.log}
    assert agents and all(a.startswith("newsletter/") for a in agents)


def test_broken_sources_are_reported_by_url_and_the_edition_still_goes_out(
    project: Project, feeds: FeedServer
) -> None:
    feeds.add("/ok.xml", rss("OK", [rss_item("The one good item", link="http://e.org/1")]))
    feeds.add(
        "/page.html",
        "<!doctype html><html><head><link rel='alternate' type='application/rss+xml' "
        "href='/real-feed.xml'></head><body>Home</body></html>",
        "text/html",
    )
    feeds.routes["/500.xml"] = lambda _h: (500, {}, b"oops")
    feeds.routes["/slow.xml"] = slow(5, (200, {}, b"<rss/>"))
    huge = rss("Huge", [rss_item("x" * 100, link=f"http://e.org/{i}") for i in range(3000)])
    feeds.add("/huge.xml", huge)  # ~500 KB, gzip-compressed on the wire to a few KB
    feeds.add("/invalid.xml", "<rss version='2.0'><channel><item><title>cut off")
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + "A" * 5000 + '">]>'
        "<rss version='2.0'><channel><item><title>" + "&a;" * 2000 + "</title></item>"
        "</channel></rss>"
    )
    feeds.add("/bomb.xml", bomb)
    closed = "http://127.0.0.1:9/feed.xml"  # the discard port: nothing listens
    urls = [
        feeds.url(p)
        for p in (
            "/ok.xml",
            "/page.html",
            "/500.xml",
            "/slow.xml",
            "/huge.xml",
            "/invalid.xml",
            "/bomb.xml",
        )
    ]
    _config(project, [*urls, closed], "feed_max_bytes = 100000")

    run = project.run("send", "--date", DAY)

    assert run.code == 0, run.err
    assert "4 messages written" in run.out
    assert "The one good item" in _outbox_html(project)
    err = run.err
    assert (
        f"{feeds.url('/page.html')}: an HTML page, not a feed; the page names its feed: "
        f"{feeds.url('/real-feed.xml')}" in err
    )
    assert f"{feeds.url('/500.xml')}: HTTP 500 Internal Server Error; skipped" in err
    assert f"{feeds.url('/slow.xml')}: timed out after 2 s; skipped" in err
    assert f"{feeds.url('/huge.xml')}: response larger than 100,000 bytes" in err
    # It came gzip-compressed, far under the limit on the wire: the decoded size counts.
    assert "gzip" in feeds.requests_for("/huge.xml")[0]["accept-encoding"]
    assert len(gzip.compress(huge.encode())) < 100_000 < len(huge)
    assert f"{feeds.url('/invalid.xml')}: invalid XML" in err
    assert f"{feeds.url('/bomb.xml')}: the feed declares XML entities" in err
    assert f"{closed}: cannot connect: Connection refused; skipped" in err
    assert "Traceback" not in err


def test_a_second_collect_uses_conditional_get_and_never_repeats_an_item(
    project: Project, feeds: FeedServer
) -> None:
    state = {"body": rss("Cond", [rss_item("Item one", guid="c-1", age_hours=1)])}

    def conditional(headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        etag = f'"v{len(state["body"])}"'
        if headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"ETag": etag, "Content-Type": "application/rss+xml"}, state["body"].encode()

    feeds.routes["/cond.xml"] = conditional
    _config(project, [feeds.url("/cond.xml")])

    first = project.run("collect")
    assert first.code == 0, first.err
    assert "Item one" in first.out and "1 new article stored" in first.out

    second = project.run("collect")
    assert second.code == 0 and "0 new articles stored" in second.out
    assert feeds.requests_for("/cond.xml")[-1]["if-none-match"].startswith('"v')

    # The feed edits item one's title, re-orders, and adds an item: only the new one is new.
    state["body"] = rss(
        "Cond",
        [
            rss_item("Item two", guid="c-2", age_hours=0.5),
            rss_item("Item one, edited", guid="c-1", age_hours=1),
        ],
    )
    third = project.run("collect")
    assert "Item two" in third.out and "1 new article stored" in third.out
    assert "edited" not in third.out


def test_permanent_redirect_is_remembered_and_410_stops_polling(
    project: Project, feeds: FeedServer
) -> None:
    feeds.routes["/old.xml"] = lambda _h: (301, {"Location": "/new.xml"}, b"")
    feeds.add("/new.xml", rss("Moved", [rss_item("Moved item", guid="m-1")]))
    feeds.routes["/gone.xml"] = lambda _h: (410, {}, b"")
    _config(project, [feeds.url("/old.xml"), feeds.url("/gone.xml")])

    first = project.run("collect")
    assert "Moved item" in first.out
    assert f"{feeds.url('/old.xml')}: moved permanently to {feeds.url('/new.xml')}" in first.err
    assert f"{feeds.url('/gone.xml')}: HTTP 410 Gone" in first.err

    second = project.run("collect")
    assert second.code == 0
    assert len(feeds.requests_for("/old.xml")) == 1  # fetched at the new URL directly
    assert len(feeds.requests_for("/new.xml")) == 2
    assert len(feeds.requests_for("/gone.xml")) == 1  # never asked again
    assert "gone (HTTP 410 since" in second.err and "no longer fetched" in second.err


def test_the_same_item_in_two_sources_is_one_article(project: Project, feeds: FeedServer) -> None:
    link = "https://news.example.com/story/42"
    feeds.add("/a.xml", rss("A", [rss_item("Shared story", guid="a-42", link=link)]))
    feeds.add("/b.xml", rss("B", [rss_item("Shared story (via B)", link=link + "?utm_source=b")]))
    _config(project, [feeds.url("/a.xml"), feeds.url("/b.xml")])

    run = project.run("collect")

    assert run.code == 0, run.err
    assert "1 new article stored" in run.out


def test_failing_source_is_flagged_in_sources_and_in_the_run(
    project: Project, feeds: FeedServer
) -> None:
    feeds.routes["/down.xml"] = lambda _h: (503, {}, b"")
    feeds.add("/up.xml", rss("Up", [rss_item("Up item", guid="u-1")]))
    _config(project, [feeds.url("/down.xml"), feeds.url("/up.xml")], "feed_failure_alert = 2")

    assert "is failing" not in project.run("collect").err
    second = project.run("collect")
    assert f"warning: {feeds.url('/down.xml')} is failing: 2 failures in a row" in second.err

    listing = project.run("sources")
    assert listing.code == 0, listing.err
    down = next(line for line in listing.out.splitlines() if "/down.xml" in line)
    assert "FAILING" in down and "2" in down and "HTTP 503" in down
    up = next(line for line in listing.out.splitlines() if "/up.xml" in line)
    assert "ok" in up and "1 item" in up


def test_preview_shows_feed_items_without_recording_anything(
    project: Project, feeds: FeedServer
) -> None:
    feeds.add("/p.xml", rss("P", [rss_item("Previewed item", guid="p-1")]))
    _config(project, [feeds.url("/p.xml")])

    run = project.run("preview", "--date", DAY)

    assert run.code == 0, run.err
    assert "Previewed item" in (project.path / "previews" / f"{DAY}.html").read_text()
    assert not (project.path / "newsletter.db").exists()
    assert "1 new article stored" in project.run("collect").out
