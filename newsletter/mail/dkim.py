"""DKIM signatures (RFC 6376, relaxed/relaxed; RSA-SHA256 or Ed25519-SHA256, RFC 8463). Pure.

dkimpy's ``dkim.sign`` costs ~19 ms for a 59 KB message with RSA-2048 (pure-Python RSA and
regex canonicalisation of the whole body), ~7 ms with Ed25519: at most ~50 messages a second
a core, against a budget of well under 1 ms a message. Here the same algorithm runs on
pieces: the message body is built from pieces that each end at a line end, and relaxed body
canonicalisation only works within a line, so the static pieces of an edition are
canonicalised once and only the short merge values per message; the RSA or Ed25519
operation is OpenSSL's (``cryptography``). bench/dkim_cost.py measures both, and the tests
verify every signature with dkimpy's verifier on the bytes the SMTP server received.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
_WSP_RUN = re.compile(rb"[ \t]{2,}|\t")
_TRAILING_WSP = re.compile(rb"[ \t]+(?=\r\n)")
_FOLD = re.compile(rb"\r\n(?=[ \t])")
_HEADER_LINE = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*?)(?=\r\n(?![ \t])|\Z)", re.M | re.S)


class DkimKeyError(ValueError):
    """The private key cannot be used (not PEM, or not RSA/Ed25519)."""


def relaxed_body(piece: bytes) -> bytes:
    """Relaxed canonicalisation (RFC 6376 3.4.4) of whole lines: runs of spaces and tabs
    become one space, spaces and tabs at a line's end go."""
    return _TRAILING_WSP.sub(b"", _WSP_RUN.sub(b" ", piece))


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """Relaxed canonicalisation (RFC 6376 3.4.2) of one header, without the final CRLF."""
    value = _WSP_RUN.sub(b" ", _FOLD.sub(b"", value)).strip(b" ")
    return name.strip().lower() + b":" + value


class DkimSigner:
    """Signs messages for one domain and selector. Build once; ``for_pieces`` per edition."""

    def __init__(
        self, private_key_pem: bytes, selector: str, domain: str, timestamp: int | None = None
    ) -> None:
        """Raises:
        DkimKeyError: the key is not a PEM RSA or Ed25519 private key.
        """
        try:
            key = serialization.load_pem_private_key(private_key_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimKeyError(f"not a usable PEM private key ({exc})") from None
        if isinstance(key, rsa.RSAPrivateKey):
            self.algorithm = "rsa-sha256"
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            self.algorithm = "ed25519-sha256"
        else:
            raise DkimKeyError("the key is neither RSA nor Ed25519")
        self._key = key
        self.selector, self.domain, self.timestamp = selector, domain, timestamp
        self._cache: dict[bytes, bytes] = {}

    def for_pieces(self, static: Iterable[bytes]) -> DkimSigner:
        """A signer that has canonicalised these (per-edition) body pieces in advance."""
        signer = object.__new__(DkimSigner)
        signer.__dict__.update(self.__dict__)
        signer._cache = {piece: relaxed_body(piece) for piece in static}
        return signer

    def header(self, head: bytes, body: Sequence[bytes]) -> bytes:
        """The ``DKIM-Signature`` header line (with CRLF) to put before ``head``.

        ``head`` is the header block (each header ending in CRLF, without the blank line);
        ``body`` the body as pieces, each ending at a line end.
        """
        cache = self._cache
        canon = b"".join([cache.get(p) or relaxed_body(p) for p in body])
        # Empty lines at the end of the body are ignored (an empty body hashes as empty).
        canon = canon.rstrip(b"\r\n") + b"\r\n" if canon.strip(b"\r\n") else b""
        body_hash = base64.b64encode(hashlib.sha256(canon).digest()).decode()
        found = {m.group(1).lower(): m.group(2) for m in _HEADER_LINE.finditer(head)}
        names = [n for n in SIGNED_HEADERS if n.encode() in found]
        tags = _tag_list(
            [
                "v=1;",
                f"a={self.algorithm};",
                "c=relaxed/relaxed;",
                f"d={self.domain};",
                f"s={self.selector};",
                *([f"t={self.timestamp};"] if self.timestamp is not None else []),
            ],
            names,
            body_hash,
        )
        signed = b"".join(relaxed_header(n.encode(), found[n.encode()]) + b"\r\n" for n in names)
        signed += relaxed_header(b"DKIM-Signature", tags)
        signature = base64.b64encode(self._sign(signed))
        folded = b"\r\n  ".join(signature[i : i + 72] for i in range(0, len(signature), 72))
        return b"DKIM-Signature: " + tags + folded + b"\r\n"

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        # RFC 8463: Ed25519 (PureEdDSA) over the SHA-256 hash of the canonicalised data.
        assert isinstance(self._key, ed25519.Ed25519PrivateKey)
        return self._key.sign(hashlib.sha256(data).digest())


def _tag_list(tags: list[str], names: list[str], body_hash: str) -> bytes:
    """The signature's tags up to ``b=``, folded to 78 columns (RFC 6376 §3.2 allows
    folding whitespace between tags, and around the colons of ``h=``, §3.5)."""
    lines = [_fill(tags, len("DKIM-Signature: "), " ")]
    # h= on lines of its own, cut after a colon only where it must (most verifiers never
    # meet folding whitespace inside h=, though they must accept it).
    headers = [f"{n}:" for n in names[:-1]] + [f"{names[-1]};"] if names else [";"]
    headers[0] = f"h={headers[0]}"
    lines.append(_fill(headers, 1, ""))
    lines.append(f"bh={body_hash};")
    lines.append("b=")
    return "\r\n ".join(lines).encode()


def _fill(pieces: list[str], column: int, separator: str) -> str:
    """Join pieces with ``separator``, or CRLF + space where a line would pass 78."""
    out = [pieces[0]]
    column += len(pieces[0])
    for piece in pieces[1:]:
        width = len(separator) + len(piece)
        if column + width <= 78:
            out.append(separator)
            column += width
        else:
            out.append("\r\n ")
            column = 1 + len(piece)
        out.append(piece)
    return "".join(out)


def new_private_key(kind: str) -> tuple[bytes, str]:
    """A fresh private key (PKCS#8 PEM) and the DNS TXT record value publishing it.

    ``kind`` is ``rsa`` (2048 bits, what every receiver verifies) or ``ed25519``.
    """
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode()}"


def txt_strings(record: str) -> str:
    """A TXT record value as DNS zone-file strings of at most 255 characters each."""
    return " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))
