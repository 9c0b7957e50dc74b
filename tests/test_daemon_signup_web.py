"""`newsletter serve`: double opt-in sign-up over real HTTP, mail through the real outbox
and the test SMTP server."""

from __future__ import annotations

import csv
import email
import email.policy
import re
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import Project, lock_held
from daemonproc import Served

from newsletter.store.database import Store
from newsletter.store.suppressions import COMPLAINT, Suppressions
from newsletter.subscribers.signup import ConfirmationCodec, SignupRequest

SECRET = "5f0c6a1d2b9e8f7a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3"
PUBLIC = "https://news.example.com"
ENV = {
    "NEWSLETTER_PUBLIC_URL": PUBLIC,
    "NEWSLETTER_SECRET_KEY": SECRET,
    "NEWSLETTER_SCHEDULE": "0 0 1 1 *",  # the daemon's own send stays out of these tests
}
FORM = "application/x-www-form-urlencoded"


@dataclass
class Reply:
    status: int
    body: str
    headers: dict[str, str]

    @property
    def title(self) -> str:
        found = re.search(r"<h2>(.*?)</h2>", self.body)
        return found.group(1) if found else self.body[:200]


def http(
    url: str, data: bytes | None = None, content_type: str = FORM, headers: dict | None = None
) -> Reply:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return Reply(resp.status, resp.read().decode(), dict(resp.headers))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode(), dict(exc.headers))


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


@pytest.fixture
def serve(project: Project) -> Iterator[Callable[..., str]]:
    """Start `newsletter serve` with extra settings; returns its base URL."""
    started: list[Served] = []

    def start(**env: str) -> str:
        served = Served(project.path, {**ENV, **env})
        started.append(served)
        served.wait_health(lambda body: True)
        return f"http://127.0.0.1:{served.port}"

    yield start
    for served in started:
        assert served.stop() == 0, served.log


def outbox(project: Project) -> list[EmailMessage]:
    folder = project.path / "outbox" / ".notices" / "new"
    files = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in files
    ]


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def link_in(message: EmailMessage, base: str) -> str:
    url = re.search(rf"{re.escape(PUBLIC)}/confirm/\S+", text_of(message))
    assert url is not None, text_of(message)
    return url.group().replace(PUBLIC, base)


def csv_rows(project: Project) -> dict[str, dict[str, str]]:
    path = project.path / "subscribers" / "subscribers.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {r["email"]: r for r in csv.DictReader(handle)}


def requests_counted(project: Project) -> int:
    """Sign-up requests the limits counted (0 when nothing created the database)."""
    path = project.path / "newsletter.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM signup_requests").fetchone()[0])


def test_sign_up_confirm_through_the_outbox_and_consent_is_recorded(
    project: Project, serve: Callable[..., str]
) -> None:
    base = serve()
    page = http(f"{base}/subscribe")
    assert page.status == 200 and 'name="email"' in page.body and 'name="website"' in page.body

    reply = http(f"{base}/subscribe", form(email="Bob@Example.org", name="Bob Brown", website=""))

    assert (reply.status, reply.title) == (200, "Check your inbox")
    [message] = outbox(project)
    assert message["To"] == "Bob@example.org"
    assert message["From"] == "Daily Newsletter <news@example.com>" or "@" in message["From"]
    assert message["Subject"] == "Confirm your subscription to Daily Newsletter"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "The link works for 48 hours" in text_of(message)
    link = link_in(message, base)

    shown = http(link)  # what a mail scanner does: changes nothing
    assert (shown.status, shown.title) == (200, "Confirm your subscription")
    assert "Bo…@example.org" in shown.body and "Bob@example.org" not in csv_rows(project)

    done = http(link, form(confirm="yes"))
    assert (done.status, done.title) == (200, "You are subscribed")
    row = csv_rows(project)["Bob@example.org"]
    assert (row["name"], row["status"]) == ("Bob Brown", "active")
    again = http(link, form(confirm="yes"))  # harmless
    assert (again.status, again.title) == (200, "You are subscribed")
    assert list(csv_rows(project)).count("Bob@example.org") == 1

    listed = project.run("subscribers", "list", "--consent")
    line = next(li for li in listed.out.splitlines() if li.startswith("Bob@example.org"))
    assert re.fullmatch(
        r"Bob@example\.org\tBob Brown\tactive\tconfirmed 20\d\d-\d\d-\d\dT\S+ from 127\.0\.0\.1 "
        r"\(web form\)",
        line,
    )


def test_sign_up_over_smtp_from_the_lists_address(
    project: Project, serve: Callable[..., str], smtp
) -> None:
    recorder, smtp_url = smtp
    base = serve(
        NEWSLETTER_SMTP_URL=smtp_url, NEWSLETTER_FROM_ADDRESS="The List <list@example.org>"
    )

    assert http(f"{base}/subscribe", form(email="carol@example.net")).status == 200

    [received] = recorder.received
    assert (received.sender, received.recipients) == ("list@example.org", ["carol@example.net"])
    message = received.message
    assert message["From"] == "The List <list@example.org>"
    link = link_in(message, base)  # type: ignore[arg-type]
    assert http(link, form(confirm="yes")).title == "You are subscribed"
    assert csv_rows(project)["carol@example.net"]["status"] == "active"
    assert not (project.path / "outbox").exists()


