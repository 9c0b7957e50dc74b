"""`newsletter sources`, `sources import FILE.opml` and the `sources` setting, run as a user."""

from __future__ import annotations

import re
import tomllib

from conftest import Project
from feedserver import FeedServer, rss, rss_item

OPML = """<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My subscriptions</title></head>
  <body>
    <outline text="Tech">
      <outline type="rss" text="Python Insider" xmlUrl="https://blog.python.org/feeds/posts/default"/>
      <outline type="rss" text="LWN" xmlUrl="https://lwn.net/headlines/rss"/>
    </outline>
    <outline type="rss" title="World News" xmlUrl="https://news.example.org/world.xml"/>
    <outline type="rss" text="Not http" xmlUrl="ftp://example.org/feed"/>
  </body>
</opml>
"""


def test_opml_import_appends_to_the_config_and_keeps_it(project: Project) -> None:
    project.write("feeds.opml", OPML)
    project.write(
        "newsletter.toml",
        """
        # my settings
        newsletter_name = "Morning Post"  # the masthead
        """,
    )

    run = project.run("sources", "import", "feeds.opml")

    assert run.code == 0, run.err
    assert "3 feeds added to newsletter.toml" in run.out
    text = (project.path / "newsletter.toml").read_text()
    assert text.startswith('# my settings\nnewsletter_name = "Morning Post"  # the masthead')
    config = tomllib.loads(text)
    assert config["sources"][0] == {"path": "seeds"}  # what the newsletter read before stays
    assert config["sources"][1] == {
        "url": "https://blog.python.org/feeds/posts/default",
        "name": "Python Insider",
        "section": "Tech",
    }
    assert config["sources"][3]["name"] == "World News" and "section" not in config["sources"][3]

    again = project.run("sources", "import", "feeds.opml")
    assert "0 feeds added to newsletter.toml (3 already configured)" in again.out

    listing = project.run("sources")
    assert listing.code == 0, listing.err
    lines = listing.out.splitlines()
    assert lines[0].startswith("source\tkind\tstatus\tlast fetch\tlast success\titems\t")
    assert lines[1].startswith("seeds\tfolder\tnot collected yet")  # collected by nothing yet
    assert lines[2].startswith(
        "Python Insider <https://blog.python.org/feeds/posts/default>\tfeed\tnot fetched yet"
    )
    assert len(lines) == 5


def test_opml_import_into_an_inline_sources_list(project: Project) -> None:
    project.write("feeds.opml", OPML)
    project.write("newsletter.toml", 'sources = ["seeds"]\n')
    assert project.run("sources", "import", "feeds.opml").code == 0
    config = tomllib.loads((project.path / "newsletter.toml").read_text())
    assert config["sources"][0] == "seeds" and len(config["sources"]) == 4


def test_a_bad_opml_file_is_a_clear_error(project: Project) -> None:
    project.write("bad.opml", "<opml><body><outline")
    run = project.run("sources", "import", "bad.opml")
    assert run.code == 2 and "bad.opml:1: not valid XML" in run.err
    project.write("html.opml", "<html><body/></html>")
    run = project.run("sources", "import", "html.opml")
    assert run.code == 2 and "html.opml: not an OPML file" in run.err
    run = project.run("sources", "import", "missing.opml")
    assert run.code == 2 and "missing.opml: cannot read" in run.err
    assert "Traceback" not in run.err


def test_sources_setting_accepts_urls_tables_and_rejects_bad_entries(project: Project) -> None:
    project.write(
        "newsletter.toml",
        """
        sources = ["seeds", "https://example.org/feed.xml", {path = "seeds", name = "dup"}]
        """,
    )
    run = project.run("sources")
    assert run.code == 2 and "listed more than once" in run.err

    project.write("newsletter.toml", 'sources = ["seeds", {url = "file:///etc/passwd"}]\n')
    run = project.run("collect")
    assert run.code == 2
    assert "sources.1.url: 'file:///etc/passwd' is not an http(s) feed URL" in run.err

    run = project.run("collect", env={"NEWSLETTER_SOURCES": '["seeds"]'})
    assert run.code == 0 and "new articles stored" in run.out


