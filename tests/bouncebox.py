"""Helpers for the bounce tests: a project that sent an edition with VERP envelope senders,
and report fixtures (tests/data/bounces/*.eml) filled in from what each subscriber got."""

from __future__ import annotations

import csv
import re
import shutil
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

from conftest import Project

DATA = Path(__file__).parent / "data" / "bounces"
SUBSCRIBERS = """
    email,name,status
    ada@example.com,Ada Lovelace,active
    grace@example.org,Grace Hopper,active
    linus@example.net,"Torvalds, Linus",active
    zoe@example.com,Zoe,active
    mia@example.com,Mia,active
    omar@example.com,Omar,active
    pat@example.com,Pat,active
    quinn@example.com,Quinn,active
    rita@example.com,Rita,active
    """
CONFIG = """
    bounce_address = "bounces@example.org"
    bounce_mailbox = "bouncebox"
    """
# The fixtures and what one run over them does to each subscriber.
EXPECTED = {
    "ada@example.com": "bounced",  # Postfix DSN, hard
    "grace@example.org": "bounced",  # Exim, hard
    "linus@example.net": "bounced",  # Gmail DSN, believed by its Message-ID alone
    "zoe@example.com": "active",  # Exchange, mailbox full: one soft bounce
    "mia@example.com": "bounced",  # qmail: believed by its bounce token alone
    "omar@example.com": "unsubscribed",  # Yahoo ARF, recipient redacted: the token
    "pat@example.com": "unsubscribed",  # AOL ARF: the returned Message-ID
    "quinn@example.com": "active",  # an out-of-office reply
    "rita@example.com": "active",  # a forged report about her
}


def sent_project(project: Project, day: str = "2026-12-01", config: str = CONFIG) -> None:
    """Write the list and the config, and send the edition of ``day`` to the outbox."""
    project.write("subscribers/subscribers.csv", SUBSCRIBERS)
    project.write("newsletter.toml", config)
    result = project.run("send", "--date", day)
    assert result.code == 0, result.err


def new_article(project: Project, name: str) -> None:
    """A new article in the seeds folder, so that the next day has an edition."""
    project.write(
        f"seeds/{name}.md",
        f"""
        ---
        title: {name} opens
        section: Local
        ---
        The {name} opened on Tuesday, after two years of work.
        """,
    )


def copies(project: Project) -> dict[str, tuple[str, str]]:
    """address -> (envelope sender, Message-ID) of each copy in the outbox, from the
    Return-Path and Message-ID headers the outbox wrote (the latest edition's last)."""
    found: dict[str, tuple[str, str]] = {}
    files = sorted((project.path / "outbox" / "new").iterdir(), key=lambda p: p.stat().st_mtime)
    for file in files:
        head = message_from_bytes(file.read_bytes(), policy=compat32)
        address = re.search(r"[^<\s]+@[^>\s]+", str(head["To"])).group(0).lower()  # type: ignore[union-attr]
        found[address] = (str(head["Return-Path"]).strip("<>"), str(head["Message-ID"]))
    return found


def filled(name: str, sent: dict[str, tuple[str, str]]) -> bytes:
    """A fixture with ``{VERP:address}`` and ``{MSGID:address}`` filled in."""
    text = (DATA / name).read_text(encoding="utf-8")
    text = re.sub(r"\{VERP:([^}]+)\}", lambda m: sent[m.group(1)][0], text)
    text = re.sub(r"\{MSGID:([^}]+)\}", lambda m: sent[m.group(1)][1], text)
    return text.replace("\n", "\r\n").encode()


def maildir(path: Path) -> Path:
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def deliver(box: Path, name: str, data: bytes) -> Path:
    """Put a message into ``box/new/`` as a delivery agent does (write in tmp, rename)."""
    tmp = box / "tmp" / name
    tmp.write_bytes(data)
    return Path(shutil.move(tmp, box / "new" / name))


def statuses(project: Project) -> dict[str, str]:
    path = project.path / "subscribers" / "subscribers.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {r["email"].lower(): r["status"] for r in csv.DictReader(handle)}
