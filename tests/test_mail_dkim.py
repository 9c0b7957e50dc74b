"""DKIM: keys from `newsletter dkim keygen`, every message signed, checked with dkimpy's
verifier on the exact bytes the SMTP server received."""

from __future__ import annotations

import re
import stat

import dkim
import pytest
from conftest import ACTIVE, Project

DAY = "2026-11-27"


def keygen(project: Project, kind: str) -> bytes:
    """Run keygen; return the TXT record's value as a DNS lookup would (strings joined)."""
    run = project.run(
        "dkim", "keygen", "--selector", "nl1", "--domain", "example.com", "--type", kind
    )
    assert run.code == 0, run.err
    name, _, rest = run.out.strip().partition(" IN TXT ")
    assert name == "nl1._domainkey.example.com."
    assert all(len(s) <= 255 for s in re.findall(r'"([^"]*)"', rest))  # DNS string limit
    return "".join(re.findall(r'"([^"]*)"', rest)).encode()


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_every_message_is_signed_and_verifies_on_the_received_bytes(
    project: Project, smtp, kind: str
) -> None:
    recorder, url = smtp
    record = keygen(project, kind)
    key = project.path / "dkim" / "nl1.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    project.write(  # names and fields whose whitespace relaxed canonicalisation changes
        "subscribers/subscribers.csv",
        "email,name,city\n"
        "ada@example.com,Ada  Lovelace,London\n"
        'grace@example.org,Grace Hopper,"Arlington\t  VA"\n'
        'linus@example.net,"Torvalds, Linus",Portland\n'
        "zoe@example.com,Zoë Ñúñez,Sevilla   \n",
    )
    env = {
        "NEWSLETTER_SMTP_URL": url,
        "NEWSLETTER_PUBLIC_URL": "https://news.example.com",
        "NEWSLETTER_DKIM_PRIVATE_KEY": "dkim/nl1.pem",
        "NEWSLETTER_DKIM_SELECTOR": "nl1",
    }
    run = project.run("send", "--date", DAY, env=env)

    assert run.code == 0, run.err
    assert sorted(r.recipients[0] for r in recorder.received) == sorted(ACTIVE)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"nl1._domainkey.example.com."
        return record

    for received in recorder.received:
        data = received.data
        assert data.startswith(b"DKIM-Signature: v=1; a=" + kind.encode() + b"-sha256;")
        assert dkim.verify(data, dnsfunc=dns), received.recipients
        signed = re.search(rb"h=([^;]+);", data)
        assert signed and re.split(r"\s*:\s*", signed.group(1).decode()) == [
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "list-id",
            "list-unsubscribe",
            "list-unsubscribe-post",
        ]
        assert b"c=relaxed/relaxed;" in data and b"d=example.com;" in data
    # The verifier does check: one changed byte of the body, or of a signed header, fails.
    data = recorder.received[0].data
    assert not dkim.verify(data.replace(b"Japan PM", b"Japan PX", 1), dnsfunc=dns)
    assert not dkim.verify(data.replace(b"Subject: ", b"Subject: Re: ", 1), dnsfunc=dns)


def test_keygen_never_overwrites_a_key(project: Project) -> None:
    keygen(project, "rsa")
    before = (project.path / "dkim" / "nl1.pem").read_bytes()
    again = project.run("dkim", "keygen", "--selector", "nl1")
    assert again.code == 2 and "dkim/nl1.pem: already exists; not overwritten" in again.err
    assert (project.path / "dkim" / "nl1.pem").read_bytes() == before
    assert "PRIVATE KEY" not in again.out + again.err


def test_half_configured_or_bad_key_stops_before_anything_is_sent(project: Project) -> None:
    half = project.run("send", "--date", DAY, env={"NEWSLETTER_DKIM_SELECTOR": "nl1"})
    assert half.code == 2
    assert "DKIM is half configured: dkim_private_key is not set" in half.err
    project.write("bad.pem", "not a key\n")
    env = {"NEWSLETTER_DKIM_SELECTOR": "nl1", "NEWSLETTER_DKIM_PRIVATE_KEY": "bad.pem"}
    bad = project.run("send", "--date", DAY, env=env)
    assert bad.code == 2 and "bad.pem: not a usable PEM private key" in bad.err
    assert not (project.path / "outbox").exists()
