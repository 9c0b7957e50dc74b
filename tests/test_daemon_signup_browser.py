"""The sign-up page in a real browser (headless Chromium): it fits a 375 px phone and its
form submits to `newsletter serve`, which mails the confirmation.

Skipped, with the reason, only where no Chromium is installed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from conftest import Project
from daemonproc import Served

from newsletter.edition.browser import Browser, find_chromium

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run does it)",
)
ENV = {
    "NEWSLETTER_PUBLIC_URL": "https://news.example.com",
    "NEWSLETTER_SCHEDULE": "0 0 1 1 *",
}


@pytest.fixture
def served(project: Project) -> Iterator[Served]:
    project.write(  # a list with section preferences: the form offers them
        "subscribers/subscribers.csv",
        """
        email,name,status,sections
        ada@example.com,Ada Lovelace,active,World
        """,
    )
    project.write("newsletter.toml", 'section_order = ["World", "Sport"]\n')
    server = Served(project.path, ENV)
    server.wait_health(lambda body: True)
    yield server
    assert server.stop() == 0, server.log


def navigate(browser: Browser, url: str, width: int) -> None:
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": True},
    )
    browser.call("Page.navigate", {"url": url})
    wait_for(browser, "document.readyState === 'complete' && !!document.querySelector('h2')")


def wait_for(browser: Browser, condition: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not browser.evaluate(condition):
        assert time.monotonic() < deadline, f"never true: {condition}"
        time.sleep(0.05)


def test_the_sign_up_page_fits_a_phone_and_submits_in_chromium(
    project: Project, served: Served
) -> None:
    with Browser() as browser:
        navigate(browser, f"http://127.0.0.1:{served.port}/subscribe", 375)
        assert browser.evaluate("document.documentElement.scrollWidth") <= 375
        too_wide = browser.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => {"
            " const r = e.getBoundingClientRect();"
            " return r.width > 0 && r.left >= 0 && r.right > window.innerWidth + 0.5 })"
            ".map(e => e.tagName + '.' + e.className)"
        )
        assert too_wide == []
        # every visible field has a label; the honeypot is off-screen and hidden from
        # assistive technology
        unlabelled = browser.evaluate(
            "[...document.querySelectorAll('input:not([type=hidden])')]"
            ".filter(i => !i.labels.length).map(i => i.name)"
        )
        assert unlabelled == []
        assert browser.evaluate(
            "document.getElementById('website').closest('[aria-hidden=true]') !== null"
            " && document.getElementById('website').getBoundingClientRect().right < 0"
        )
        sections = browser.evaluate(
            "[...document.querySelectorAll('input[name=sections]')].map(i => i.value)"
        )
        assert sections == ["World", "Sport"]

        browser.evaluate(
            "document.getElementById('email').value = 'reader@example.org';"
            "document.getElementById('name').value = 'Rea Der';"
            "document.querySelector('input[value=Sport]').checked = true;"
            "document.querySelector('button[type=submit]').click(); true"
        )
        wait_for(browser, "document.querySelector('h2')?.textContent === 'Check your inbox'")
        assert browser.evaluate("document.documentElement.scrollWidth") <= 375

    [message] = list((project.path / "outbox" / ".notices" / "new").iterdir())
    text = message.read_text()
    assert "To: reader@example.org" in text and "(sections: Sport)" in text
    assert json.dumps("Rea Der")[1:-1] in text
