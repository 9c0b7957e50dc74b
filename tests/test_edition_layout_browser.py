"""A full 20-story edition in headless Chromium at a phone's 375 px: how long it is, that
nothing overflows, and that every picture keeps the shape of the file it shows.

The stories come from real feeds on a local HTTP server (tests/feedserver.py) with real
pictures of several shapes (Pillow writes them), collected and previewed through the CLI as
a user would: the picture sizes the edition uses are the ones collection measured. Skipped,
with the reason, only where no Chromium is installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Project
from feedserver import FeedServer, picture, rss, rss_item, serving

from newsletter.edition.browser import Browser, find_chromium

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run does it)",
)
PHONE_WIDTH, PHONE_SCREEN = 375, 667  # an iPhone SE/8 screen in CSS pixels
SECTIONS = ("World", "Business", "Science", "Sport")
# (width, height) of the pictures, in turn: wide, 4:3, portrait, square, tiny, panorama
SHAPES = ((1200, 675), (800, 600), (600, 900), (500, 500), (80, 60), (1600, 400))
HEADLINES = (
    "Central bank holds rates steady as inflation cools for a third month",
    "Deep-sea survey maps coral reefs no one had seen before",
    "City clinch the league title with two games to spare",
    "Chipmaker unveils a processor that halves the power draw of data centres",
    "Flu vaccination campaign opens early after a busy autumn in hospitals",
)
LEAD = (
    "The decision was widely expected by economists, who said the latest figures gave the "
    "committee room to wait before cutting, while warning that wage growth remains strong "
    "and that energy prices could still rise over the winter."
)


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with serving() as feeds:
        yield feeds


def serve_twenty_stories(feeds: FeedServer) -> list[str]:
    """Four feeds (one a section) of five stories each, every story with a picture."""
    urls = []
    for s, section in enumerate(SECTIONS):
        items = []
        for i in range(5):
            n = s * 5 + i
            path = f"/img/{n}.png"
            feeds.add(path, picture(SHAPES[n % len(SHAPES)], colour=(70, 110, 160)), "image/png")
            items.append(
                rss_item(
                    f"{HEADLINES[n % len(HEADLINES)]} ({n})",
                    guid=f"story-{n}",
                    link=feeds.url(f"/story/{n}"),
                    age_hours=1 + n,
                    description=f'<p><img src="{feeds.url(path)}" alt="Picture {n}"></p>'
                    f"<p>{LEAD}</p>",
                )
            )
        feeds.add(f"/{section.lower()}.xml", rss(f"{section} desk", items))
        urls.append(feeds.url(f"/{section.lower()}.xml"))
    return urls


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b


@pytest.fixture
def twenty(project: Project, server: FeedServer) -> Path:
    """The preview (HTML file) of a 20-story edition, pictures collected and measured."""
    urls = serve_twenty_stories(server)
    tables = "".join(
        f'\n[[sources]]\nurl = "{u}"\nsection = "{name}"\n'
        for u, name in zip(urls, SECTIONS, strict=True)
    )
    project.write("newsletter.toml", f"feed_timeout = 5\nmax_articles = 20\n{tables}")
    collected = project.run("collect")
    assert collected.code == 0, collected.err
    run = project.run("preview", "--screenshot")
    assert run.code == 0, run.err
    html = Path(run.out.split()[0])
    if folder := os.environ.get("LAYOUT_SHOTS"):  # keep the screenshots to look at
        for shot in run.out.split()[1:]:
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / Path(shot).name).write_bytes(Path(shot).read_bytes())
    return html


def page_height(browser: Browser) -> int:
    return int(browser.evaluate("document.documentElement.scrollHeight"))


def test_twenty_stories_fit_in_about_five_phone_screens(browser: Browser, twenty: Path) -> None:
    browser.open(twenty, PHONE_WIDTH)
    stories = browser.evaluate("document.querySelectorAll('h3').length")
    height = page_height(browser)
    print(
        f"20-story edition at {PHONE_WIDTH} px: {height} px = {height / PHONE_SCREEN:.2f} screens"
    )
    assert stories == 20
    assert height <= 6 * PHONE_SCREEN
    assert browser.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH
    too_wide = browser.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)"
        ".map(e => e.tagName + '.' + e.className)"
    )
    assert too_wide == []


@pytest.mark.parametrize("width", [PHONE_WIDTH, 1200])
def test_every_picture_keeps_its_shape_and_is_never_enlarged(
    browser: Browser, twenty: Path, width: int
) -> None:
    browser.open(twenty, width)
    shown = browser.evaluate(
        "[...document.images].map(i => [i.naturalWidth, i.naturalHeight,"
        " i.getBoundingClientRect().width, i.getBoundingClientRect().height])"
    )
    assert len(shown) == 20
    for natural_w, natural_h, w, h in shown:
        assert natural_w > 0  # the picture loaded from the feed's server
        assert w <= natural_w + 0.5
        assert abs(h - w * natural_h / natural_w) <= 1.5, (natural_w, natural_h, w, h)
    lead_w = shown[0][2]
    assert lead_w == (PHONE_WIDTH - 36 if width == PHONE_WIDTH else 536)  # across the column
    assert all(w <= 80 for _, _, w, _ in shown[1:])  # the others: thumbnails
