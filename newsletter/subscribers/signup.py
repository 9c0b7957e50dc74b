"""Sign-up with double opt-in: the form's rules, the confirmation token, the limits, and
the list change a confirmation makes.

1. A reader posts the form (``read_form``: a valid address, by email-validator without
   DNS; an optional name; the sections they want; an empty honeypot field).
2. ``admit`` counts the request against the limits (per address per day, per IP per hour)
   and says when to try again when one is reached; the caller then mails a link carrying
   a ``ConfirmationCodec`` token: the request sealed with its issue time (AES-SIV under a
   key of its own purpose, so no unsubscribe token is ever valid here and no confirmation
   token is valid as an unsubscribe).
3. Opening the link changes nothing; pressing its button calls ``confirm``: the consent
   (when, from which IP) is recorded in the database at once and the address is written
   into the CSV as active under the run lock, or by the send holding it when it ends.

An address that unsubscribed or bounced comes back this way (the confirmation is their new,
explicit consent, and lifts the record), unless it left again after the link was issued. A
complaint is never lifted from the form. Pure except ``admit`` and ``confirm`` (the
database and the CSV); the clock is passed in.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from ..store.consents import Consents, Requests
from ..store.database import Store
from ..store.suppressions import COMPLAINT, Suppressions
from .changes import ListFiles, apply_when_free
from .csvfile import clean_field, normalise_address
from .tokens import derive_key

PURPOSE = b"newsletter sign-up confirmation v1"
PREFIX = "c1"
MAX_EMAIL = 254  # RFC 5321 4.5.3.1.3: the longest usable path is 256 octets with <>
MAX_NAME = 100
MAX_SECTIONS = 30
MAX_SECTION = 80
MAX_TOKEN = 2400  # the longest request above, sealed and base64-encoded, fits
HONEYPOT = "website"  # a field people never see; bots fill in anything called so
SKEW = timedelta(minutes=5)  # a token "issued" later than now by more is not ours
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


class FormProblem(ValueError):
    """The form cannot be used as sent: the message says which field and why."""


@dataclass(frozen=True, slots=True)
class SignupRequest:
    """What a reader asked for: a normalised address, a name (may be empty), sections
    (empty: the whole edition)."""

    email: str
    name: str = ""
    sections: tuple[str, ...] = ()

    def fields(self) -> dict[str, str]:
        """The CSV columns the confirmed row gets besides email and name."""
        return {"sections": "; ".join(self.sections)} if self.sections else {}


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A confirmation token read back: the request and when its link was issued (UTC)."""

    request: SignupRequest
    issued: datetime

    def expired(self, now: datetime, hours: float) -> bool:
        """Whether the link is too old (``hours`` after it was issued) or from the future."""
        return now - self.issued > timedelta(hours=hours) or self.issued - now > SKEW


class ConfirmationCodec:
    """Seals sign-up requests into link tokens and reads them back (AES-SIV, RFC 5297,
    under ``derive_key(secret, PURPOSE)``; the list id as associated data). Accepts tokens
    made with the current key or one of ``previous``."""

    def __init__(self, secret: bytes, list_id: str, previous: Sequence[bytes] = ()) -> None:
        keys = [secret, *previous]
        self._current = AESSIV(derive_key(secret, PURPOSE))
        self._accepted = [AESSIV(derive_key(k, PURPOSE)) for k in keys]
        self._ad = [list_id.encode()]

    def make(self, request: SignupRequest, now: datetime) -> str:
        """The token for ``request`` issued at ``now`` (to the second)."""
        payload = {
            "e": request.email,
            "n": request.name,
            "s": list(request.sections),
            "t": int(now.timestamp()),
        }
        plain = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        sealed = self._current.encrypt(plain, self._ad)
        return PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def read(self, token: str) -> Confirmation | None:
        """The request in a token, or None when it is malformed, forged, tampered with, for
        another list or another purpose, or made with a key no longer accepted."""
        if not token.startswith(PREFIX) or len(token) > MAX_TOKEN:
            return None
        body = token[len(PREFIX) :]
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            return None
        for key in self._accepted if len(sealed) > 16 else []:
            try:
                data = json.loads(key.decrypt(sealed, self._ad))
                request = SignupRequest(data["e"], data["n"], tuple(data["s"]))
                return Confirmation(request, datetime.fromtimestamp(int(data["t"]), UTC))
            except (InvalidTag, ValueError, KeyError, TypeError):
                continue
        return None


