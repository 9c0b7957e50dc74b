"""What rendering produces, as plain data: a rendered edition with its merge slots, and
what templates know about the list.

Kept apart from ``render`` (Jinja, premailer) so the sending side, which only reads a
frozen edition back, never loads the template engine.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from ..models import Edition


@dataclass(frozen=True, slots=True)
class ListInfo:
    """What the templates know about the list itself (same for every subscriber)."""

    name: str
    postal_address: str
    public_url: str | None
    unsubscribe_mailto: str
    language: str = "en"  # the pages' lang attribute
    archive_url: str | None = None  # where the web archive is published, if it is
    contact: str = ""  # an address readers can write to (Reply-To, else From)

    @property
    def one_click_unsubscribe(self) -> bool:
        """Whether messages carry the one-click https unsubscribe link (RFC 8058, with
        ``public_url``), else a ``mailto:`` link: the footer's words follow it."""
        return bool(self.public_url)

    def web_url(self, edition: Edition) -> str | None:
        """The public address of an edition's archive page, when the archive is public."""
        if not self.archive_url:
            return None
        return f"{self.archive_url.rstrip('/')}/{archive_page_name(edition.key)}"


def archive_page_name(day: date) -> str:
    """The file name of an edition's page in the web archive."""
    return f"{day.isoformat()}.html"


@dataclass(frozen=True, slots=True)
class Slot:
    """A merge field: which subscriber field, and what to show when it is empty."""

    field: str
    fallback: str = ""


@dataclass(frozen=True, slots=True)
class RenderedEdition:
    """The edition's subject, HTML (CSS inlined) and text, with merge tokens in place.

    Serialisable (``to_json``/``from_json``): frozen with the edition; a later send keeps
    the frozen one while a new rendering has the same ``fingerprint``.
    """

    subject: str
    html: str
    text: str
    slots: Mapping[str, Slot]
    token_pattern: str

    @property
    def fingerprint(self) -> str:
        """A digest of the subject, HTML and text, each merge token replaced by its slot
        (field and fallback): two renderings that give every subscriber the same message
        have the same fingerprint, although their tokens differ (a nonce per render)."""
        pattern = re.compile(self.token_pattern)

        def slot(match: re.Match[str]) -> str:
            found = self.slots.get(match.group())
            return f"\x00{found.field}\x01{found.fallback}\x00" if found else match.group()

        digest = hashlib.sha256()
        for part in (self.subject, self.html, self.text):
            digest.update(pattern.sub(slot, part).encode() + b"\x00\x00")
        return digest.hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(
            {
                "subject": self.subject,
                "html": self.html,
                "text": self.text,
                "slots": {t: [s.field, s.fallback] for t, s in self.slots.items()},
                "token_pattern": self.token_pattern,
            }
        )

    @classmethod
    def from_json(cls, data: str) -> RenderedEdition:
        raw = json.loads(data)
        slots = {t: Slot(f, fb) for t, (f, fb) in raw["slots"].items()}
        return cls(raw["subject"], raw["html"], raw["text"], slots, raw["token_pattern"])
