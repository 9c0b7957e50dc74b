"""The approval gate: which version of an edition editors decided about, and whether the
list may get it now. Pure but for ``edition_to_review`` and ``decide``, which read and
write the database given to them; time always comes in as an argument.

- ``fingerprint`` names one version of an edition: its articles in their order, its
  rendering (templates and the settings the templates show) and the list's mail settings.
  An approval is for one fingerprint: when any of them changes, it lapses.
- ``verdict`` applies the ``approval`` setting to the recorded decisions: ``required``
  sends only an approved version, ``veto`` sends unless the latest decision is a hold. A
  hold stands whatever changes afterwards (the editor saw something wrong): only a later
  approval lifts it.
- ``ReviewLink`` is what a proof's approve/hold link carries, sealed with the unsubscribe
  tokens' codec for another purpose (``subscribers.tokens.REVIEW``), so one never reads as
  the other: the edition's day, the fingerprint the editor saw, the editor, and an expiry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..errors import InputError
from ..models import DeliveryStatus
from ..store.database import Store, StoredEdition
from ..store.reviews import APPROVED, HELD, Decision, Reviews
from ..subscribers.tokens import REVIEW, TokenCodec

NONE, REQUIRED, VETO = "none", "required", "veto"
LINK_LIFETIME = timedelta(days=7)  # how long a proof's approve/hold link works


def fingerprint(article_ids: Sequence[str], rendering: str, identity: Sequence[str]) -> str:
    """16 hex digits naming this version of an edition: its article ids in order, its
    rendering's fingerprint (``RenderedEdition.fingerprint``) and ``identity``, the mail
    settings that are not in the rendering (From, Reply-To, List-Id...)."""
    digest = hashlib.sha256()
    for part in (*article_ids, "\x01", rendering, "\x01", *identity):
        digest.update(part.encode() + b"\x00")
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Verdict:
    """May the list get the edition now; if not, ``reason`` says why and what to run, and
    ``wants_proof`` whether the editors have yet to be shown this version."""

    may_send: bool
    reason: str = ""
    wants_proof: bool = False


def verdict(mode: str, day: date, decisions: Sequence[Decision], current: str) -> Verdict:
    """The gate for the edition of ``day`` at fingerprint ``current``, given its
    ``decisions`` oldest first (``store.reviews``) and the ``approval`` setting ``mode``."""
    if mode == NONE:
        return Verdict(True)
    latest = decisions[-1] if decisions else None
    if latest is not None and latest.decision == HELD:
        return Verdict(False, held_reason(day, latest))
    if mode == VETO:
        return Verdict(True)
    if any(d.decision == APPROVED and d.fingerprint == current for d in decisions):
        return Verdict(True)
    lapsed = any(d.decision == APPROVED for d in decisions)
    why = " (it changed since it was approved: the approval lapsed)" if lapsed else ""
    return Verdict(
        False,
        f"edition {day} waits for approval{why}: newsletter approve --date {day}",
        wants_proof=True,
    )


def held_reason(day: date, hold: Decision) -> str:
    """``edition D is held by ...: what to run``, for the send's summary and /healthz."""
    said = f": {hold.reason}" if hold.reason else ""
    return (
        f"edition {day} is held ({describe(hold)}{said}); to send it anyway: "
        f"newsletter approve --date {day} --override"
    )


def describe(decision: Decision) -> str:
    """``held by link from ed@example.org at 2026-11-29 06:12 UTC``."""
    when = decision.decided_at.replace("T", " ").removesuffix("+00:00")[:16]
    how = "newsletter " + ("approve" if decision.decision == APPROVED else "hold")
    by = f"{how} (user {decision.who})" if decision.source == "command" else None
    return f"{decision.decision} by {by or f'link from {decision.who}'} at {when} UTC"


@dataclass(frozen=True, slots=True)
class ReviewLink:
    """What an approve/hold link says: the edition, the version the editor was shown, who
    was sent it, and until when it works (an aware UTC time)."""

    day: date
    fingerprint: str
    editor: str
    expires: datetime

    def seal(self, codec: TokenCodec) -> str:
        """The token for the link's path; ``codec`` made with ``purpose=REVIEW``."""
        stamp = int(self.expires.timestamp())
        return codec.seal(f"{self.day.isoformat()}\n{self.fingerprint}\n{self.editor}\n{stamp}")

    @classmethod
    def read(cls, codec: TokenCodec, token: str) -> ReviewLink | None:
        """The link in ``token``, or None when it is malformed, forged, for another list or
        purpose (an unsubscribe token), or made with a key no longer accepted."""
        text = codec.read(token)
        parts = text.split("\n") if text is not None else []
        if len(parts) != 4 or not parts[3].isdigit():
            return None
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            return None
        return cls(day, parts[1], parts[2], datetime.fromtimestamp(int(parts[3]), UTC))

    def expired(self, now: datetime) -> bool:
        return now >= self.expires


def review_codec(secret: bytes, list_id: str, previous: Sequence[bytes] = ()) -> TokenCodec:
    """The codec for approve/hold links (never the unsubscribe links' key or prefix)."""
    return TokenCodec(secret, list_id, previous, purpose=REVIEW)


# --- deciding: the command line and the links -----------------------------------------


def edition_to_review(store: Store, day: date) -> StoredEdition:
    """The edition of ``day``, which editors may still approve or hold.

    Raises:
        InputError: there is no edition for ``day``, or the list already got it.
    """
    stored = store.edition_for(day)
    if stored is None:
        raise InputError(
            f"no edition for {day}: nothing to approve or hold",
            f"compose it and show it to the editors first: newsletter send --proof --date {day}",
        )
    sent = store.delivery_counts(stored.id).get(DeliveryStatus.SENT.value, 0)
    if sent:
        raise InputError(
            f"edition {day} was already sent ({sent} message{'s' * (sent != 1)}): too late "
            "to approve or hold it",
            "see `newsletter status`",
        )
    return stored


def decide(
    store: Store,
    stored: StoredEdition,
    version: str,
    decision: str,
    by: tuple[str, str],
    reason: str,
    now: datetime,
    override: bool = False,
) -> tuple[Decision, bool]:
    """Record ``decision`` (``approved``/``held``) about version ``version`` of ``stored``,
    ``by`` (``("command", user)`` or ``("link", editor)``); return it and True. The first
    decision about a version stands unless ``override``: the same decision made again
    returns the first one and False.

    Raises:
        InputError: the other decision about this version was recorded first (named).
        StoreError: the database cannot be written.
    """
    reviews = Reviews(store)
    recorded, new = reviews.decide(stored.id, version, decision, by, reason, now, override)
    if not new and recorded.decision != decision:
        other = "hold" if recorded.decision == APPROVED else "approve"
        said = f" ({recorded.reason})" if recorded.reason else ""
        raise InputError(
            f"edition {stored.day} was already {describe(recorded)}{said}: the first "
            "decision stands",
            f"to replace it: newsletter {other} --date {stored.day} --override",
        )
    return recorded, new