def read_form(fields: Mapping[str, Sequence[str]], offered: Sequence[str]) -> SignupRequest | None:
    """The request in a posted form (``email``, ``name``, ``sections`` any number of times,
    the ``website`` honeypot); None when the honeypot is filled in (a bot: answer as usual,
    do nothing). Sections not among ``offered`` (any case) are left out.

    Raises:
        FormProblem: no address or an invalid one, a field given twice or too long.
    """
    if any(v.strip() for v in fields.get(HONEYPOT, [])):
        return None
    email = _one(fields, "email", MAX_EMAIL)
    if not email:
        raise FormProblem("Please give your email address.")
    try:
        email = normalise_address(email)
    except ValueError as exc:
        raise FormProblem(f"{email!r} is not a valid email address: {exc}.") from None
    name = clean_field(_one(fields, "name", MAX_NAME * 4))
    if len(name) > MAX_NAME:
        raise FormProblem(f"The name is longer than {MAX_NAME} characters.")
    chosen = fields.get("sections", [])
    if len(chosen) > MAX_SECTIONS or any(len(s) > MAX_SECTION for s in chosen):
        raise FormProblem("Too many sections, or a section name that is too long.")
    wanted = {s.strip().casefold() for s in chosen}
    return SignupRequest(email, name, tuple(s for s in offered if s.casefold() in wanted))


def _one(fields: Mapping[str, Sequence[str]], name: str, limit: int) -> str:
    values = fields.get(name, [])
    if len(values) > 1:
        raise FormProblem(f"The field {name!r} was sent more than once.")
    value = values[0].strip() if values else ""
    if len(value) > limit:
        raise FormProblem(f"The {name} is longer than {limit} characters.")
    return value


@dataclass(frozen=True, slots=True)
class Limits:
    """Confirmation messages allowed per address per day, and per IP address per hour."""

    per_address_day: int = 3
    per_ip_hour: int = 10


def admit(store: Store, email: str, ip: str, now: datetime, limits: Limits) -> datetime | None:
    """Count a sign-up request, or say when it may be tried again (a limit is reached;
    nothing counted). Whether the address is on the list makes no difference, so the
    answers cannot tell who subscribes."""
    requests = Requests(store)
    keys = {
        f"ip:{ip}": (HOUR, limits.per_ip_hour),
        f"address:{email.lower()}": (DAY, limits.per_address_day),
    }
    for key, (window, allowed) in keys.items():
        recent = requests.since(key, now - window)
        if len(recent) >= allowed:
            return datetime.fromisoformat(recent[-allowed]) + window
    requests.add(list(keys), now)
    return None


def complained(store: Store, email: str) -> bool:
    """Whether the address is flagged for a spam complaint (the form never re-adds it)."""
    record = Suppressions(store).record_of(email)
    return record is not None and record.status == COMPLAINT


@dataclass(frozen=True, slots=True)
class Confirmed:
    """What a confirmation did. ``outcome``: ``subscribed`` (in the CSV now), ``queued``
    (recorded; a send holds the list, which it updates when it ends), ``complaint``
    (refused), ``left since`` (they unsubscribed after the link was issued: refused).
    ``new``: a first confirmation of this request (False when confirmed before)."""

    outcome: str
    new: bool = False


def confirm(
    files: ListFiles, confirmation: Confirmation, ip: str, now: datetime, source: str = "web form"
) -> Confirmed:
    """Record the consent and put the address on the list as active.

    Raises:
        StoreError: the database cannot be written (nothing recorded).
        InputError: the CSV cannot be rewritten (the consent is recorded all the same and
            the list is updated by the next run that can).
    """
    request = confirmation.request
    with Store(files.database) as store:
        table = Suppressions(store)
        left = table.record_of(request.email)
        if left is not None and left.status == COMPLAINT:
            return Confirmed("complaint")
        if left is not None and datetime.fromisoformat(left.since) > confirmation.issued:
            return Confirmed("left since")
        new = Consents(store).record(
            request.email, request.name, request.fields(), confirmation.issued, now, ip, source
        )
        if left is not None:
            table.forget(request.email)  # their new, explicit consent
        if not apply_when_free(files, store, now):
            return Confirmed("queued", new)
    return Confirmed("subscribed", new)