def test_the_answer_is_the_same_on_the_list_or_not_and_three_a_day_then_429(
    project: Project, serve: Callable[..., str]
) -> None:
    base = serve(NEWSLETTER_SIGNUP_PER_IP_HOUR="100")
    for address in ("ada@example.com", "new@example.com"):
        replies = [http(f"{base}/subscribe", form(email=address)) for _ in range(3)]
        assert {(r.status, r.title) for r in replies} == {(200, "Check your inbox")}
        limited = http(f"{base}/subscribe", form(email=address.upper()))
        assert (limited.status, limited.title) == (429, "Please try again later")
        assert 86000 < int(limited.headers["Retry-After"]) <= 86401
        assert re.search(r"try again after \d\d:\d\d UTC", limited.body)
    assert [m["To"] for m in outbox(project)] == ["ada@example.com"] * 3 + ["new@example.com"] * 3


def test_many_sign_ups_from_one_ip_are_limited_and_a_proxy_is_trusted_only_if_listed(
    project: Project, serve: Callable[..., str]
) -> None:
    base = serve(NEWSLETTER_SIGNUP_PER_IP_HOUR="3")
    spoofed = {"X-Forwarded-For": "198.51.100.1"}  # ignored: 127.0.0.1 is no trusted proxy
    replies = [http(f"{base}/subscribe", form(email=f"p{i}@example.com"), headers=spoofed)
               for i in range(5)]  # fmt: skip
    assert [r.status for r in replies] == [200, 200, 200, 429, 429]
    assert 3500 < int(replies[3].headers["Retry-After"]) <= 3601
    assert len(outbox(project)) == 3


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(
    project: Project, serve: Callable[..., str]
) -> None:
    base = serve(NEWSLETTER_SIGNUP_PER_IP_HOUR="1", NEWSLETTER_TRUSTED_PROXIES='["127.0.0.1"]')
    first = {"X-Forwarded-For": "198.51.100.1"}
    assert http(f"{base}/subscribe", form(email="a@example.com"), headers=first).status == 200
    assert http(f"{base}/subscribe", form(email="b@example.com"), headers=first).status == 429
    second = {"X-Forwarded-For": "198.51.100.2"}
    assert http(f"{base}/subscribe", form(email="b@example.com"), headers=second).status == 200


def test_a_honeypot_hit_is_answered_as_usual_and_nothing_is_sent_or_recorded(
    project: Project, serve: Callable[..., str]
) -> None:
    base = serve()
    reply = http(f"{base}/subscribe", form(email="victim@example.com", website="http://x.test"))
    assert (reply.status, reply.title) == (200, "Check your inbox")
    assert outbox(project) == []
    assert requests_counted(project) == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [(form(email="not an address"), FORM, 400, "is not a valid email address"),
     (form(email="bob@example"), FORM, 400, "is not a valid email address"),
     (form(email="bob@example.org", name="n" * 101), FORM, 400, "longer than 100"),
     (form(email="bob@example.org", name="x" * 5000), FORM, 413, "too large"),
     (b'{"email": "bob@example.org"}', "application/json", 415, "web form"),
     (b"email=%FF%FE@example.org", FORM, 400, "")],
)  # fmt: skip
def test_bad_input_gets_a_4xx_page_and_nothing_is_sent_or_recorded(
    project: Project, serve: Callable[..., str], body: bytes, content_type: str, status: int,
    words: str,
) -> None:  # fmt: skip
    base = serve()
    reply = http(f"{base}/subscribe", body, content_type)
    assert reply.status == status and words in reply.body
    assert "<html" in reply.body and "Traceback" not in reply.body
    assert outbox(project) == []
    assert requests_counted(project) == 0


def test_forged_tampered_and_expired_links_change_nothing_and_offer_to_sign_up_again(
    project: Project, serve: Callable[..., str]
) -> None:
    base = serve()
    codec = ConfirmationCodec(SECRET.encode(), "daily.example.com")
    now = datetime.now(UTC)
    valid = codec.make(SignupRequest("eve@example.com"), now)
    expired = codec.make(SignupRequest("eve@example.com"), now - timedelta(hours=48, minutes=1))
    forged = ConfirmationCodec(b"f" * 32, "daily.example.com").make(
        SignupRequest("eve@example.com"), now
    )
    tampered = valid[:-3] + ("AAA" if not valid.endswith("AAA") else "BBB")
    for token, status, title in [
        (forged, 400, "This confirmation link is not valid"),
        (tampered, 400, "This confirmation link is not valid"),
        ("u1" + valid[2:], 400, "This confirmation link is not valid"),
        (expired, 410, "This confirmation link has expired"),
    ]:
        for reply in (http(f"{base}/confirm/{token}"), http(f"{base}/confirm/{token}", b"")):
            assert (reply.status, reply.title) == (status, title)
            assert f'href="{PUBLIC}/subscribe"' in reply.body
    assert "eve@example.com" not in csv_rows(project)
    assert http(f"{base}/confirm/{valid}", b"").title == "You are subscribed"  # the control


