"""What a message in the bounce mailbox is: a hard or soft bounce, a complaint, an
auto-reply, or unrecognised; whom it names and which of our messages it quotes. Pure.

Tried in this order:

1. RFC 5965 ARF: ``multipart/report; report-type=feedback-report``; its
   ``message/feedback-report`` part's ``Feedback-Type`` ``abuse`` or ``fraud`` is a
   complaint (other types, e.g. ``not-spam``, ``virus``, are listed as unrecognised);
   the recipient is ``Original-Rcpt-To`` or ``Removal-Recipient``, else the returned
   message's ``To``.
2. RFC 3464 DSN: ``multipart/report; report-type=delivery-status``; per recipient block,
   ``Action: failed`` with a 5.x.x ``Status`` is hard; ``Action: delayed`` or a 4.x.x
   status is soft; RFC 3463's X.2.2 (mailbox full) is soft whatever its class, as
   mailbox-full is usually temporary. ``delivered``/``relayed``/``expanded`` are success
   notices: ignored like auto-replies.
3. Non-standard bounces (Exim's and qmail's plain text, old Exchange, Yahoo, AOL...):
   GNU Mailman's detectors, ``flufl.bounce.all_failures`` (temporary and permanent).
4. Auto-replies: RFC 3834 ``Auto-Submitted`` other than ``no``, or the headers common
   vacation programs set (``X-Autoreply``, ``X-Autorespond``, ``Precedence:
   auto_reply``, Microsoft's ``X-Auto-Response-Suppress`` with an "Automatic reply"
   subject): change nobody.
5. Anything else is unrecognised.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

from ..store.bounces import COMPLAINT, HARD, SOFT

# flufl.bounce logs a detector's exception with its traceback (log.exception) on its own
# logger, then raises it; with no handler configured Python's last resort prints it on
# stderr. The exception reaches the caller, which lists the report as malformed: the log
# line is noise.
_FLUFL_LOG = logging.getLogger("flufl.bounce")
_FLUFL_LOG.addHandler(logging.NullHandler())
_FLUFL_LOG.propagate = False

AUTOREPLY, UNRECOGNISED = "autoreply", "unrecognised"
COMPLAINT_TYPES = frozenset({"abuse", "fraud"})  # RFC 5965 §7.3 feedback types
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID = re.compile(r"(?im)^message-id:\s*(<[^<>\s]+>)")
_ADDRESS = re.compile(r"<?([^\s<>;\"]+@[^\s<>;\"]+?)>?$")
_AUTO_SUBJECT = re.compile(r"(?i)^(automatic reply|auto[- ]?(reply|response)|out of office)")


@dataclass(frozen=True, slots=True)
class Failure:
    """One recipient a report is about: its address (lower-cased), kind and why."""

    email: str
    kind: str  # HARD, SOFT or COMPLAINT
    detail: str  # "5.1.1 user unknown", "abuse"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a report is: ``kind`` (the strongest of its failures, or AUTOREPLY or
    UNRECOGNISED), who it names, the Message-IDs of ours it quotes, and the envelope
    sender of the original when the report gives it (ARF's Original-Mail-From, a DSN's
    returned Return-Path)."""

    kind: str
    failures: tuple[Failure, ...] = ()
    message_ids: tuple[str, ...] = ()
    envelope_senders: tuple[str, ...] = ()
    detail: str = ""
    format: str = ""  # "ARF", "DSN", "non-standard", ...: for the listing


def classify(msg: Message) -> Verdict:
    """The verdict on a parsed report (``email.message_from_bytes`` with the compat32
    policy, which flufl.bounce expects).

    Raises:
        ValueError, LookupError, TypeError: a MIME structure the email package cannot walk
            (the caller lists the report as malformed).
    """
    quoted = tuple(_quoted_message_ids(msg))
    senders = tuple(_returned_senders(msg))
    if _report_type(msg) == "feedback-report":
        return _arf(msg, quoted, senders)
    if _report_type(msg) == "delivery-status":
        verdict = _dsn(msg, quoted, senders)
        if verdict is not None:
            return verdict
    temporary, permanent = all_failures(msg)
    failures = [Failure(_text(a), HARD, "permanent failure") for a in sorted(permanent)]
    failures += [
        Failure(_text(a), SOFT, "temporary failure") for a in sorted(temporary - permanent)
    ]
    if failures:
        kind = HARD if permanent else SOFT
        return Verdict(kind, tuple(failures), quoted, senders, format="non-standard")
    if _auto_reply(msg):
        return Verdict(AUTOREPLY, (), quoted, senders, detail="auto-reply", format="auto-reply")
    if _report_type(msg) == "delivery-status":
        detail = "a delivery report naming no recipient"
        return Verdict(UNRECOGNISED, (), quoted, senders, detail=detail, format="DSN")
    return Verdict(UNRECOGNISED, (), quoted, senders, detail="not a bounce or complaint it knows")


def _report_type(msg: Message) -> str:
    if msg.get_content_type() != "multipart/report":
        return ""
    return str(msg.get_param("report-type", "") or "").lower()


def _parts(msg: Message, content_type: str) -> list[Message]:
    return [p for p in msg.walk() if p.get_content_type() == content_type]


