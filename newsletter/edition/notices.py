"""Notices: the one-off messages and pages around the list (the sign-up confirmation, the
welcome message, the sign-up pages), rendered from templates like the edition and
overridable the same way (a file of the same name in the ``templates`` folder).

A notice ``KIND`` is three templates: ``KIND_subject.txt.j2``, ``KIND.txt.j2`` and
``KIND.html.j2``, in the language of the context's ``list`` (its words from the catalogs,
``languages``). No CSS inlining: each is rendered once, for one reader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .render import render_page

SIGNUP_PAGE = "signup.html.j2"


@dataclass(frozen=True, slots=True)
class Notice:
    """A rendered notice: its Subject (one line), plain text and HTML parts."""

    subject: str
    text: str
    html: str


def render_notice(templates: Mapping[str, str], kind: str, context: dict[str, Any]) -> Notice:
    """Render notice ``kind`` (``confirm``, ``welcome``) with ``context``.

    Raises:
        TemplateError: a template is missing or broken (naming it and the line).
    """
    subject = " ".join(render_page(templates, f"{kind}_subject.txt.j2", context).split())
    text = render_page(templates, f"{kind}.txt.j2", context)
    text = re.sub(r"\n\s*\n(\s*\n)+", "\n\n", text).strip() + "\n"
    return Notice(subject, text, render_page(templates, f"{kind}.html.j2", context))


def render_signup_page(templates: Mapping[str, str], page: str, context: dict[str, Any]) -> str:
    """One of the sign-up pages (``signup.html.j2`` with ``page`` set). Raises: TemplateError."""
    return render_page(templates, SIGNUP_PAGE, {**context, "page": page})
