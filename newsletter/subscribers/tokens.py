"""Unsubscribe tokens: opaque, unforgeable, stable per (list, address), rotatable. Pure.

A token is the address encrypted with AES-SIV (RFC 5297, deterministic authenticated
encryption) under a key derived from ``secret_key`` with HMAC-SHA256, the list id as
associated data. So:

- the URL does not reveal the address (a forwarded or logged link shows nothing);
- nobody without the key can make a token for another address (the SIV tag is a MAC);
- the server reads the address back from the token: no per-message database write,
  and the same link works in every edition (creating one costs ~3 µs);
- rotating ``secret_key`` keeps old links working while the previous key is still
  accepted (``previous_secret_keys``, for ``previous_secret_keys_days``).

Format: ``"u1" + base64url(SIV tag || ciphertext)``; the version prefix lets it change.

The same codec seals other short texts for other purposes (``REVIEW``: the approve/hold
links of a proof): each purpose has its own key derivation, prefix and associated data,
so a token made for one purpose never reads as another's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

PREFIX = "u1"
_MAX_TOKEN = 600  # an address is at most 254 bytes: 16 + 254 bytes base64-encoded is 360
UNSUBSCRIBE, REVIEW = "unsubscribe", "review"
# purpose -> (key derivation label, token prefix, associated data besides the list id)
_PURPOSES: dict[str, tuple[bytes, str, tuple[bytes, ...]]] = {
    UNSUBSCRIBE: (b"newsletter unsubscribe token v1", PREFIX, ()),
    REVIEW: (b"newsletter review token v1", "r1", (b"review",)),
}


def derive_key(secret: bytes, purpose: str | bytes = UNSUBSCRIBE) -> bytes:
    """The 64-byte AES-256-SIV key for one kind of token, derived from ``secret_key`` with
    HMAC-SHA512 over the purpose's label (a separate key per use, so a token of one kind
    never decrypts as another). ``purpose`` is one of this module's purposes, or a label of
    its own (the sign-up confirmations use theirs)."""
    label = _PURPOSES[purpose][0] if isinstance(purpose, str) else purpose
    return hmac.digest(secret, label, "sha512")


def key_fingerprint(secret: bytes) -> str:
    """A short public name for a key, to record when it was retired (never the key)."""
    return hashlib.sha256(derive_key(secret)).hexdigest()[:16]


class TokenCodec:
    """Makes tokens with the current key; reads tokens made with it or an accepted old one."""

    def __init__(
        self,
        secret: bytes,
        list_id: str,
        previous: Sequence[bytes] = (),
        purpose: str = UNSUBSCRIBE,
    ) -> None:
        _, self._prefix, extra = _PURPOSES[purpose]
        self._current = AESSIV(derive_key(secret, purpose))
        self._accepted = [self._current, *(AESSIV(derive_key(p, purpose)) for p in previous)]
        self._ad = [list_id.encode(), *extra]

    def make(self, email: str) -> str:
        """The token for an address (lower-cased first: one token per address)."""
        return self.seal(email.lower())

    def seal(self, text: str) -> str:
        """A token holding ``text`` as it is (at most ~400 bytes)."""
        sealed = self._current.encrypt(text.encode(), self._ad)
        return self._prefix + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def read(self, token: str) -> str | None:
        """The address (or text) in a token, or None when it is malformed, forged, for
        another list or purpose, or made with a key no longer accepted."""
        if not token.startswith(self._prefix) or len(token) > _MAX_TOKEN:
            return None
        body = token[len(self._prefix) :]
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(sealed) <= 16:
            return None
        for key in self._accepted:
            try:
                return key.decrypt(sealed, self._ad).decode()
            except (InvalidTag, UnicodeDecodeError):
                continue
        return None
