"""The default design and its templates: structure, partial overrides, text part, size budget."""

from __future__ import annotations

import re
import time
from datetime import date
from html.parser import HTMLParser

import pytest
from conftest import Project

from newsletter.edition.render import ListInfo, RenderedEdition, check_size, render_edition
from newsletter.edition.templates import load_templates
from newsletter.errors import EditionTooLarge, TemplateError
from newsletter.models import Article, Edition, Section

INFO = ListInfo(
    "Daily Newsletter", "1 Example Street", None, "news@example.com", contact="ed@example.com"
)
DAY = "2026-11-27"


def article(i: int, section: str = "World", **kw: str) -> Article:
    fields = {
        "title": f"Headline {i}",
        "summary": f"Lead paragraph {i}.",
        "url": f"https://example.org/{i}",
        **kw,
    }
    return Article(id=f"a{i}", source="t", section=section, **fields)  # type: ignore[arg-type]


def edition(*sections: tuple[str, list[Article]]) -> Edition:
    return Edition(date(2026, 11, 27), 7, tuple(Section(n, tuple(a)) for n, a in sections))


class Tags(HTMLParser):
    """Every start tag with its attributes, for structural checks."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag == name]


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def test_edition_is_accessible_and_responsive() -> None:
    ed = edition(
        ("World", [article(1, image_url="https://example.org/1.jpg", image_alt="A harbour")]),
        ("Sport", [article(2, image_url="https://example.org/2.jpg")]),
    )
    html = render_edition(ed, load_templates(None), INFO).html
    tags = parse(html)

    assert tags.all("html")[0]["lang"] == "en"
    assert all(t.get("role") == "presentation" for t in tags.all("table"))
    assert len(tags.all("h1")) == 1 and len(tags.all("h2")) == 2 and len(tags.all("h3")) == 2
    imgs = tags.all("img")
    assert [i["alt"] for i in imgs] == ["A harbour", "Headline 2"]  # title when no alt given
    # Sizes unknown (never collected): a width only, the lead's across the column, the
    # other story's a thumbnail.
    assert [(i["width"], i.get("height")) for i in imgs] == [("536", None), ("80", None)]
    metas = {m.get("name"): m.get("content") for m in tags.all("meta")}
    assert metas["color-scheme"] == "light dark"
    (style,) = re.findall(r"<style[^>]*>(.*?)</style>", html, re.S)
    assert "@media only screen and (max-width: 620px)" in style
    assert "@media (prefers-color-scheme: dark)" in style
    assert 'class="container"' in html and 'width="600"' in html
    # The preheader (hidden, first in the body) carries the top headlines.
    assert re.search(r'class="preheader"[^>]*>Headline 1 · Headline 2', html)


def test_each_article_has_linked_headline_lead_byline_and_read_more() -> None:
    ed = edition(("World", [article(1, author="Ann Author")]), ("Sport", [article(2)]))
    html = render_edition(ed, load_templates(None), INFO).html
    assert re.search(r'<h3[^>]*><a href="https://example.org/1"[^>]*>Headline 1</a></h3>', html)
    assert "By Ann Author · example.org" in html
    assert html.count("Read more") == 1  # the lead story's; the others are compact
    assert "Friday 27 November 2026 · No. 7" in html
    assert "In this edition: World · Sport" in re.sub(r"<[^>]+>", "", html)  # names isolated
    assert "1 Example Street" in html and "ed@example.com" in html


def test_plain_text_is_a_readable_digest_wrapped_at_72_columns() -> None:
    long_lead = "A sentence that goes on and on about the news of the day. " * 6
    url = "https://example.org/a-very-long-url/" + "-".join(["segment"] * 12)
    ed = edition(("World", [article(1, summary=long_lead, url=url), article(2)]))
    text = render_edition(ed, load_templates(None), INFO).text

    assert "<" not in text and "style" not in text  # not a tag-stripped dump of the HTML
    lines = text.splitlines()
    assert max(len(line) for line in lines if url not in line) <= 72
    assert f"  {url}" in lines  # URLs are never broken, even at hyphens
    assert "* Headline 1" in lines and "WORLD" in lines
    assert "  A sentence that goes on and on about the news of the day. A sentence" in lines
    assert "\n\n\n" not in text  # never more than one blank line


def test_a_partial_can_be_overridden_alone(tmp_path) -> None:
    (tmp_path / "_article.html.j2").write_text(
        '<tr><td class="mine">{{ article.title | upper }}</td></tr>\n'
    )
    ed = edition(("World", [article(1), article(2)]))
    html = render_edition(ed, load_templates(tmp_path), INFO).html
    assert html.count('class="mine"') == 2 and "HEADLINE 2" in html
    assert "Unsubscribe" in html  # the other partials are still the defaults
    assert "Read more" not in html


def test_a_user_partial_can_be_included_from_a_user_template(tmp_path) -> None:
    (tmp_path / "_sponsor.txt.j2").write_text("Sponsored by {{ list.name }} friends\n")
    (tmp_path / "edition.txt.j2").write_text(
        '{% include "_sponsor.txt.j2" %}\n{% for article in articles %}'
        '{% include "_article.txt.j2" %}'
        "{% endfor %}"
    )
    text = render_edition(edition(("W", [article(1)])), load_templates(tmp_path), INFO).text
    assert text.startswith("Sponsored by Daily Newsletter friends\n* Headline 1")


def test_an_error_in_a_partial_names_the_partial_and_line(tmp_path) -> None:
    (tmp_path / "_footer.html.j2").write_text("<tr><td>\n{{ list.adress }}\n</td></tr>\n")
    with pytest.raises(TemplateError, match=r"_footer\.html\.j2:2: .*adress"):
        render_edition(edition(("W", [article(1)])), load_templates(tmp_path), INFO)


def test_a_missing_partial_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "edition.txt.j2").write_text('{% include "_nope.txt.j2" %}\n')
    with pytest.raises(TemplateError, match=r"template _nope\.txt\.j2 not found"):
        render_edition(edition(("W", [article(1)])), load_templates(tmp_path), INFO)


def test_web_edition_has_no_reader_data_and_a_generic_footer() -> None:
    from newsletter.edition.render import fill_neutral

    rendered = render_edition(edition(("W", [article(1)])), load_templates(None), INFO, web=True)
    html = fill_neutral(rendered, rendered.html, escape=True)
    assert "nlm" not in html and "Hello" not in html
    assert "This is the web edition of Daily Newsletter" in html
    assert "To subscribe or unsubscribe, write to" in html
    assert 'href="feed.xml"' in html


def sized(n_bytes: int) -> RenderedEdition:
    return RenderedEdition("s", "x" * n_bytes, "t", {}, "nlm_")


def test_size_budget_warns_above_90_kb_and_refuses_above_102_kb() -> None:
    assert check_size(sized(90 * 1024)) is None
    warning = check_size(sized(95 * 1024), 20)
    assert warning is not None
    assert "95.0 KB (97,280 bytes) for 20 articles" in warning
    assert "fewer articles" in warning and "shorter leads" in warning
    with pytest.raises(EditionTooLarge) as caught:
        check_size(sized(103 * 1024), 31)
    message = str(caught.value)
    assert "103.0 KB (105,472 bytes) for 31 articles" in message and "Gmail clips" in message
    assert "fewer articles (lower max_articles)" in message and "shorter leads" in message


def test_an_edition_too_large_is_refused_before_anything_is_sent(project: Project) -> None:
    lead = "A long lead that keeps going with more detail about the story. " * 40
    for i in range(40):
        project.write(f"seeds/big{i:02}.md", f"---\ntitle: Story {i} {lead}\n---\nx\n")
    project.write("newsletter.toml", "max_articles = 60\n")

    run = project.run("send", "--date", DAY)

    assert run.code == 2, run.err
    assert re.search(r"the edition's HTML is \d+\.\d KB \([\d,]+ bytes\) for 48 articles", run.err)
    assert "fewer articles" in run.err and "Traceback" not in run.err
    assert not (project.path / "outbox").exists()


def test_preview_warns_when_the_edition_nears_the_limit(project: Project) -> None:
    lead = "A long lead that keeps going with more detail about the story. " * 22
    for i in range(37):
        project.write(f"seeds/big{i:02}.md", f"---\ntitle: Story {i} {lead}\n---\nx\n")
    project.write("newsletter.toml", "max_articles = 60\n")

    run = project.run("preview", "--date", DAY)

    assert run.code == 0, run.err
    assert "close to the 102 KB at which Gmail clips" in run.err


def test_preview_open_hands_the_file_to_the_web_browser(project: Project) -> None:
    opened = project.path / "opened.txt"
    project.write("fake-browser.sh", f'#!/bin/sh\necho "$1" > {opened}\n').chmod(0o755)

    run = project.run(
        "preview", "--date", DAY, "--open", env={"BROWSER": f"{project.path}/fake-browser.sh %s"}
    )

    assert run.code == 0, run.err
    html = project.path / "previews" / f"{DAY}.html"
    for _ in range(50):  # webbrowser may start the command in the background
        if opened.exists():
            break
        time.sleep(0.1)
    assert opened.read_text().strip() == html.as_uri()


def test_screenshot_without_chromium_is_a_clear_error(project: Project) -> None:
    run = project.run("preview", "--date", DAY, "--screenshot", env={"CHROMIUM": "no-such-browser"})
    assert run.code == 2
    assert "Chromium not found" in run.err and "apt-get install chromium" in run.err
    assert "Traceback" not in run.err
    assert (project.path / "previews" / f"{DAY}.html").is_file()  # the preview itself is there
