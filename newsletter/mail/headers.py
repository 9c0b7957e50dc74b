"""Header values built from subscriber, article and list data: folded, encoded where they
must be, never a header or a line of their own. Pure; runs per subscriber, so the usual
short value takes a fast path.

The rules (RFC 5322 §2.1.1: a line MUST be at most 998 octets, SHOULD be at most 78;
§3.2.2: folding puts CRLF before whitespace that is already there; RFC 2047: text that is
not printable ASCII travels as encoded words of at most 75 characters, and whitespace
between two encoded words is not part of the text, §6.2):

- every line a header of ours is folded into is at most 78 octets, except a line that
  holds one thing that cannot be cut: an address or a URL in angle brackets (at most 998,
  as addresses are at most 254 octets);
- no value can add a header or a line of its own: control characters (CR and LF among
  them) and line separators become spaces (``header_text``), and every other character
  that is not printable ASCII goes inside base64 encoded words;
- what a reader decodes is the value given (after ``header_text``). For an unstructured
  value (Subject) exactly. For a display name (To, From, List-Id's phrase) the name,
  where runs of whitespace count as one space (RFC 5322 §3.2.5: a phrase's whitespace is
  folding whitespace). A name is cut into several encoded words at spaces, the space
  going into the next word; only a run without spaces longer than one encoded word holds
  (42-45 UTF-8 bytes, e.g. sixteen CJK characters, or an ASCII run longer than a line)
  is cut inside the run. RFC 2047 decoders (mail readers,
  ``email.header.decode_header``) join the words back exactly; CPython's address parser
  (``email.policy.default``) keeps the whitespace between encoded words, against §6.2,
  so there a cut shows as one more space: doubled at a space, added inside a run.
"""

from __future__ import annotations

import base64
import re

import idna  # IDNA 2008 (RFC 5891), as email-validator uses; Python's codec is IDNA 2003

LINE = 78  # RFC 5322 §2.1.1's recommended line length, CRLF excluded
# The longest address header this module formats ("Reply-To: "): one room for all of them.
ADDRESS_ROOM = LINE - len("Reply-To: ")
WORD_BYTES = 45  # UTF-8 bytes of a full encoded word: 60 base64 characters + 12 = 72 (<= 75)
_WORD_OVERHEAD = len("=?utf-8?b??=")
# RFC 5322 specials that force a display name into a quoted string.
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
# A single space between two other characters: where a quoted string or an unstructured
# value may be folded with nothing lost (runs of spaces stay inside a piece).
_LONE_SPACE = re.compile(r"(?<! ) (?! )")
_WORD_START = re.compile(r"(?= )")
# Control characters (C0, DEL, C1) and Unicode's line and paragraph separators: no reader
# should meet a line break inside a header value, even encoded (CPython refuses an address
# with one). Each run becomes a space.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(text: str) -> str:
    """``text`` as a header carries it: runs of control characters and line separators
    replaced by a space (what a reader decodes; the fast paths never meet one)."""
    return _BREAKS.sub(" ", text)


def format_address(name: str, email: str, room: int = ADDRESS_ROOM) -> str:
    """``Name <email>`` for an address header, folded to 78 columns; the first line has
    ``room`` columns after the header's name and ": " (default: enough for any).

    The name goes as atoms, as a quoted string (when it has RFC 5322 specials) or as RFC
    2047 encoded words (not printable ASCII, or containing ``=?``, which a reader would
    take for an encoded word); any text is safe, control characters included. ``email``
    must be a valid address (``header_address`` gives the form written).
    """
    if not name:
        return email if email.isascii() else header_address(email)
    if (
        len(name) + len(email) <= room - 5
        and name.isascii()
        and name.isprintable()
        and email.isascii()
        and "=?" not in name
    ):  # the usual case, in ~1 µs
        if _SPECIALS.search(name) is None:
            return f"{name} <{email}>"
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        if len(escaped) + len(email) <= room - 5:
            return f'"{escaped}" <{email}>'
    return folded_address(name, email, room)


def folded_address(name: str, email: str, room: int = ADDRESS_ROOM) -> str:
    """``format_address`` for any name: folded at spaces, encoded where it must be."""
    email = header_address(email)
    name = header_text(name)
    pieces = _phrase_pieces(name, room)
    if pieces is None:
        pieces = encoded_words(name, _word_bytes(room))
    if not pieces:
        return email
    return fold([*pieces, f"<{email}>"], room)


