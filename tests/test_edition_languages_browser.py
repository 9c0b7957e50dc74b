"""A French and an Arabic edition in a real browser (Debian's Chromium): the direction, the
localised date on screen, and nothing wider than a 375 px phone.

Skipped, with the reason, only where no Chromium is installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from babel.dates import format_date
from conftest import Project

from newsletter.edition.browser import Browser, find_chromium

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run does it)",
)
DAY = date(2026, 11, 27)
ARABIC_STORY = """
---
title: افتتاح مكتبة جديدة في وسط المدينة
section: محلي
url: https://example.org/ar/library
---
افتتحت البلدية يوم السبت مكتبة عامة جديدة تضم أكثر من عشرين ألف كتاب.
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as b:
        yield b


def preview(project: Project, language: str) -> Path:
    project.write("seeds/060_library.md", ARABIC_STORY)
    env = {"NEWSLETTER_LANGUAGE": language, "NEWSLETTER_PUBLIC_URL": "https://news.example.com"}
    run = project.run("preview", "--date", DAY.isoformat(), env=env)
    assert run.code == 0, run.err
    return Path(run.out.strip())


@pytest.mark.parametrize(("language", "direction"), [("fr", "ltr"), ("ar", "rtl")])
def test_a_french_and_an_arabic_edition_read_right_on_a_phone(
    browser: Browser, project: Project, language: str, direction: str
) -> None:
    browser.open(preview(project, language), 375)
    assert browser.evaluate("getComputedStyle(document.body).direction") == direction
    assert (
        browser.evaluate("getComputedStyle(document.querySelector('.container')).direction")
        == direction
    )
    # the localised date is on screen, in the top bar
    day = format_date(DAY, "full", locale=language)
    shown = browser.evaluate(
        "(() => { const c = document.querySelector('.topbar-cell');"
        " const r = c.getBoundingClientRect();"
        " return [c.textContent, r.width > 0 && r.height > 0 && r.right <= innerWidth]; })()"
    )
    assert day in shown[0] and shown[1], shown
    # nothing wider than the phone
    assert browser.evaluate("document.documentElement.scrollWidth") <= 375
    too_wide = browser.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => { const r = e.getBoundingClientRect();"
        " return r.right > innerWidth + 0.5 || r.left < -0.5; })"
        ".filter(e => !e.closest('.preheader'))"
        ".map(e => e.tagName + '.' + e.className)"
    )
    assert too_wide == []
    # an Arabic headline reads right to left whatever the edition's language
    heading = browser.evaluate(
        "[...document.querySelectorAll('h3')].filter(h => h.textContent.includes('مكتبة'))"
        ".map(h => [h.getAttribute('dir'), getComputedStyle(h).direction])"
    )
    assert heading == [["auto", "rtl"]]
