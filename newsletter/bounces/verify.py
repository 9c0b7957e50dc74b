"""Whether a report is about a message this list sent, and to whom.

Anyone can send mail to the bounce address; a report is believed only when:

- the address it was sent to carries a VERP token (``mail.verp``) that verifies for the
  recipient (the token is keyed: nobody without ``secret_key`` can make one), or
- it quotes the Message-ID the ledger recorded for that recipient's copy of an edition
  (``mail.personalize.message_id``: ``<YYYYMMDD.N.<hmac>@domain>``, keyed per edition
  and address).

When the report names another address (a forwarding alias bounced at the final mailbox),
only the token decides whom it is about: a Message-ID is copied easily (anyone it was
sent to, or forwarded to, has it), so a report naming zoe that quotes linus's Message-ID
is forged or stray. When the report names nobody (a redacted ARF report), the token or
the Message-ID decides. Anything else is forged or stray and changes nobody.

Each costs one index lookup whatever the edition's size: a Message-ID is looked up in the
ledger (``deliveries_message_id``), a token's locator leads to its delivery row
(``BounceReports.located``), and a token is checked against an address with one HMAC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..mail.verp import BounceTokens
from ..store.bounces import BounceReports
from .classify import Failure, Verdict

# What mail.personalize.message_id makes: the edition tag YYYYMMDD.N, then 20 hex digits.
_OUR_MESSAGE_ID = re.compile(r"<\d{8}\.(\d+)\.[0-9a-f]{20}@[^<>\s]+>")


@dataclass(frozen=True, slots=True)
class Believed:
    """A recipient a report is believed about, with the edition it bounced on."""

    email: str
    kind: str
    detail: str
    edition_id: int
    proof: str  # "bounce token" or "Message-ID": what made it believed


def believe(
    verdict: Verdict, reports: BounceReports, tokens: BounceTokens | None
) -> list[Believed]:
    """The recipients of ``verdict`` (a hard/soft bounce or a complaint) that the token or a
    quoted Message-ID ties to a message this list sent them; [] when none: forged or
    stray."""
    if tokens is not None:
        for address in verdict.envelope_senders:
            token = tokens.token_in(address)
            if token is not None and (found := _by_token(verdict, reports, tokens, token)):
                return found
    for message_id in verdict.message_ids:
        if found := _by_message_id(verdict, reports, message_id):
            return found
    return []


def _by_token(
    verdict: Verdict, reports: BounceReports, tokens: BounceTokens, token: str
) -> list[Believed]:
    number = tokens.edition_number(token)
    edition_id = None if number is None else reports.edition_id(number)
    if edition_id is None:
        return []
    named = [f for f in verdict.failures if tokens.verifies(token, f.email)]
    if named:
        return [_believed(f, edition_id, "bounce token") for f in named[:1]]
    locator = tokens.locator(token)  # the report names someone else or nobody
    for email in [] if locator is None else reports.located(number, locator):
        if tokens.verifies(token, email):
            return [_believed(_stand_in(verdict, email), edition_id, "bounce token")]
    return []


def _by_message_id(verdict: Verdict, reports: BounceReports, message_id: str) -> list[Believed]:
    match = _OUR_MESSAGE_ID.fullmatch(message_id)
    edition_id = None if match is None else reports.edition_id(int(match.group(1)))
    if edition_id is None:
        return []
    email = reports.sent_message(edition_id, message_id)  # one index lookup
    if email is None:
        return []
    # a report may change the case of the address: compared lower-cased
    named = [f for f in verdict.failures if f.email.lower() == email.lower()]
    if named:
        return [_believed(f, edition_id, "Message-ID") for f in named[:1]]
    if verdict.failures:  # it names others: a quoted Message-ID is no proof about them
        return []
    return [_believed(_stand_in(verdict, email), edition_id, "Message-ID")]


def _stand_in(verdict: Verdict, email: str) -> Failure:
    """The report's failure, applied to the recipient its token or Message-ID names."""
    first = verdict.failures[0] if verdict.failures else None
    detail = first.detail if first else verdict.detail
    return Failure(email.lower(), verdict.kind, detail)


def _believed(failure: Failure, edition_id: int, proof: str) -> Believed:
    return Believed(failure.email.lower(), failure.kind, failure.detail, edition_id, proof)
