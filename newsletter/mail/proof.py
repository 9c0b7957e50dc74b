"""A proof: the edition exactly as a subscriber gets it, for an editor. Pure.

The subject is marked as a proof, in the list's language; when the list has an approval
gate, a short note opens the HTML and the text with the link that approves or holds the
edition (or the commands, without ``public_url``). The note sits between markers
(``<!--proof-->`` ... ``<!--/proof-->`` in the HTML, ``PROOF_RULE`` lines in the text),
so everything else is byte for byte the list's message. Personalising, headers and DKIM
are ``personalize.MessageTemplate``'s, as for the list.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace

from ..edition.rendered import RenderedEdition

# The subject's mark by the list's primary language (BCP 47), English otherwise.
MARKS = {
    "en": "PROOF", "fr": "ÉPREUVE", "de": "KORREKTURABZUG", "es": "PRUEBA", "it": "BOZZA",
    "pt": "PROVA", "nl": "PROEF", "sv": "KORREKTUR", "da": "KORREKTUR", "nb": "KORREKTUR",
    "pl": "KOREKTA", "cs": "KOREKTURA", "fi": "VEDOS", "ja": "校正", "zh": "校样", "ar": "بروفة",
}  # fmt: skip
PROOF_RULE = "-" * 60
_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_NOTE_STYLE = (
    "margin:0;padding:12px 16px;background-color:#fff4ce;color:#3b2f00;border-bottom:2px "
    "solid #c9a400;font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5"
)


@dataclass(frozen=True, slots=True)
class ProofNote:
    """What opens a proof when the list has an approval gate: the edition's day, and the
    https link of the page that approves or holds it (None without ``public_url``)."""

    day: str
    link: str | None


def proof_subject(subject: str, language: str) -> str:
    """``[PROOF] subject`` (``[ÉPREUVE] ...`` for a list in French)."""
    mark = MARKS.get(language.split("-")[0].lower(), MARKS["en"])
    return f"[{mark}] {subject}"


def proof_rendering(
    rendered: RenderedEdition, language: str, note: ProofNote | None
) -> RenderedEdition:
    """``rendered`` as the proof's: the subject marked, and ``note`` (if any) opening the
    HTML (right after ``<body>``) and the text. Merge tokens are untouched."""
    subject = proof_subject(rendered.subject, language)
    if note is None:
        return replace(rendered, subject=subject)
    text = "\n".join(_note_lines(note)) + "\n\n" + rendered.text
    return replace(rendered, subject=subject, html=_with_note(rendered.html, note), text=text)


def _note_lines(note: ProofNote) -> list[str]:
    lines = [PROOF_RULE, f"PROOF of edition {note.day}: the list has not received it yet."]
    if note.link:
        lines.append(f"Approve or hold it: {note.link}")
    lines += [
        f"Or run: newsletter approve --date {note.day}",
        f"    or: newsletter hold --date {note.day} --reason '...'",
        PROOF_RULE,
    ]
    return lines


def _with_note(page: str, note: ProofNote) -> str:
    day = html.escape(note.day)
    action = (
        f'<a href="{html.escape(note.link)}" style="color:#0b57d0;font-weight:bold">'
        "Approve or hold it</a>"
        if note.link
        else f"Run <code>newsletter approve --date {day}</code> or "
        f"<code>newsletter hold --date {day}</code>"
    )
    block = (
        f'<!--proof--><div style="{_NOTE_STYLE}"><strong>PROOF</strong> of edition {day}: '
        f"the list has not received it yet. {action}.</div><!--/proof-->"
    )
    match = _BODY.search(page)
    at = match.end() if match else 0
    return page[:at] + block + page[at:]
