"""Mail HTML read back with an HTML parser: attributes HTML does not allow on their element.

The CSS inliner mirrors CSS into presentational attributes for old mail clients; each is
defined on a few elements only (HTML 4.01 Transitional, "Index of attributes", which mail
clients follow; HTML5 keeps ``width``/``height`` on a few more). A value with
``!important`` is no valid value of any attribute but ``style`` (where it is CSS).
"""

from __future__ import annotations

import email
import email.policy
from html.parser import HTMLParser
from pathlib import Path

ALLOWED_ON = {
    "align": {
        "applet", "caption", "col", "colgroup", "div", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "iframe", "img", "input", "legend", "object", "p", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr",
    },
    "valign": {"col", "colgroup", "tbody", "td", "tfoot", "th", "thead", "tr"},
    "bgcolor": {"body", "table", "td", "th", "tr"},
    "background": {"body"},
    "width": {
        "applet", "canvas", "col", "colgroup", "embed", "hr", "iframe", "img", "input",
        "object", "pre", "table", "td", "th", "video",
    },
    "height": {
        "applet", "canvas", "embed", "iframe", "img", "input", "object", "td", "th", "video",
    },
    "border": {"img", "object", "table"},
    "cellpadding": {"table"},
    "cellspacing": {"table"},
}  # fmt: skip


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            shown = f'<{tag} {name}="{value}">'
            if name in ALLOWED_ON and tag not in ALLOWED_ON[name]:
                self.problems.append(f"{shown}: no {name} on <{tag}> in HTML")
            if name != "style" and value and "!important" in value.lower():
                self.problems.append(f"{shown}: !important in an attribute value")

    handle_startendtag = handle_starttag


def invalid_attributes(html: str) -> list[str]:
    """Every presentational attribute on an element HTML does not define it on, and every
    attribute value (but ``style``) carrying ``!important``."""
    checker = _Checker()
    checker.feed(html)
    checker.close()
    return checker.problems


def html_parts(message: bytes) -> list[str]:
    """The text/html parts of a message."""
    msg = email.message_from_bytes(message, policy=email.policy.default)
    return [
        part.get_content()  # type: ignore[attr-defined]
        for part in msg.walk()
        if part.get_content_type() == "text/html"
    ]


def rendered_html_in(folder: Path) -> dict[str, str]:
    """Every rendered edition a run left in a project folder: the outbox's messages, the
    previews (HTML and .eml) and the web archive's pages, by path."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "templates" in path.parts:
            continue
        if path.suffix == ".html":
            found[str(path)] = path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".eml" or path.parent.name in ("new", "cur"):
            for n, part in enumerate(html_parts(path.read_bytes())):
                found[f"{path}#{n}"] = part
    return found
