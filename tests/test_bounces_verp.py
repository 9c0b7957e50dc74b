"""VERP envelope senders over a real SMTP session (aiosmtpd records MAIL FROM): one per
recipient, and the token leads back to that recipient and edition."""

from __future__ import annotations

from conftest import ACTIVE, Project

from newsletter.bounces.classify import HARD, Verdict
from newsletter.bounces.verify import believe
from newsletter.mail.verp import MAX_LOCAL_PART, BounceTokens
from newsletter.store.bounces import BounceReports
from newsletter.store.database import Store

SECRET = "3c9a1f0e7b5d2c4a8e6f1b3d5a7c9e0f2b4d6f8a1c3e5a7b9d0f2e4c6a8b1d3f"
OLD_SECRET = "e1f3a5c7b9d2e4f6a8c0b2d4f6e8a0c2b4d6e8f0a2c4b6d8e0f2a4c6b8d0e2f4"


def _send(project: Project, url: str, **extra: str) -> None:
    env = {"NEWSLETTER_SMTP_URL": url, "NEWSLETTER_SECRET_KEY": SECRET, **extra}
    result = project.run("send", "--date", "2026-12-01", env=env)
    assert result.code == 0, result.err


def test_each_recipient_gets_its_own_envelope_sender(project: Project, smtp) -> None:
    recorder, url = smtp
    _send(project, url, NEWSLETTER_BOUNCE_ADDRESS="bounces@example.org")
    assert sorted(r.recipients[0] for r in recorder.received) == sorted(ACTIVE)
    tokens = BounceTokens(SECRET.encode(), "bounces@example.org")
    with Store(project.path / "newsletter.db") as store:
        reports = BounceReports(store)
        for received in recorder.received:
            sender, recipient = received.sender, received.recipients[0]
            local, domain = sender.split("@")
            assert domain == "example.org" and local.startswith("bounces+")
            assert len(local) <= MAX_LOCAL_PART and local == local.lower()
            token = tokens.token_in(sender.upper())  # relays may change the case
            assert token is not None and tokens.edition_number(token) == 1
            assert tokens.verifies(token, recipient)
            assert not any(tokens.verifies(token, other) for other in ACTIVE if other != recipient)
            # a report that names nobody: the token alone finds the recipient in the ledger
            found = believe(Verdict(HARD, envelope_senders=(sender,)), reports, tokens)
            assert [(b.email, b.proof) for b in found] == [(recipient, "bounce token")]


def test_tokens_made_under_a_previous_key_still_verify(project: Project, smtp) -> None:
    recorder, url = smtp
    env = {"NEWSLETTER_SECRET_KEY": OLD_SECRET, "NEWSLETTER_BOUNCE_ADDRESS": "bounces@example.org"}
    result = project.run("send", "--date", "2026-12-01", env={"NEWSLETTER_SMTP_URL": url, **env})
    assert result.code == 0, result.err
    rotated = BounceTokens(SECRET.encode(), "bounces@example.org", [OLD_SECRET.encode()])
    fresh = BounceTokens(SECRET.encode(), "bounces@example.org")
    for received in recorder.received:
        token = rotated.token_in(received.sender)
        assert token is not None
        assert rotated.verifies(token, received.recipients[0])
        assert not fresh.verifies(token, received.recipients[0])


def test_without_bounce_address_the_envelope_sender_is_the_from_address(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    _send(project, url)
    assert {r.sender for r in recorder.received} == {"news@example.com"}
