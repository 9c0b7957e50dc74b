"""The approve/hold links of a proof (aiohttp), mounted by ``newsletter serve`` beside the
unsubscribe endpoint.

``/review/<token>`` (the token: ``edition.approval.ReviewLink``, sealed for this purpose
only, so an unsubscribe token never opens it):

- ``GET`` shows the edition, what was decided so far and two buttons, Approve and Hold
  (with a reason); it changes nothing, since link scanners and previews follow GETs;
- ``POST`` with ``decision=approve`` or ``decision=hold`` records it, as ``newsletter
  approve``/``hold`` do, by "link from <the editor's address>";
- a forged or malformed token: 400; an expired one: 410; changing nothing either way;
- an edition already sent or gone, a link from an older proof than the latest, or a
  decision already made by someone else (the first stands): 409, saying which;
- a decision that cannot be recorded (read-only database): 503, nothing pretends it worked.
"""

from __future__ import annotations

import asyncio
import html
import sys
from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from ..edition.approval import (
    APPROVED,
    HELD,
    ReviewLink,
    decide,
    describe,
    edition_to_review,
)
from ..errors import InputError, NewsletterError
from ..settings import Settings
from ..store.database import Store, StoredEdition
from ..store.reviews import Reviews
from ..subscribers.tokens import REVIEW
from .web import page, token_codec

Clock = Callable[[], datetime]
_SETTINGS = web.AppKey("review_settings", Settings)
_CLOCK = web.AppKey("review_clock", Callable[[], datetime])  # type: ignore[arg-type]
DECISIONS = {"approve": APPROVED, "hold": HELD}


def add_review_routes(app: web.Application, settings: Settings, clock: Clock) -> None:
    """Register ``GET`` and ``POST /review/{token}`` on ``app``."""
    app[_SETTINGS], app[_CLOCK] = settings, clock
    app.router.add_get("/review/{token}", review_page)
    app.router.add_post("/review/{token}", review_decision)


class _Refused(Exception):
    """The request changes nothing: ``status`` and a sentence for the page."""

    def __init__(self, status: int, title: str, text: str) -> None:
        super().__init__(text)
        self.status, self.title, self.text = status, title, text


def _link(settings: Settings, store: Store, token: str, now: datetime) -> ReviewLink:
    """The link's content, checked: authentic, not expired, from the latest proof.

    Raises:
        _Refused: forged (400), expired (410), or superseded by a newer proof (409).
    """
    review = ReviewLink.read(token_codec(settings, store, now, REVIEW), token)
    if review is None:
        raise _Refused(
            400,
            "This link is not valid",
            "The link is damaged, incomplete or not one of ours. Nothing changed.",
        )
    if review.expired(now):
        raise _Refused(
            410,
            "This link has expired",
            f"Nothing changed. Use <code>newsletter approve --date {review.day}</code> or "
            f"<code>newsletter hold --date {review.day}</code>, or the link of a newer proof.",
        )
    return review


def _state(settings: Settings, token: str, now: datetime) -> tuple[ReviewLink, str, str]:
    """(link, the edition's subject, what was decided so far) for the page.

    Raises:
        _Refused, NewsletterError: as ``_checked``.
    """
    with Store(settings.database) as store:
        review, stored = _checked(settings, store, token, now)
        decisions = Reviews(store).decisions(stored.id)
    said = "; ".join(describe(d) + (f" ({d.reason})" if d.reason else "") for d in decisions)
    return review, stored.subject, said or "nothing yet"


def _checked(
    settings: Settings, store: Store, token: str, now: datetime
) -> tuple[ReviewLink, StoredEdition]:
    """The link and its edition, still open to a decision.

    Raises:
        _Refused: as ``_link``, or the edition is gone or already sent (409).
    """
    review = _link(settings, store, token, now)
    try:
        stored = edition_to_review(store, review.day)
    except InputError as exc:
        raise _Refused(409, "Too late", html.escape(exc.message)) from None
    proofs = [p for p in Reviews(store).proofs(stored.id) if p.outcome == "sent"]
    if proofs and proofs[-1].fingerprint != review.fingerprint:
        raise _Refused(
            409,
            "A newer proof was sent",
            "The edition changed since this proof; decide from the newest proof's link. "
            "Nothing changed.",
        )
    return review, stored


def _decide(settings: Settings, token: str, decision: str, reason: str, now: datetime) -> str:
    """Record the decision; return the sentence for the page.

    Raises:
        _Refused: as ``_checked``, or the other decision came first (409).
        NewsletterError: it could not be recorded.
    """
    with Store(settings.database) as store:
        review, stored = _checked(settings, store, token, now)
        by = ("link", review.editor)
        try:
            recorded, new = decide(store, stored, review.fingerprint, decision, by, reason, now)
        except InputError as exc:
            raise _Refused(409, "Someone decided first", html.escape(exc.message)) from None
    day = stored.day
    if not new:
        return f"Edition {day} was already {html.escape(describe(recorded))}. Nothing changed."
    if decision == APPROVED:
        return f"Edition {day} is approved: the list gets it at the next send."
    return f"Edition {day} is held: the list gets nothing until it is approved."


async def review_page(request: web.Request) -> web.Response:
    settings, now = request.app[_SETTINGS], request.app[_CLOCK]()
    try:
        review, subject, decided = await asyncio.to_thread(
            _state, settings, request.match_info["token"], now
        )
    except _Refused as refused:
        return page(refused.title, f"<p>{refused.text}</p>", refused.status)
    except NewsletterError as exc:
        return _unavailable(exc)
    return page(
        f"Edition {review.day}",
        f"<p><strong>{html.escape(subject)}</strong></p><p>Decided so far: "
        f"{html.escape(decided)}.</p>"
        '<form method="post"><input type="hidden" name="decision" value="approve">'
        '<button type="submit">Approve: send it to the list</button></form>'
        '<form method="post" style="margin-top:1.5rem"><input type="hidden" name="decision" '
        'value="hold"><label>Why (for the other editors)<br><input name="reason" '
        'maxlength="300" style="width:100%;max-width:20rem"></label><br>'
        '<button type="submit">Hold: keep it from the list</button></form>',
    )


async def review_decision(request: web.Request) -> web.Response:
    form = await request.post()
    decision = DECISIONS.get(str(form.get("decision", "")))
    if decision is None:
        return page(
            "Nothing changed",
            "<p>This request did not say <code>decision=approve</code> or "
            "<code>decision=hold</code>. Nothing changed.</p>",
            400,
        )
    reason = " ".join(str(form.get("reason", "")).split())[:300]
    settings, now = request.app[_SETTINGS], request.app[_CLOCK]()
    try:
        text = await asyncio.to_thread(
            _decide, settings, request.match_info["token"], decision, reason, now
        )
    except _Refused as refused:
        return page(refused.title, f"<p>{refused.text}</p>", refused.status)
    except NewsletterError as exc:  # not recorded: never say it was
        return _unavailable(exc)
    return page("Decision recorded", f"<p>{text}</p>")


def _unavailable(exc: NewsletterError) -> web.Response:
    print(f"newsletter serve: decision not recorded: {exc}", file=sys.stderr, flush=True)
    return page(
        "Please try again later",
        "<p>The decision could not be recorded just now, so nothing changed. Try again in "
        "a while, or use <code>newsletter approve</code> / <code>newsletter hold</code>.</p>",
        503,
    )
