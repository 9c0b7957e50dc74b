"""Proofs: the edition's message for each editor, over the list's own transport.

Each editor gets the message a subscriber gets (``mail.proof``), personalised with their
own address, and with their own row's merge fields when they are on the list. A proof is
recorded in ``store.reviews``, never in the delivery ledger: the list's send later is
unaffected. Consent holds here too: an editor whose address left the list (on record in
the database, or not active in the CSV) is not mailed, and the outcome says so.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

from ..mail.personalize import MessageTemplate
from ..models import DeliveryStatus, Job, Outcome, Subscriber, SubscriberStatus
from ..store.database import Store
from ..store.reviews import Reviews
from ..store.suppressions import Suppressions
from ..subscribers.consent import describe as describe_left
from ..subscribers.edits import find_subscribers
from .sendloop import Policy, SendLoop, Transport, describe
from .throttle import RateLimiter

SENT = "sent"


@dataclass(frozen=True, slots=True)
class ProofOrder:
    """Which edition version goes to whom: the edition's id and approval fingerprint, the
    editors' addresses, the subscriber CSV (for editors on the list) and the envelope's
    sender."""

    edition_id: int
    fingerprint: str
    recipients: tuple[str, ...]
    subscribers: Path
    envelope_from: str


async def send_proofs(
    store: Store,
    order: ProofOrder,
    template_for: Callable[[str], MessageTemplate],
    transport: Transport,
    policy: Policy,
    now: datetime,
) -> dict[str, str]:
    """Send the proof to each editor (``template_for(address)`` builds theirs) and record
    it; return address → ``sent``, or what happened instead (``deferred: 451 ...``,
    ``not sent: unsubscribed on ...``).

    Raises:
        RelayError: the relay cannot be used at all; nothing was sent or recorded.
        InputError: the subscriber CSV cannot be read.
        StoreError: the proofs cannot be recorded.
    """
    outcomes: dict[str, str] = {}
    left = Suppressions(store).lookup(list(order.recipients))
    rows = find_subscribers(order.subscribers, order.recipients)
    date_header = format_datetime(now)
    jobs = []
    for email in order.recipients:
        row = rows.get(email.lower()) or Subscriber(email=email)
        if record := left.get(email.lower()):
            outcomes[email] = f"not sent: {describe_left(record)}"
        elif row.status is not SubscriberStatus.ACTIVE:
            outcomes[email] = f"not sent: {row.status} in {order.subscribers.name}"
        else:
            msgid, data = template_for(email).build(row, date_header)
            jobs.append(Job(order.envelope_from, email, msgid, data, wire_ready=True))
    hooks = _Outcomes(outcomes)
    loop = SendLoop(transport, policy, RateLimiter([]), hooks, time.monotonic, random.Random())
    await loop.run(_each(jobs))
    for job in jobs:  # not handed over: the run stopped first
        outcomes.setdefault(job.recipient, f"not sent: {loop.stop_reason or 'stopped'}")
    if loop.failure is not None:
        outcomes = {
            e: o if o == SENT else f"{o} ({describe(loop.failure)})" for e, o in outcomes.items()
        }
    Reviews(store).record_proofs(order.edition_id, order.fingerprint, outcomes, now)
    return outcomes


def said(outcomes: dict[str, str]) -> str:
    """``sent to ed@example.org; jo@example.org: deferred: 451 ...``."""
    sent = [e for e, o in outcomes.items() if o == SENT]
    others = [f"{e}: {o}" for e, o in outcomes.items() if o != SENT]
    return "; ".join(([f"sent to {', '.join(sent)}"] if sent else []) + others)


class _Outcomes:
    """The send loop's hooks for proofs: the final answer per address, no ledger."""

    def __init__(self, outcomes: dict[str, str]) -> None:
        self.outcomes = outcomes

    def on_start(self, job: Job) -> None:
        return None

    def on_done(self, job: Job, outcome: Outcome, final: bool) -> None:
        if not final:
            return
        if outcome.status is DeliveryStatus.SENT:
            self.outcomes[job.recipient] = SENT
        else:
            reply = f"{outcome.code or ''} {outcome.text}".strip()
            self.outcomes[job.recipient] = f"{outcome.status}: {reply}"


async def _each(jobs: Sequence[Job]) -> AsyncIterator[Job]:
    for job in jobs:
        yield job
