"""Articles as publishers really write them, end to end: a feed served over HTTP (or a file in
``seeds/``), the real CLI, the real SMTP server; what the reader gets (Subject, text part,
HTML part) and what the operator's terminal shows."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from conftest import Project, Run
from feedserver import FeedServer, hours_ago, picture, rfc822, rss, rss_item
from smtpserver import Recorder

ESC = "\x1b"
READER = "ada@example.com"


def configure(project: Project, urls: list[str], extra: str = "", seeds: bool = False) -> None:
    sources = ", ".join(['"seeds"'] * seeds + [f'"{u}"' for u in urls])
    project.write("newsletter.toml", f"feed_timeout = 5\n{extra}\nsources = [{sources}]\n")


def send(project: Project, smtp_url: str, *args: str) -> Run:
    return project.run("send", *args, env={"NEWSLETTER_SMTP_URL": smtp_url})


def delivered(recorder: Recorder) -> tuple[str, str, str]:
    """What the reader got: the Subject, the text part and the HTML part."""
    (received,) = recorder.to(READER)
    msg = received.message
    text, html = msg.iter_parts()
    lines = text.get_content().replace("\r\n", "\n")  # type: ignore[attr-defined]
    return str(msg["Subject"]), lines, html.get_content()  # type: ignore[attr-defined]


def test_control_characters_reach_neither_the_reader_nor_the_terminal(
    project: Project, feeds: FeedServer, smtp: tuple[Recorder, str]
) -> None:
    recorder, url = smtp
    title = f"Terminal colours: {ESC}[31mred{ESC}[0m explained"
    feeds.add(
        "/colours.xml",
        rss(
            "Shell\x07 Tips",  # raw controls: not XML; feedparser reads it leniently
            [
                rss_item(
                    title,
                    guid=f"colours-{ESC}[2J",  # a guid that would clear the screen
                    age_hours=0.5,
                    description=f"<p>How {ESC}[1mbold{ESC}[0m and colour codes work in a "
                    "terminal, and why a feed reader must never pass them on.</p>",
                ),
                rss_item(
                    "XML &#27;[1mbold&#27;[0m and HTML &amp;#27;[32mgreen&amp;#27;[0m escapes",
                    guid="e-2",
                ),
            ],
        ),
    )
    configure(project, [feeds.url("/colours.xml")])

    collected = project.run("collect")
    assert collected.code == 0, collected.err
    assert ESC not in collected.out + collected.err
    assert "  [Shell Tips] Terminal colours: red explained  (" in collected.out
    assert "colours-\\x1b[2J)" in collected.out  # the guid, shown and harmless
    assert "  [Shell Tips] XML bold and HTML green escapes  (" in collected.out

    run = send(project, url)
    assert run.code == 0, run.err
    subject, text, html = delivered(recorder)
    assert subject.startswith("Terminal colours: red explained · ")
    assert ESC.encode() not in recorder.to(READER)[0].data
    assert "[31m" not in text + html and "[1m" not in text + html
    # The description is the lead (it was lost to the control characters, and the title
    # shown in its place).
    lead = "How bold and colour codes work in a terminal"
    assert f"* Terminal colours: red explained\n  {lead}" in text
    assert lead in html


def test_slash_and_zone_named_dates_are_read_and_what_is_left_is_said(
    project: Project, feeds: FeedServer, smtp: tuple[Recorder, str]
) -> None:
    recorder, url = smtp
    zone = ZoneInfo("America/New_York")  # the list's zone: dates without one are read in it
    now = datetime.now(UTC)

    def slashed(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%Y/%m/%d %H:%M:%S")

    def in_cest(moment: datetime) -> str:
        return (moment + timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S CEST")

    feeds.add(
        "/dates.xml",
        rss(
            "Dates",
            [
                rss_item("Slash-dated story", guid="d-1", date=slashed(now - timedelta(hours=1))),
                rss_item("Story with a standard date", guid="d-2", age_hours=3),
                rss_item("Old slash-dated story", guid="d-3", date=slashed(now - timedelta(3))),
                # 25 hours old: outside the first run's 24 hours (read as UTC, 23 hours)
                rss_item("Old CEST story", guid="d-4", date=in_cest(now - timedelta(hours=25))),
            ],
        ),
    )
    configure(project, [feeds.url("/dates.xml")], 'timezone = "America/New_York"')

    run = send(project, url)

    assert run.code == 0, run.err
    subject, text, html = delivered(recorder)
    assert subject.startswith("Slash-dated story · ")  # the newest: the lead
    assert text.index("Slash-dated story") < text.index("Story with a standard date")
    assert "Old slash-dated story" not in text + html and "Old CEST story" not in text + html
    # Nothing dropped in silence: the send says what it did not take, and -v which.
    assert run.out.rstrip().endswith(
        "; collect: 2 new articles stored, not taken: 2 outside the first-run window"
    )
    again = send(project, url, "-v")
    assert again.code == 0, again.err
    assert "  - already seen: [127.0.0.1] Old slash-dated story  (" in again.out
    assert "  - already seen: [127.0.0.1] Old CEST story  (" in again.out
    assert again.out.rstrip().endswith("not taken: 4 already seen")


def test_entities_in_a_markdown_article_are_decoded_once(
    project: Project, smtp: tuple[Recorder, str]
) -> None:
    recorder, url = smtp
    shutil.rmtree(project.path / "seeds")
    project.write(
        "seeds/prices.md",
        """
        ---
        title: The shop&#8217;s prices &amp; the year
        author: Ann &amp; Bob
        ---

        Prices rose 5&nbsp;% this year, the shop&#8217;s owner said &ndash; &copy; Example Press.
        """,
    )

    collected = project.run("collect")
    assert "  [General] The shop’s prices & the year  (seeds:prices.md)" in collected.out
    run = send(project, url)

    assert run.code == 0, run.err
    subject, text, html = delivered(recorder)
    said = "Prices rose 5 % this year, the shop’s owner said – © Example Press."
    assert subject.startswith("The shop’s prices & the year · ")
    assert said in " ".join(text.split())
    assert "By Ann & Bob" in text
    assert said in html and "The shop’s prices &amp; the year" in html
    for literal in ("&nbsp;", "&#8217;", "&ndash;", "&copy;", "&amp;amp;", "&amp;nbsp;"):
        assert literal not in text and literal not in html


def test_a_feed_title_with_markup_is_a_plain_section_heading(
    project: Project, feeds: FeedServer, smtp: tuple[Recorder, str]
) -> None:
    recorder, url = smtp
    feeds.add(
        "/tech.xml",
        rss(
            "Example &lt;b&gt;Tech&lt;/b&gt; &amp;amp; Science",
            [rss_item("A chip that sips power", guid="t-1", description="<p>Less heat.</p>")],
        ),
    )
    configure(project, [feeds.url("/tech.xml")])

    collected = project.run("collect")
    assert "  [Example Tech & Science] A chip that sips power  (" in collected.out
    run = send(project, url)

    assert run.code == 0, run.err
    _, text, html = delivered(recorder)
    assert "In this edition: Example Tech & Science." in text
    assert "\nEXAMPLE TECH & SCIENCE\n" in text
    assert "Example Tech &amp; Science" in html
    for wrong in ("<B>", "<b>", "&AMP;", "&lt;b&gt;", "&amp;amp;"):
        assert wrong not in text and wrong not in html


def test_an_unclosed_element_the_cleaner_drops_keeps_the_text_after_it(
    project: Project, feeds: FeedServer, smtp: tuple[Recorder, str]
) -> None:
    recorder, url = smtp
    feeds.add(
        "/embeds.xml",
        rss(
            "Embeds",
            [
                rss_item(
                    "Old plugins",
                    guid="o-1",
                    description='<p>Before <object data="x.swf"> after the object, the '
                    "story goes on.</p><p>Then <iframe src='x'>fallback</iframe> a frame.</p>",
                )
            ],
        ),
    )
    configure(project, [feeds.url("/embeds.xml")])

    run = send(project, url)

    assert run.code == 0, run.err
    _, text, html = delivered(recorder)
    said = "Before after the object, the story goes on. Then a frame."
    assert said in " ".join(text.split()) and said in html
    assert "fallback" not in text + html  # a closed element still goes with its content


def test_feeds_that_give_nothing_say_why_and_the_send_still_goes_out(
    project: Project, feeds: FeedServer, smtp: tuple[Recorder, str]
) -> None:
    recorder, url = smtp
    empty = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Caf&eacute; news</title>'
        "<link>http://e.org/</link></channel></rss>"
    )
    untitled = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Caf&eacute;</title>'
        "<item><link>http://e.org/untitled</link></item></channel></rss>"
    )
    feeds.add("/empty.xml", empty)
    feeds.add("/untitled.xml", untitled)
    feeds.add("/cut.xml", "<rss version='2.0'><channel><item><title>cut off")
    configure(
        project, [feeds.url(p) for p in ("/empty.xml", "/untitled.xml", "/cut.xml")], seeds=True
    )

    run = send(project, url)

    assert run.code == 0, run.err
    subject, _, _ = delivered(recorder)
    assert subject.startswith("Central bank holds rates")  # the seeds went out
    assert f"newsletter: {feeds.url('/empty.xml')}: no items\n" in run.err
    assert f"newsletter: {feeds.url('/untitled.xml')}: 1 item without title or text\n" in run.err
    # A document cut off is still invalid XML: nothing of it could be read.
    assert (
        f"{feeds.url('/cut.xml')}: invalid XML: no element found (line 2, column 48); 1 item "
        "without title or text; skipped" in run.err
    )
    assert f"{feeds.url('/empty.xml')}: invalid XML" not in run.err
    assert f"{feeds.url('/untitled.xml')}: invalid XML" not in run.err
    assert "not taken: 1 no title or text" in run.out
    listed = project.run("collect", "-v")
    assert "  - no title or text: [127.0.0.1] (untitled)  (http://e.org/untitled)" in listed.out


def jpeg(size: tuple[int, int]) -> bytes:
    return picture(size, "JPEG", colour=(90, 120, 90))


def test_an_image_only_post_is_titled_from_its_feed_and_day(
    project: Project, feeds: FeedServer, smtp: tuple[Recorder, str]
) -> None:
    recorder, url = smtp
    published = hours_ago(1)
    feeds.add("/heron.jpg", jpeg((1200, 800)), "image/jpeg")
    image = f'<media:content url="{feeds.url("/heron.jpg")}" medium="image"/>'
    item = f"<item><guid>h-1</guid><pubDate>{rfc822(published)}</pubDate>{image}</item>"
    media = 'xmlns:media="http://search.yahoo.com/mrss/"'
    feeds.add("/photos.xml", rss("Heron Watch", [item]).replace("<rss ", f"<rss {media} "))
    configure(project, [feeds.url("/photos.xml")], 'timezone = "Asia/Tokyo"')

    run = send(project, url)

    assert run.code == 0, run.err
    day = published.astimezone(ZoneInfo("Asia/Tokyo"))
    title = f"Image from Heron Watch, {day.day} {day:%B %Y}"
    subject, text, html = delivered(recorder)
    assert subject.startswith(title)
    assert f"* {title}" in text
    # the lead's picture, its size measured at collection: across the column, in shape
    assert f'src="{feeds.url("/heron.jpg")}" width="536" height="357"' in html


def test_collect_says_what_it_did_not_take_and_v_lists_each(
    project: Project, feeds: FeedServer
) -> None:
    feeds.add(
        "/a.xml",
        rss(
            "A",
            [
                rss_item("Shared story", guid="a-1", link="https://news.example/42"),
                rss_item("Archive story", guid="a-0", age_hours=24 * 5),
            ],
        ),
    )
    feeds.add("/b.xml", rss("B", [rss_item("Shared story again", link="https://news.example/42")]))
    configure(project, [feeds.url("/a.xml"), feeds.url("/b.xml")], seeds=True)

    first = project.run("collect")
    assert first.code == 0, first.err
    seeds = len(list((project.path / "seeds").iterdir()))
    assert first.out.splitlines()[-1] == (
        f"{seeds + 1} new articles stored; not taken: 1 duplicate, 1 outside the first-run window"
    )
    again = project.run("collect", "-v")
    assert again.out.splitlines()[-1] == (
        f"0 new articles stored; not taken: {seeds + 3} already seen"
    )
    assert "  - already seen: [127.0.0.1] Shared story  (https://news.example/42)" in again.out
    assert "  - already seen: [seeds] " in again.out
    # The send's summary counts them too, as log collectors read it.
    sent = project.run("--log-format", "json", "send")
    assert sent.code == 0, sent.err
    summary = json.loads(sent.out.splitlines()[-1])["summary"]
    assert (summary["collected"], summary["not_taken"]) == (0, {"already seen": seeds + 3})


def test_a_file_name_with_control_characters_is_shown_escaped(project: Project) -> None:
    project.write(f"seeds/clear{ESC}[2J.md", "---\ntitle: Named oddly\n---\n\nSome text.\n")
    project.write(f"seeds/broken{ESC}[31m.md", "no front matter\n")

    run = project.run("collect")

    assert run.code == 0, run.err
    assert ESC not in run.out + run.err
    assert "  [General] Named oddly  (seeds:clear\\x1b[2J.md)" in run.out
    assert "newsletter: seeds/broken\\x1b[31m.md:1: no front matter;" in run.err