def _arf(msg: Message, quoted: tuple[str, ...], senders: tuple[str, ...]) -> Verdict:
    """RFC 5965: the feedback report's fields, one block of header-like lines."""
    fields = _feedback_fields(msg)
    feedback = fields.get("feedback-type", [""])[0].strip().lower()
    senders += tuple(_address(v) for v in fields.get("original-mail-from", []) if _address(v))
    named = fields.get("original-rcpt-to", []) + fields.get("removal-recipient", [])
    emails = [e for v in named if (e := _address(v))]
    if not emails:
        emails = [e for part in _returned(msg) if (e := _address(part.get("To", "")))]
    if feedback not in COMPLAINT_TYPES:
        detail = f"feedback report of type {feedback or 'none'!r}"
        return Verdict(UNRECOGNISED, (), quoted, senders, detail=detail, format="ARF")
    failures = tuple(Failure(e, COMPLAINT, feedback) for e in dict.fromkeys(emails))
    return Verdict(COMPLAINT, failures, quoted, senders, detail=feedback, format="ARF")


def _feedback_fields(msg: Message) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for part in _parts(msg, "message/feedback-report"):
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        text = "".join(b.as_string() for b in blocks) if blocks else str(payload)
        for line in re.split(r"\r?\n(?![ \t])", text):
            name, colon, value = line.partition(":")
            if colon and name.strip():
                fields.setdefault(name.strip().lower(), []).append(" ".join(value.split()))
    return fields


def _dsn(msg: Message, quoted: tuple[str, ...], senders: tuple[str, ...]) -> Verdict | None:
    """RFC 3464 §2.3: each per-recipient block's Final-/Original-Recipient, Action, Status;
    None when it holds no recipient block (left to the non-standard detectors)."""
    failures: list[Failure] = []
    success = False
    for part in _parts(msg, "message/delivery-status"):
        blocks = part.get_payload()
        for block in blocks[1:] if isinstance(blocks, list) else []:
            action = str(block.get("Action", "")).strip().lower()
            recipient = _address(
                str(block.get("Original-Recipient") or block.get("Final-Recipient") or "")
            )
            if not recipient or not action:
                continue
            kind = _dsn_kind(action, str(block.get("Status", "")))
            if kind is None:
                success = True
                continue
            diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
            detail = f"{str(block.get('Status', '')).strip()} {diagnostic}".strip()
            failures.append(Failure(recipient, kind, detail[:200]))
    if failures:
        kind = HARD if any(f.kind == HARD for f in failures) else SOFT
        return Verdict(kind, tuple(failures), quoted, senders, format="DSN")
    if success:
        return Verdict(AUTOREPLY, (), quoted, senders, detail="delivery notice", format="DSN")
    return None


def _dsn_kind(action: str, status: str) -> str | None:
    """HARD, SOFT, or None for a success notice (RFC 3464 §2.3.3, RFC 3463 §3)."""
    if action in ("delivered", "relayed", "expanded"):
        return None
    code = _STATUS.search(status)
    if code is None:
        return HARD if action == "failed" else SOFT
    klass, subject, detail = code.groups()
    if (subject, detail) == ("2", "2") or klass == "4" or action == "delayed":
        return SOFT  # X.2.2 mailbox full; persistent transient failures
    return HARD if klass == "5" else None


def _returned(msg: Message) -> list[Message]:
    """The returned original's headers (``message/rfc822``, ``text/rfc822-headers``)."""
    found = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list):
                found += [p for p in payload if isinstance(p, Message)]
        elif ctype == "text/rfc822-headers":
            from email import message_from_string

            found.append(message_from_string(str(part.get_payload(decode=False))))
    return found


def _quoted_message_ids(msg: Message) -> list[str]:
    """Message-IDs of returned originals: their headers, and any ``Message-ID:`` line in a
    plain-text bounce body (qmail, Exim quote the original that way); also In-Reply-To
    and References (an auto-reply or a complaint answering our message)."""
    ids = [str(p.get("Message-ID", "")).strip() for p in _returned(msg)]
    for name in ("In-Reply-To", "References"):
        ids += re.findall(r"<[^<>\s]+>", str(msg.get(name, "")))
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            body = part.get_payload(decode=True)
            if isinstance(body, bytes):
                ids += _MESSAGE_ID.findall(body.decode("utf-8", "replace"))
    return [i for i in dict.fromkeys(ids) if i]


def _returned_senders(msg: Message) -> list[str]:
    """Where the bounce was sent (Postfix's Delivered-To/X-Original-To, Exim's
    Envelope-To, To), and the returned original's Return-Path: VERP tokens live there."""
    found = [str(v) for name in ("Delivered-To", "X-Original-To", "Envelope-To", "To")
             for v in msg.get_all(name, [])]  # fmt: skip
    found += [str(p.get("Return-Path", "")) for p in _returned(msg)]
    return [a for v in found if (a := _address(v))]


def _auto_reply(msg: Message) -> bool:
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    return bool(msg.get("X-Auto-Response-Suppress")) and bool(
        _AUTO_SUBJECT.match(str(msg.get("Subject", "")).strip())
    )


def _address(value: str) -> str:
    """The address in ``rfc822; user@example.org``, ``<user@example.org>``, or ''."""
    text = str(value).split(";", 1)[-1].strip()
    match = _ADDRESS.search(text)
    return match.group(1).lower() if match else ""


def _text(value: bytes | str) -> str:
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else value).lower()
