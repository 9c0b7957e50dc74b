"""What each report fixture is, read by ``bounces.classify`` alone: the format recognised,
the kind, and whom it names (before any check of whether to believe it)."""

from __future__ import annotations

import email
from email.policy import compat32

import pytest
from bouncebox import DATA

from newsletter.bounces.classify import classify

CASES = {
    "postfix-dsn.eml": ("DSN", "hard", ["ada@example.com"]),
    "exim.eml": ("non-standard", "hard", ["grace@example.org"]),
    "gmail-dsn.eml": ("DSN", "hard", ["linus@example.net"]),
    "exchange-dsn.eml": ("DSN", "soft", ["zoe@example.com"]),
    "qmail.eml": ("non-standard", "hard", ["mia@example.com"]),
    "yahoo-arf.eml": ("ARF", "complaint", ["redacted@yahoo.com"]),
    "aol-arf.eml": ("ARF", "complaint", ["pat@example.com"]),
    "autoreply.eml": ("auto-reply", "autoreply", []),
    "forged.eml": ("DSN", "hard", ["rita@example.com"]),
    "stranger.eml": ("DSN", "hard", ["stranger@example.net"]),
    "no-recipient.eml": ("DSN", "unrecognised", []),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_fixture_is_recognised(name: str) -> None:
    msg = email.message_from_bytes((DATA / name).read_bytes(), policy=compat32)
    verdict = classify(msg)
    assert (verdict.format, verdict.kind, [f.email for f in verdict.failures]) == CASES[name]


def test_a_dsn_status_decides_hard_or_soft() -> None:
    text = (DATA / "postfix-dsn.eml").read_text()
    for status, action, kind in [
        ("5.1.1", "failed", "hard"),
        ("4.4.1", "failed", "soft"),  # given up on a temporary failure: counted, not final
        ("5.2.2", "failed", "soft"),  # mailbox full, whatever the class
        ("4.2.2", "delayed", "soft"),
    ]:
        changed = text.replace("Status: 5.1.1", f"Status: {status}").replace(
            "Action: failed", f"Action: {action}"
        )
        assert classify(email.message_from_string(changed)).kind == kind, status
    success = text.replace("Action: failed", "Action: delivered").replace("5.1.1", "2.0.0")
    assert classify(email.message_from_string(success)).kind == "autoreply"
