"""Per-recipient envelope senders (VERP): ``bounces+<token>@example.org``. Pure.

A bounce goes to the envelope sender (RFC 5321 §4.5.5, the MAIL FROM of the message), so
with one envelope sender per recipient and edition a bounce names whom it is about even
when its body does not (qmail-style notices, mailbox-full replies that quote nothing).

The token is 14 bytes, lowercase base32 (RFC 4648 §6, no padding): 23 characters:

- 4 bytes: the edition's running number (big-endian);
- 10 bytes: HMAC-SHA256 of ``"<number>\\n<address lower-cased>"`` under a key derived for
  this purpose from ``secret_key`` (``subscribers.tokens.derive_key``), truncated to 80 bits.

So the address is not in the token (a relay's logs or a forwarded bounce show nothing),
nobody without the key can make a token that verifies, and making one costs ~2 µs per
message. The recipient is recovered by a keyed lookup: the token names the edition, and
the ledger's deliveries of that edition are the candidates (``bounces.verify``); when the
report names an address, checking that one costs one HMAC.

RFC 5321 §4.5.3.1.1: a local part is at most 64 octets; ``bounces+`` plus 23 characters is
31. Lowercase letters and digits 2-7 only: safe in a local part, and a relay that changes
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
TOKEN_LENGTH = 23  # base32 characters of 14 bytes, padding dropped
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

    def token(self, number: int, email: str, key: int = 0) -> str:
        """The token of (edition number, address)."""
        mac = hmac.digest(self._keys[key], f"{number}\n{email.lower()}".encode(), "sha256")
        raw = struct.pack(">I", number & 0xFFFFFFFF) + mac[:10]
        return base64.b32encode(raw).decode("ascii").rstrip("=").lower()

    def envelope_sender(self, number: int, email: str) -> str:
        """``bounces+<token>@domain`` for this recipient of edition ``number``."""
        return f"{self.local}{DELIMITER}{self.token(number, email)}@{self.domain}"

    def sender_for(self, number: int) -> Callable[[str], str]:
        """``envelope_sender`` for one edition, as a one-argument function (the send path
        calls it per message)."""
        local, domain, key = f"{self.local}{DELIMITER}", self.domain, self._keys[0]
        prefix = struct.pack(">I", number & 0xFFFFFFFF)
        head = f"{number}\n"
        digest, encode = hmac.digest, base64.b32encode

        def sender(email: str) -> str:
            mac = digest(key, (head + email.lower()).encode(), "sha256")
            token = encode(prefix + mac[:10]).decode("ascii").rstrip("=").lower()
            return f"{local}{token}@{domain}"

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
        try:
            raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
        except (binascii.Error, ValueError):
            return None
        return struct.unpack(">I", raw[:4])[0] if len(raw) == 14 else None

    def verifies(self, token: str, email: str) -> bool:
        """Whether ``token`` was made for ``email`` (by any accepted key)."""
        number = self.edition_number(token)
        if number is None:
            return False
        return any(
            hmac.compare_digest(self.token(number, email, k), token.lower())
            for k in range(len(self._keys))
        )
