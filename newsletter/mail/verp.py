"""Per-recipient envelope senders (VERP): ``bounces+<token>@example.org``. Pure.

A bounce goes to the envelope sender (RFC 5321 §4.5.5, the MAIL FROM of the message), so
with one envelope sender per recipient and edition a bounce names whom it is about even
when its body does not (qmail-style notices, mailbox-full replies that quote nothing).

The token is 20 bytes, lowercase base32 (RFC 4648 §6, no padding): 32 characters:

- 4 bytes: the edition's running number (big-endian);
- 6 bytes: the locator, the first 12 hex digits of the keyed code in the recipient's
  Message-ID (``mail.personalize.message_id``), which the ledger records: with an index
  on it (migration 11) the token leads straight to its one delivery row, whatever the
  edition's size;
- 10 bytes: HMAC-SHA256 of ``"<number>\n<address lower-cased>"`` under a key derived for
  this purpose from ``secret_key`` (``subscribers.tokens.derive_key``), truncated to 80
  bits: what makes the token believed.

So the address is not in the token (a relay's logs or a forwarded bounce show nothing),
nobody without the key can make a token that verifies (a tampered locator only finds
another row, whose address the code does not verify), and making one costs one HMAC per
message (the locator is read off the Message-ID the message already has). A token made
with a previous key still leads to its row and verifies under that key.

RFC 5321 §4.5.3.1.1: a local part is at most 64 octets; ``bounces+`` plus 32 characters is
40. Lowercase letters and digits 2-7 only: safe in a local part, and a relay that changes
the case of the local part (some do) changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct
from collections.abc import Callable, Sequence

from ..subscribers.tokens import derive_key

PURPOSE = b"newsletter bounce address v1"
TOKEN_LENGTH = 32  # base32 characters of 20 bytes (no padding needed)
LOCATOR_BYTES = 6  # of the Message-ID's code: 12 hex digits
_NO_LOCATOR = bytes(LOCATOR_BYTES)
MAX_LOCAL_PART = 64  # RFC 5321 §4.5.3.1.1
DELIMITER = "+"  # Postfix's recipient_delimiter, qmail's and Exim's usual one


def split_bounce_address(bounce_address: str) -> tuple[str, str]:
    """(local part, domain) of ``bounces@example.org``.

    Raises:
        ValueError: not a plain address, or too long for a token to fit in its local part.
    """
    local, at, domain = bounce_address.rpartition("@")
    if not at or not local or not domain or DELIMITER in local:
        raise ValueError(f"{bounce_address!r} is not a plain address like bounces@example.org")
    if len(local.encode()) + 1 + TOKEN_LENGTH > MAX_LOCAL_PART:
        room = MAX_LOCAL_PART - 1 - TOKEN_LENGTH
        raise ValueError(f"its local part is longer than {room} characters (RFC 5321: 64 octets)")
    return local, domain


class BounceTokens:
    """Makes envelope senders with the current key; verifies tokens made with it or with an
    accepted previous key (``previous_secret_keys``)."""

    def __init__(self, secret: bytes, bounce_address: str, previous: Sequence[bytes] = ()):
        self.local, self.domain = split_bounce_address(bounce_address)
        self._keys = [derive_key(secret, PURPOSE), *(derive_key(p, PURPOSE) for p in previous)]

    def sender_for(self, number: int) -> Callable[[str, str], str]:
        """For edition ``number``, the function (address, Message-ID of that address's
        copy) -> ``bounces+<token>@domain``: what is the same for the whole edition is
        worked out once here, the send path calls the function per message."""
        local, domain, key = f"{self.local}{DELIMITER}", self.domain, self._keys[0]
        prefix = struct.pack(">I", number & 0xFFFFFFFF)
        encode = base64.b32encode

        def sender(email: str, message_id: str) -> str:
            raw = prefix + locator_of(message_id) + _code(key, number, email)
            return f"{local}{encode(raw).decode('ascii').lower()}@{domain}"

        return sender

    def token_in(self, address: str) -> str | None:
        """The token in an envelope recipient like ``bounces+<token>@domain`` (any case),
        or None when the address is not one of ours."""
        local, _, domain = address.strip().strip("<>").rpartition("@")
        base, plus, token = local.partition(DELIMITER)
        if not plus or base.lower() != self.local.lower() or domain.lower() != self.domain.lower():
            return None
        token = token.lower()
        return token if len(token) == TOKEN_LENGTH else None

    @staticmethod
    def edition_number(token: str) -> int | None:
        """The edition number a token claims (not verified: ``verifies`` does that)."""
        raw = _decode(token)
        return None if raw is None else struct.unpack(">I", raw[:4])[0]

    @staticmethod
    def locator(token: str) -> str | None:
        """The 12 hex digits of the Message-ID code a token carries (not verified)."""
        raw = _decode(token)
        return None if raw is None else raw[4 : 4 + LOCATOR_BYTES].hex()

    def verifies(self, token: str, email: str) -> bool:
        """Whether ``token`` was made for ``email`` (by any accepted key)."""
        raw = _decode(token)
        if raw is None:
            return False
        number = struct.unpack(">I", raw[:4])[0]
        return any(hmac.compare_digest(_code(key, number, email), raw[-10:]) for key in self._keys)


def _code(key: bytes, number: int, email: str) -> bytes:
    """The token's last 10 bytes: HMAC-SHA256 of ``"<number>\n<address lower-cased>"``
    under ``key``, truncated to 80 bits (see the module)."""
    return hmac.digest(key, f"{number}\n{email.lower()}".encode(), "sha256")[:10]


def locator_of(message_id: str) -> bytes:
    """The locator of ``<YYYYMMDD.N.<20 hex digits>@domain>``: its first 12 hex digits as
    bytes (zeros for another shape: such a token leads nowhere)."""
    code = message_id.rpartition("@")[0].rpartition(".")[2]
    try:
        return bytes.fromhex(code[: 2 * LOCATOR_BYTES])
    except ValueError:
        return _NO_LOCATOR


def _decode(token: str) -> bytes | None:
    try:
        raw = base64.b32decode(token.upper())
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 4 + LOCATOR_BYTES + 10 else None
