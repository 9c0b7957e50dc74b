"""The edition in a real browser: headless Chromium (Debian's package, installed by .ci/run).

Skipped, with the reason, only where no Chromium is installed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Project

from newsletter.edition.browser import Browser, find_chromium

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run does it)",
)
DAY = "2026-11-27"
PUBLIC = {"NEWSLETTER_PUBLIC_URL": "https://news.example.com"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b


@pytest.fixture
def preview(project: Project) -> Path:
    """The preview of the seed edition, plus an article whose image has no alt text."""
    project.write(
        "seeds/050_market.md",
        """
        ---
        title: Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch market reopens
        section: Local
        url: https://example.org/local/market
        image: https://example.org/images/market.jpg
        ---
        The market hall reopened on Saturday with forty stalls and a new roof.
        """,
    )
    run = project.run("preview", "--date", DAY, env=PUBLIC)
    assert run.code == 0, run.err
    return Path(run.out.strip())


def test_nothing_overflows_horizontally_on_a_375_px_phone(browser: Browser, preview: Path) -> None:
    browser.open(preview, 375)
    width = browser.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    too_wide = browser.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)"
        ".map(e => e.tagName + '.' + e.className)"
    )
    assert too_wide == []
    # The column really narrowed (the media query survived inlining) ...
    assert browser.evaluate("document.querySelector('.container').offsetWidth") == 375
    browser.open(preview, 1200)  # ... and is 600 px on a desktop.
    assert browser.evaluate("document.querySelector('.container').offsetWidth") == 600


def test_every_image_has_alt_text_and_every_link_is_absolute_http(
    browser: Browser, preview: Path
) -> None:
    browser.open(preview, 375)
    images = browser.evaluate("[...document.images].map(i => [i.getAttribute('alt'), i.src])")
    assert len(images) == 2
    assert all(alt and alt.strip() for alt, _ in images), images
    hrefs = browser.evaluate("[...document.links].map(a => a.getAttribute('href'))")
    assert hrefs and all(h.startswith(("https://", "http://")) for h in hrefs), hrefs


def test_the_unsubscribe_link_is_present_and_personal(browser: Browser, preview: Path) -> None:
    browser.open(preview, 375)
    links = browser.evaluate(
        "[...document.links].filter(a => /unsubscribe/i.test(a.textContent)).map(a => a.href)"
    )
    assert len(links) == 1
    assert links[0].startswith("https://news.example.com/unsubscribe/")
    visible = browser.evaluate(
        "[...document.links].find(a => /unsubscribe/i.test(a.textContent)).offsetHeight"
    )
    assert visible > 0


def test_dark_mode_applies(browser: Browser, preview: Path) -> None:
    script = (
        "[getComputedStyle(document.body).backgroundColor,"
        " getComputedStyle(document.querySelector('.container')).backgroundColor,"
        " getComputedStyle(document.querySelector('h3')).color]"
    )
    browser.open(preview, 375, dark=False)
    light = browser.evaluate(script)
    browser.open(preview, 375, dark=True)
    dark = browser.evaluate(script)
    assert light == ["rgb(236, 238, 241)", "rgb(255, 255, 255)", "rgb(17, 17, 17)"]
    assert dark == ["rgb(18, 18, 18)", "rgb(30, 31, 34)", "rgb(241, 243, 244)"]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_preview_screenshot_writes_desktop_and_phone_pngs(project: Project) -> None:
    run = project.run("preview", "--date", DAY, "--screenshot")

    assert run.code == 0, run.err
    folder = project.path / "previews"
    desktop, phone = folder / f"{DAY}.desktop.png", folder / f"{DAY}.phone.png"
    assert run.out.split() == [str(folder / f"{DAY}.html"), str(desktop), str(phone)]
    (dw, dh), (pw, ph) = png_size(desktop), png_size(phone)
    assert dw == 1200 and pw == 375
    assert ph > 1500 and dh > 1500  # the whole page, not just the first screen


CONTRAST = """(() => {
  const lum = c => {
    const v = c.match(/[\\d.]+/g).slice(0, 3).map(x => Number(x) / 255)
      .map(x => x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  };
  const bg = lum(getComputedStyle(document.querySelector('.container')).backgroundColor);
  const low = [];
  for (const el of document.querySelectorAll('.container *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const fg = lum(getComputedStyle(el).color);
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) low.push(el.tagName + '.' + el.className + ' ' + ratio.toFixed(2));
  }
  return low;
})()"""


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_all_text_has_wcag_aa_contrast(browser: Browser, preview: Path, dark: bool) -> None:
    browser.open(preview, 375, dark=dark)
    assert browser.evaluate(CONTRAST) == []
