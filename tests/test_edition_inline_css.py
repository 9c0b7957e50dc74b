"""The CSS inliner's output is valid HTML for mail: presentational attributes only where
HTML has them, never with ``!important`` in the value (read back with an HTML parser)."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import ROOT, Project
from htmlcheck import html_parts, invalid_attributes
from smtpserver import Recorder

from newsletter.edition.render import inline_css

GOLDEN = Path(__file__).resolve().parent / "golden"


def test_a_user_stylesheet_with_important_inlines_cleanly(
    project: Project, smtp: tuple[Recorder, str]
) -> None:
    recorder, url = smtp
    styles = (ROOT / "templates" / "_styles.html.j2").read_text(encoding="utf-8")
    mine = ".greeting { background-color: #fafafa !important; }\n</style>"
    project.write("templates/_styles.html.j2", styles.replace("</style>", mine, 1))
    project.write("newsletter.toml", 'templates = "templates"\n')

    run = project.run("send", env={"NEWSLETTER_SMTP_URL": url})

    assert run.code == 0, run.err
    (html,) = html_parts(recorder.to("ada@example.com")[0].data)
    assert invalid_attributes(html) == []
    greeting = re.search(r'<td class="greeting"[^>]*>', html)
    assert greeting and 'bgcolor="#fafafa"' in greeting[0]  # kept for old Outlook, cleaned
    assert "background-color:#fafafa !important" in greeting[0]  # CSS keeps it: valid there
    images = re.findall(r"<img\b[^>]*>", html)
    assert images and not any("bgcolor" in tag for tag in images)


def test_only_the_attributes_html_defines_are_written() -> None:
    html = inline_css(
        "<html><head><style>"
        "img, p, td, span { background-color: #abc !important; text-align: center !important;"
        " vertical-align: top !important }</style></head><body><table><tr>"
        '<td><img src="x.png" alt=""><p>p</p><span>s</span></td></tr></table></body></html>'
    )
    assert invalid_attributes(html) == []

    def tag(name: str) -> str:
        found = re.search(rf"<{name}\b[^>]*>", html)
        assert found, name
        return re.sub(r' style="[^"]*"', "", found[0])

    assert tag("td") == '<td bgcolor="#aabbcc" align="center" valign="top">'
    assert tag("img") == '<img src="x.png" alt="" align="center">'
    assert tag("p") == '<p align="center">'
    assert tag("span") == "<span>"


def test_the_golden_edition_message_and_archive_page_are_valid() -> None:
    for name in ("edition.html", "archive-page.html"):
        assert invalid_attributes((GOLDEN / name).read_text(encoding="utf-8")) == [], name
    for html in html_parts((GOLDEN / "message.eml").read_bytes()):
        assert invalid_attributes(html) == []
