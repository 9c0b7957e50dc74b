"""A send run's summary as people and log collectors read it: one line, or JSON.

Pure formatting of ``RunSummary``; the command line prints it, the daemon logs it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..models import RunSummary, collection_line, not_taken_counts


def summary_line(s: RunSummary, outbox: Path | None, relay: str | None) -> str:
    """The one-line summary of a send; what its collection did not take, when anything,
    at the end (``; collect: 2 new articles stored, not taken: 12 already seen``)."""
    line = _delivery_line(s, outbox, relay)
    if not_taken_counts(s.not_taken):
        line += "; collect: " + collection_line(s.collected, s.not_taken, separator=", ")
    return line


def _delivery_line(s: RunSummary, outbox: Path | None, relay: str | None) -> str:
    if s.edition_key is None:
        return s.note
    if s.waiting:  # the approval gate: nobody on the list was mailed
        return s.waiting
    head = f"edition {s.edition_key} (#{s.edition_number})"
    if s.sent == s.deferred == s.failed == s.in_doubt == 0 and not s.stopped:
        if s.already_failed:
            line = (
                f"{head}: nothing new to send: {s.already_sent} already delivered, "
                f"{s.already_failed} failed earlier (not retried; see "
                "`newsletter status --export`)"
            )
        else:
            line = (
                f"{head}: nothing new to send: "
                f"already delivered to all {s.already_sent} active subscribers"
            )
        if s.unmatched:
            line += f" ({s.unmatched} not sent: none of their sections today)"
        if s.throttled:
            line += f"; {s.throttled}"
        if s.invalid:  # they are owed it: the run exits 1 until the rows are fixed
            rows = "row" if s.invalid == 1 else "rows"
            line += f"; {s.invalid} unusable {rows} of the list skipped (named above)"
        return line
    counts = f"{s.sent} sent"
    if s.resent:
        counts += f" ({s.resent} of them in doubt earlier: possible duplicates)"
    for label in ("deferred", "failed", "bounced", "skipped", "in_doubt", "invalid"):
        if value := getattr(s, label):
            counts += f", {value} {label.replace('_', ' ')}"
            if label == "in_doubt":  # RFC 1047: lost between the message and the reply
                counts += " (the relay may have them)"
    if s.already_sent:
        counts += f", {s.already_sent} already had it"
    if s.already_failed:
        counts += f", {s.already_failed} failed earlier (not retried)"
    if s.unmatched:
        counts += f", {s.unmatched} not sent (none of their sections today)"
    counts += f" in {s.seconds:.1f} s ({s.rate:.0f}/s)"
    if s.throttled:
        counts += f"; {s.throttled}"
    if s.stopped:
        counts += f"; {s.stopped}; rerun to continue"
    if outbox is not None:
        messages = "message" if s.sent == 1 else "messages"
        written = f"no SMTP server configured: {s.sent} {messages} written to {outbox}/ (Maildir)"
        return f"{written}; {head}: {counts}"
    return f"{head}: {counts} via {relay}"


def summary_json(s: RunSummary) -> str:
    fields = {
        "edition": str(s.edition_key) if s.edition_key else None,
        "number": s.edition_number,
        **{k: getattr(s, k) for k in ("sent", "deferred", "failed", "bounced", "skipped",
                                      "already_sent", "already_failed", "invalid", "in_doubt",
                                      "resent", "unmatched")},
        "throttled": s.throttled or None,
        "seconds": round(s.seconds, 3),
        "rate": round(s.rate, 1),
        "stopped": s.stopped or None,
        "note": s.note or None,
        "waiting": s.waiting or None,
        "collected": s.collected,
        "not_taken": dict(Counter(str(item.reason) for item in s.not_taken)),
    }  # fmt: skip
    return json.dumps({"summary": fields})