def test_a_confirmation_while_a_send_holds_the_lock_is_written_when_it_ends(
    project: Project, serve: Callable[..., str]
) -> None:
    base = serve()
    http(f"{base}/subscribe", form(email="dan@example.com"))
    link = link_in(outbox(project)[0], base)
    with lock_held(project):
        reply = http(link, b"")
        assert (reply.status, reply.title) == (200, "You are subscribed")
        assert "dan@example.com" not in csv_rows(project)
    run = project.run("send", "--date", "2026-11-27", env=ENV)
    assert run.code == 0, run.err
    assert csv_rows(project)["dan@example.com"]["status"] == "active"
    assert "dan@example.com" in [m["To"] for m in outbox(project)]  # got the edition too


def test_unsubscribed_come_back_by_the_form_complaints_do_not(
    project: Project, serve: Callable[..., str]
) -> None:
    with Store(project.path / "newsletter.db") as store:
        Suppressions(store).record("zoe@example.com", COMPLAINT, "feedback loop", datetime.now(UTC))
    base = serve()
    time.sleep(1)  # the unsubscribe below and the link must not share a second
    http(f"{base}/subscribe", form(email="alan@example.com"))
    http(f"{base}/subscribe", form(email="zoe@example.com"))  # same answer, nothing mailed
    [message] = outbox(project)
    assert message["To"] == "alan@example.com"
    assert http(link_in(message, base), b"").title == "You are subscribed"
    assert csv_rows(project)["alan@example.com"]["status"] == "active"
    assert project.run("subscribers", "check").code == 0

    codec = ConfirmationCodec(SECRET.encode(), "daily.example.com")
    token = codec.make(SignupRequest("zoe@example.com"), datetime.now(UTC))
    refused = http(f"{base}/confirm/{token}", b"")
    assert (refused.status, refused.title) == (403, "We cannot subscribe this address here")


def test_the_welcome_message_goes_once_with_the_latest_edition(
    project: Project, serve: Callable[..., str]
) -> None:
    sent = project.run("send", "--date", "2026-11-27", env=ENV)
    assert sent.code == 0, sent.err
    before = len(outbox(project))
    base = serve(NEWSLETTER_WELCOME="true", NEWSLETTER_ARCHIVE_URL=f"{PUBLIC}/archive")
    http(f"{base}/subscribe", form(email="fay@example.com"))
    link = link_in(outbox(project)[before], base)
    http(link, b"")
    http(link, b"")
    mails = [m for m in outbox(project)[before:] if m["To"] == "fay@example.com"]
    assert [m["Subject"] for m in mails] == [
        "Confirm your subscription to Daily Newsletter",
        "Welcome to Daily Newsletter",
    ]
    welcome = text_of(mails[1])
    assert f"{PUBLIC}/archive/2026-11-27.html" in welcome
    assert mails[1]["List-Unsubscribe"].startswith(f"<{PUBLIC}/unsubscribe/u1")


def test_without_public_url_there_is_no_sign_up(project: Project, tmp_path: Path) -> None:
    served = Served(project.path, {"NEWSLETTER_SCHEDULE": "0 0 1 1 *"})
    try:
        served.wait_health(lambda body: True)
        assert http(f"http://127.0.0.1:{served.port}/subscribe").status == 404
    finally:
        assert served.stop() == 0


def test_the_confirmation_is_dkim_signed_like_the_editions(
    project: Project, serve: Callable[..., str]
) -> None:
    import dkim

    run = project.run("dkim", "keygen", "--selector", "nl1", "--domain", "example.com")
    assert run.code == 0, run.err
    record = "".join(re.findall(r'"([^"]*)"', run.out.partition(" IN TXT ")[2])).encode()
    base = serve(NEWSLETTER_DKIM_PRIVATE_KEY="dkim/nl1.pem", NEWSLETTER_DKIM_SELECTOR="nl1")

    assert http(f"{base}/subscribe", form(email="dee@example.org")).status == 200

    folder = project.path / "outbox" / ".notices" / "new"
    [path] = list(folder.iterdir())
    data = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # wire form
    # the outbox records the envelope sender first, as a delivering server does
    return_path, _, data = data.partition(b"\r\n")
    assert return_path == b"Return-Path: <newsletter@example.com>"

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"nl1._domainkey.example.com."
        return record

    assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert dkim.verify(data, dnsfunc=dns)
    assert not dkim.verify(data.replace(b"Subject: Confirm", b"Subject: Cnofirm"), dnsfunc=dns)