def header_address(email: str) -> str:
    """The address as a header carries it: an internationalised domain in its ASCII form
    when the local part is ASCII (``jane@xn--bcher-kva.example``), so the header needs no
    SMTPUTF8; a local part that is not ASCII as it is (RFC 6532: only over SMTPUTF8)."""
    local, _, domain = email.rpartition("@")
    if email.isascii() or not local.isascii():
        return email
    try:
        return f"{local}@{idna.encode(domain, uts46=False).decode()}"
    except idna.IDNAError:  # not for an address email-validator accepted
        return email


def _phrase_pieces(name: str, room: int) -> list[str] | None:
    """A printable ASCII name as atoms or a quoted string cut at single spaces; None when
    it needs encoded words (or has a piece too long for a line)."""
    if not (name.isascii() and name.isprintable()) or "=?" in name:
        return None
    if _SPECIALS.search(name) is None:
        pieces = name.split()  # a phrase's whitespace is folding whitespace: runs are one
    else:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        pieces = _LONE_SPACE.split(f'"{escaped}"')
    return pieces if all(len(p) <= room for p in pieces) else None


def encode_header_text(text: str, name: str) -> str:
    """An unstructured header value (Subject): as it is when it fits, else folded at single
    spaces; RFC 2047 encoded words when it is not printable ASCII, contains ``=?``, starts
    or ends with a space or has a run too long for a line. Decodes back to exactly
    ``header_text(text)``.
    """
    room = LINE - len(name) - 2
    plain = text.isascii() and text.isprintable() and "=?" not in text
    if plain and text[:1] != " " and text[-1:] != " ":  # a reader would strip such spaces
        if len(text) <= room:
            return text
        pieces = _LONE_SPACE.split(text)  # never empty: no space at either end
        if all(len(p) <= room for p in pieces):
            return fold(pieces, room)
    words = encoded_words(header_text(text), _word_bytes(room))
    return fold(words, room) if words else ""


def encoded_words(text: str, first: int = WORD_BYTES) -> list[str]:
    """RFC 2047 ``=?utf-8?b?...?=`` words for ``text``, the first of at most ``first``
    UTF-8 bytes, the others of at most 45 (72 characters: the limit is 75).

    Cut at spaces where it can (the space opens the next word), never inside a character.
    Hand-written because ``email.header.Header`` costs ~80 µs and this runs per subscriber
    for names that are not ASCII.
    """
    data = text.encode()
    if len(data) <= first:
        return [_word(data)] if data else []
    chunks: list[str] = []
    current, size, budget = "", 0, first
    for piece in _WORD_START.split(text):
        n = len(piece.encode())
        if size + n <= budget:
            current, size = current + piece, size + n
            continue
        if current:
            chunks.append(current)
            budget = WORD_BYTES
        while n > budget:  # a run longer than a whole word: cut inside it
            head = piece.encode()[:budget].decode(errors="ignore")
            chunks.append(head)
            budget = WORD_BYTES
            piece = piece[len(head) :]
            n = len(piece.encode())
        current, size = piece, n
    if current:
        chunks.append(current)
    return [_word(chunk.encode()) for chunk in chunks]


def _word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode()}?="


def _word_bytes(room: int) -> int:
    """The UTF-8 bytes an encoded word may hold to fit in ``room`` columns (at most 45)."""
    return min(WORD_BYTES, (room - _WORD_OVERHEAD) // 4 * 3)


def fold(pieces: list[str], room: int) -> str:
    """Join ``pieces`` with single spaces, or CRLF + space where the line would pass 78
    octets; the first line has ``room`` columns (78 less the header's name and ": ")."""
    out = [pieces[0]]
    column = LINE - room + _octets(pieces[0])
    for piece in pieces[1:]:
        width = 1 + _octets(piece)
        if column + width <= LINE:
            out.append(" ")
            column += width
        else:
            out.append("\r\n ")
            column = width
        out.append(piece)
    return "".join(out)


def _octets(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def one_line(value: str) -> str:
    """A setting's value for a header written as it is: every run of whitespace (CR and LF
    included) as one space, other control characters dropped."""
    return " ".join("".join(c for c in value if c.isprintable() or c.isspace()).split())
