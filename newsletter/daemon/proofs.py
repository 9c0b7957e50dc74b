"""The daemon's side of the approval gate: the proof it sends ``proof_lead`` before a
scheduled send, and the watch over an edition that waits for a decision.

- ``proof_if_due``: with ``approval = "required"`` and ``proof_to``, the editors get a
  proof of the edition the next scheduled send will mail, early enough to look at it. It
  freezes the edition (collecting first, as the send would), so what they see is what the
  list gets; nothing is sent when they already have a proof of this version, or it is
  already approved.
- ``last_decision``: a waiting edition is sent again as soon as someone decides (the
  command line or a link: the database says so, whichever process recorded it).
"""

from __future__ import annotations

from datetime import date, datetime

from ..delivery.proofs import said
from ..delivery.sender import count_rows
from ..edition.approval import verdict
from ..job import check_store, collect, freeze, proof
from ..settings import Settings, values
from ..store.database import Store
from ..store.lock import lock_path, run_lock
from ..store.reviews import Reviews

WAIT_POLL = 2.0  # seconds between looks at the database while an edition waits


async def proof_if_due(settings: Settings, day: date, now: datetime) -> str:
    """Send the editors a proof of ``day``'s edition unless they have one of this version
    or it is approved; return what happened, for the log.

    Raises:
        LockedError: another run holds the lock; nothing was done.
        NewsletterError: as ``job.send_edition`` before it sends (config, template,
            relay, database); nothing was sent to the list in any case.
    """
    with run_lock(lock_path(settings.database)), Store(settings.database) as store:
        check_store(settings, store)
        await collect(settings, store, now)
        plan, _ = await freeze(settings, store, day, now, False, count_rows(settings.subscribers))
        if plan is None or plan.stored is None:
            return f"no edition for {day} (no new articles): no proof to send"
        version, reviews = values.edition_fingerprint(settings, plan), Reviews(store)
        if reviews.proof_sent(plan.stored.id, version):
            return f"edition {day}: the editors already have a proof of this version"
        decisions = reviews.decisions(plan.stored.id)
        if verdict(settings.approval, day, decisions, version).may_send:
            return f"edition {day} is already approved: no proof needed"
        outcomes = await proof(settings, store, plan, settings.proof_to, now)
        return f"proof of edition {day}: {said(outcomes)}"


def last_decision(settings: Settings) -> int:
    """The newest decision's id in the database (0: none yet)."""
    with Store(settings.database) as store:
        return Reviews(store).last_decision_id()
