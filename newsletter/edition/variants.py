"""Section preferences: which part of the edition a subscriber gets. Pure.

A subscriber's ``sections`` CSV column lists the sections they want (``World; Sport``,
separated by ``;``, ``,`` or ``|``, any case). Each distinct choice that differs from the
whole edition is a *variant*: the same edition with only those sections, rendered and
inlined once, never per subscriber. A variant's key names the sections it keeps, in the
edition's order, so two subscribers who chose the same sections in other words
(``sport,world`` and ``World | Sport``) share one rendering.

An empty column means the whole edition. A choice that matches no section of the day
gives no key at all: that subscriber gets no message for this edition (counted, not an
error), because a digest of sections they did not ask for is exactly what they opted out of.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..models import Edition, Subscriber
from .rendered import RenderedEdition

SECTIONS_COLUMN = "sections"
FULL = ""  # the key of the whole edition
_SEPARATORS = re.compile(r"[;,|]")


def parse_choice(cell: str) -> frozenset[str]:
    """The section names a ``sections`` cell lists; empty means "everything"."""
    return frozenset(n for part in _SEPARATORS.split(cell) if (n := " ".join(part.split())))


def variant_key(section_names: Iterable[str], cell: str) -> str | None:
    """The variant a ``sections`` cell asks for: ``FULL`` (the whole edition), the key of
    a variant, or None when none of the chosen sections is in this edition."""
    chosen = {name.casefold() for name in parse_choice(cell)}
    if not chosen:
        return FULL
    names = list(section_names)
    kept = [n.casefold() for n in names if n.casefold() in chosen]
    if not kept:
        return None
    return FULL if len(kept) == len(names) else "|".join(kept)


def variant_edition(edition: Edition, key: str) -> Edition:
    """The edition reduced to the sections a variant key keeps."""
    if key == FULL:
        return edition
    kept = set(key.split("|"))
    sections = tuple(s for s in edition.sections if s.name.casefold() in kept)
    return Edition(edition.key, edition.number, sections)


@dataclass(frozen=True, slots=True)
class Variants:
    """The variants of one edition, rendered: what the send loop picks from per subscriber."""

    section_names: tuple[str, ...]
    rendered: Mapping[str, RenderedEdition] = field(default_factory=dict)

    def key_for(self, subscriber: Subscriber) -> str | None:
        """The subscriber's variant key (``FULL`` for the whole edition), or None when
        none of their sections is in the edition."""
        return variant_key(self.section_names, subscriber.fields.get(SECTIONS_COLUMN, ""))
