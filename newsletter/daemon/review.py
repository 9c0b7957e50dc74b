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
    edition_to_review,
)
from ..edition.languages import Language
from ..errors import InputError, NewsletterError
from ..settings import Settings
from ..store.database import Store, StoredEdition
from ..store.reviews import Decision, Reviews
from ..subscribers.tokens import REVIEW
from .pagelanguage import pages_language
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
    _ = pages_language(settings).gettext
    review = ReviewLink.read(token_codec(settings, store, now, REVIEW), token)
    if review is None:
        raise _Refused(
            400,
            _("This link is not valid"),
            _("The link is damaged, incomplete or not one of ours. Nothing changed."),
        )
    if review.expired(now):
        approve = f"<code>newsletter approve --date {review.day}</code>"
        hold = f"<code>newsletter hold --date {review.day}</code>"
        raise _Refused(
            410,
            _("This link has expired"),
            _(
                "Nothing changed. Use %(approve)s or %(hold)s, or the link of a newer proof.",
                approve=approve,
                hold=hold,
            ),
        )
    return review


def _state(settings: Settings, token: str, now: datetime) -> tuple[ReviewLink, str, str]:
    """(link, the edition's subject, what was decided so far) for the page.

    Raises:
        _Refused, NewsletterError: as ``_checked``.
    """
    lang = pages_language(settings)
    with Store(settings.database) as store:
        review, stored = _checked(settings, store, token, now)
        decisions = Reviews(store).decisions(stored.id)
    said = "; ".join(_describe(d, lang) for d in decisions)
    return review, stored.subject, said or lang.gettext("nothing yet")


def _describe(decision: Decision, lang: Language) -> str:
    """A decision in the page's language (``approval.describe`` is the command line's
    English): ``held by link from ed@example.org on 29 November 2026 at 06:12 UTC (why)``."""
    _ = lang.gettext
    at = datetime.fromisoformat(decision.decided_at)
    day, time = lang.format_date(at, "long"), f"{lang.format_time(at)} UTC"
    approved = decision.decision == APPROVED
    if decision.source == "command":
        command = "newsletter approve" if approved else "newsletter hold"
        said = (
            _("approved with %(command)s (user %(who)s) on %(day)s at %(time)s", command=command,
              who=decision.who, day=day, time=time)
            if approved
            else _("held with %(command)s (user %(who)s) on %(day)s at %(time)s", command=command,
                   who=decision.who, day=day, time=time)
        )  # fmt: skip
    elif approved:
        said = _("approved by link from %(who)s on %(day)s at %(time)s", who=decision.who,
                 day=day, time=time)  # fmt: skip
    else:
        said = _("held by link from %(who)s on %(day)s at %(time)s", who=decision.who, day=day,
                 time=time)  # fmt: skip
    return said + (f" ({decision.reason})" if decision.reason else "")


def _checked(
    settings: Settings, store: Store, token: str, now: datetime
) -> tuple[ReviewLink, StoredEdition]:
    """The link and its edition, still open to a decision.

    Raises:
        _Refused: as ``_link``, or the edition is gone or already sent (409).
    """
    lang = pages_language(settings)
    _ = lang.gettext
    review = _link(settings, store, token, now)
    day = lang.format_date(review.day, "long")
    try:
        stored = edition_to_review(store, review.day)
    except InputError:  # its message is the command line's English
        if store.edition_for(review.day) is None:
            text = _("There is no edition of %(day)s any more. Nothing changed.", day=day)
        else:
            text = _(
                "Edition %(day)s was already sent to the list: it is too late to approve or "
                "hold it. Nothing changed.",
                day=day,
            )
        raise _Refused(409, _("Too late"), text) from None
    proofs = [p for p in Reviews(store).proofs(stored.id) if p.outcome == "sent"]
    if proofs and proofs[-1].fingerprint != review.fingerprint:
        raise _Refused(
            409,
            _("A newer proof was sent"),
            _(
                "The edition changed since this proof; decide from the newest proof's link. "
                "Nothing changed."
            ),
        )
    return review, stored