def test_folder_options_name_section_and_disabled_feed(project: Project) -> None:
    project.write(
        "newsletter.toml",
        """
        [[sources]]
        path = "seeds"
        section = "From the archive"

        [[sources]]
        url = "http://127.0.0.1:9/never-fetched.xml"
        enabled = false
        """,
    )
    run = project.run("collect")
    assert run.code == 0, run.err
    assert "[From the archive] Japan PM says open to meeting North Korean leader" in run.out
    assert "127.0.0.1:9" not in run.err  # a disabled feed is not fetched
    assert "\tdisabled\t" in project.run("sources").out


def listing(project: Project) -> dict[str, dict[str, str]]:
    """``newsletter sources`` as a user's script reads it: a row of cells per source."""
    run = project.run("sources")
    assert run.code == 0, run.err
    header, *rows = [line.split("\t") for line in run.out.splitlines()]
    return {cells[0]: dict(zip(header, cells, strict=True)) for cells in rows}


WHEN = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")


def test_a_misspelled_folder_is_missing_not_ok(project: Project) -> None:
    project.write("newsletter.toml", 'sources = ["seeds", "seedz"]\n')
    seeds = len(list((project.path / "seeds").iterdir()))

    before = listing(project)  # before any collection: looked for on disk
    assert before["seedz"]["status"] == "MISSING: no such folder; fix its path in 'sources'"
    assert before["seeds"]["status"] == "not collected yet"
    assert before["seeds"]["last fetch"] == "-"

    run = project.run("collect")
    assert run.code == 0, run.err
    assert "seedz: source folder not found; skipped (check its path in 'sources')" in run.err
    after = listing(project)
    assert after["seedz"]["status"].startswith("MISSING")
    assert WHEN.match(after["seedz"]["last fetch"]) and after["seedz"]["last success"] == "never"
    assert (after["seedz"]["failures"], after["seedz"]["last error"]) == ("1", "folder not found")
    assert after["seeds"]["status"] == "ok"
    assert WHEN.match(after["seeds"]["last fetch"]) and WHEN.match(after["seeds"]["last success"])
    assert (after["seeds"]["items"], after["seeds"]["failures"]) == (f"{seeds} items", "0")

    project.run("collect")  # nothing new: the items stay; a second miss in a row
    again = listing(project)
    assert (again["seeds"]["items"], again["seedz"]["failures"]) == (f"{seeds} items", "2")

    (project.path / "seedz").mkdir()  # the user creates it: no longer missing
    assert listing(project)["seedz"]["status"] == "not collected since it appeared"
    project.run("collect")
    fixed = listing(project)["seedz"]
    assert (fixed["status"], fixed["failures"], fixed["last error"]) == ("ok", "0", "-")
    assert WHEN.match(fixed["last success"])


def test_a_folder_with_a_bad_file_says_what_it_skipped(project: Project) -> None:
    project.write("newsletter.toml", 'sources = ["seeds", "extra"]\n')
    project.write("extra/good.md", "---\ntitle: A good one\n---\nBody text.\n")
    project.write("extra/bad.md", "no front matter here\n")
    assert project.run("collect").code == 0
    extra = listing(project)["extra"]
    assert (extra["status"], extra["items"]) == ("ok, 1 file skipped", "1 item")
    assert extra["last error"].startswith("extra/bad.md:1: no front matter")


def test_folders_are_recorded_next_to_feeds(project: Project, feeds: FeedServer) -> None:
    # with a feed configured the collection takes the feed path: folders are recorded too
    feeds.add("/news.xml", rss("News", [rss_item("Fresh", link=feeds.url("/a/1"))]))
    project.write(
        "newsletter.toml",
        f'feed_timeout = 2\nsources = ["seeds", "seedz", "{feeds.url("/news.xml")}"]\n',
    )
    assert project.run("collect").code == 0
    rows = listing(project)
    assert rows["seeds"]["status"] == "ok" and rows["seeds"]["items"] != "0 items"
    assert rows["seedz"]["failures"] == "1"
    assert rows[feeds.url("/news.xml")]["items"] == "1 item"