def _decide(settings: Settings, token: str, decision: str, reason: str, now: datetime) -> str:
    """Record the decision; return the sentence for the page.

    Raises:
        _Refused: as ``_checked``, or the other decision came first (409).
        NewsletterError: it could not be recorded.
    """
    lang = pages_language(settings)
    _ = lang.gettext
    with Store(settings.database) as store:
        review, stored = _checked(settings, store, token, now)
        by = ("link", review.editor)
        day = lang.format_date(stored.day, "long")
        try:
            recorded, new = decide(store, stored, review.fingerprint, decision, by, reason, now)
        except InputError:  # the other decision came first: name it, in the page's words
            version = review.fingerprint
            first = [d for d in Reviews(store).decisions(stored.id) if d.fingerprint == version]
            said = _(
                "Edition %(day)s was already %(said)s: the first decision stands. Nothing changed.",
                day=day,
                said=html.escape(_describe(first[0], lang)) if first else "",
            )
            raise _Refused(409, _("Someone decided first"), said) from None
    if not new:
        said = html.escape(_describe(recorded, lang))
        return _("Edition %(day)s was already %(said)s. Nothing changed.", day=day, said=said)
    if decision == APPROVED:
        return _("Edition %(day)s is approved: the list gets it at the next send.", day=day)
    return _("Edition %(day)s is held: the list gets nothing until it is approved.", day=day)


async def review_page(request: web.Request) -> web.Response:
    settings, now = request.app[_SETTINGS], request.app[_CLOCK]()
    lang = pages_language(settings)
    _ = lang.gettext
    try:
        review, subject, decided = await asyncio.to_thread(
            _state, settings, request.match_info["token"], now
        )
    except _Refused as refused:
        return page(refused.title, f"<p>{refused.text}</p>", refused.status, language=lang)
    except NewsletterError as exc:
        return _unavailable(exc, lang)
    so_far = _("Decided so far: %(decided)s.", decided=html.escape(decided))
    approve, hold = _("Approve: send it to the list"), _("Hold: keep it from the list")
    why = _("Why (for the other editors)")
    return page(
        _("Edition %(day)s", day=lang.format_date(review.day, "long")),
        f"<p><strong>{html.escape(subject)}</strong></p><p>{so_far}</p>"
        '<form method="post"><input type="hidden" name="decision" value="approve">'
        f'<button type="submit">{approve}</button></form>'
        '<form method="post" style="margin-top:1.5rem"><input type="hidden" name="decision" '
        f'value="hold"><label>{why}<br><input name="reason" '
        'maxlength="300" style="width:100%;max-width:20rem"></label><br>'
        f'<button type="submit">{hold}</button></form>',
        language=lang,
    )


async def review_decision(request: web.Request) -> web.Response:
    form = await request.post()
    settings, now = request.app[_SETTINGS], request.app[_CLOCK]()
    lang = pages_language(settings)
    _ = lang.gettext
    decision = DECISIONS.get(str(form.get("decision", "")))
    if decision is None:
        said = _(
            "This request did not say %(approve)s or %(hold)s. Nothing changed.",
            approve="<code>decision=approve</code>",
            hold="<code>decision=hold</code>",
        )
        return page(_("Nothing changed"), f"<p>{said}</p>", 400, language=lang)
    reason = " ".join(str(form.get("reason", "")).split())[:300]
    try:
        text = await asyncio.to_thread(
            _decide, settings, request.match_info["token"], decision, reason, now
        )
    except _Refused as refused:
        return page(refused.title, f"<p>{refused.text}</p>", refused.status, language=lang)
    except NewsletterError as exc:  # not recorded: never say it was
        return _unavailable(exc, lang)
    return page(_("Decision recorded"), f"<p>{text}</p>", language=lang)


def _unavailable(exc: NewsletterError, lang: Language) -> web.Response:
    print(f"newsletter serve: decision not recorded: {exc}", file=sys.stderr, flush=True)
    _ = lang.gettext
    said = _(
        "The decision could not be recorded just now, so nothing changed. Try again in "
        "a while, or use %(approve)s / %(hold)s.",
        approve="<code>newsletter approve</code>",
        hold="<code>newsletter hold</code>",
    )
    return page(_("Please try again later"), f"<p>{said}</p>", 503, language=lang)
