"""`newsletter serve`: the unsubscribe endpoint over real HTTP, with real sends around it."""

from __future__ import annotations

import asyncio
import csv
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ACTIVE, Project, with_sender
from daemonproc import Served
from mounts import Mounts, mounted
from smtpserver import Recorder, free_port, start_server

from newsletter.daemon.web import token_codec
from newsletter.settings.config import load_settings
from newsletter.store.database import Store
from newsletter.subscribers.tokens import TokenCodec

DAY = "2026-11-27"
SECRET = "5f0c6a1d2b9e8f7a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3"  # 32 bytes, hex
ENV = {
    "NEWSLETTER_PUBLIC_URL": "https://news.example.com",
    "NEWSLETTER_SECRET_KEY": SECRET,
    "NEWSLETTER_SCHEDULE": "0 0 1 1 *",  # the daemon's own send stays out of these tests
}


@dataclass
class Reply:
    status: int
    body: str
    headers: dict[str, str]


def http(url: str, data: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return Reply(resp.status, resp.read().decode(), dict(resp.headers))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode(), dict(exc.headers))


ONE_CLICK = b"List-Unsubscribe=One-Click"


@pytest.fixture
def server(project: Project) -> Iterator[str]:
    """`newsletter serve` in its own process on a free loopback port; yields its base URL."""
    port = free_port()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("NEWSLETTER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "serve", "--listen", f"127.0.0.1:{port}"],
        cwd=project.path,
        env={**env, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(
        f"serving unsubscribe links on http://127.0.0.1:{port}"
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):  # the line is printed just before the socket is bound
        try:
            if http(f"{base}/healthz").status == 200:
                break
        except OSError:
            time.sleep(0.05)
    try:
        yield base
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0, proc.stderr.read() if proc.stderr else ""


def statuses(project: Project) -> dict[str, str]:
    path = project.path / "subscribers" / "subscribers.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {r["email"]: r.get("status") or "active" for r in csv.DictReader(handle)}


def link_in_mail(project: Project, smtp_url: str, recorder: Recorder, email: str) -> str:
    run = project.run("send", "--date", DAY, env={**ENV, "NEWSLETTER_SMTP_URL": smtp_url})
    assert run.code == 0, run.err
    message = recorder.to(email)[0].message
    url = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])[0]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'href="{url}"' in html  # the visible footer link is the same
    return url


def test_one_click_post_unsubscribes_at_once_without_redirect_or_cookie(
    project: Project, smtp, server: str
) -> None:
    recorder, smtp_url = smtp
    url = link_in_mail(project, smtp_url, recorder, "ada@example.com")
    assert url.startswith("https://news.example.com/unsubscribe/u1")
    assert "ada" not in url.lower() and "YWRh" not in url  # the address is not readable
    local = url.replace("https://news.example.com", server)

    reply = http(local, ONE_CLICK)

    assert reply.status == 200
    assert "You are unsubscribed" in reply.body and "ad…@example.com" in reply.body
    assert "Set-Cookie" not in reply.headers and "Location" not in reply.headers
    assert statuses(project)["ada@example.com"] == "unsubscribed"
    again = http(local, ONE_CLICK)  # a second click is harmless
    assert again.status == 200
    # Tomorrow's edition goes to everyone else.
    project.write("seeds/900_new.md", "---\ntitle: Tomorrow\nsection: World\n---\nNews.\n")
    recorder.received.clear()
    env = {**ENV, "NEWSLETTER_SMTP_URL": smtp_url}
    assert project.run("send", "--date", "2026-11-28", env=env).code == 0
    assert sorted(r.recipients[0] for r in recorder.received) == sorted(
        a for a in ACTIVE if a != "ada@example.com"
    )


def test_get_shows_a_confirmation_page_and_changes_nothing(
    project: Project, smtp, server: str
) -> None:
    recorder, smtp_url = smtp
    url = link_in_mail(project, smtp_url, recorder, "zoe@example.com")
    local = url.replace("https://news.example.com", server)

    page = http(local)

    assert page.status == 200
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.body
    assert '<form method="post">' in page.body and ">Unsubscribe</button>" in page.body
    assert 'name="List-Unsubscribe" value="One-Click"' in page.body  # the button's body
    assert "zo…@example.com" in page.body
    assert statuses(project)["zoe@example.com"] == "active"


@pytest.mark.parametrize(
    "token",
    [
        "forged",
        "u1AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "u1" + "%%%",
        None,  # a real token with one character changed
        "other-list",  # a real token for another list id
    ],
)
def test_a_forged_or_malformed_token_changes_nothing_and_says_so(
    project: Project, server: str, token: str | None
) -> None:
    codec = TokenCodec(SECRET.encode(), "daily.example.com")
    real = codec.make("ada@example.com")
    if token is None:
        token = real[:10] + ("A" if real[10] != "A" else "B") + real[11:]
    elif token == "other-list":
        token = TokenCodec(SECRET.encode(), "weekly.example.com").make("ada@example.com")
    before = (project.path / "subscribers" / "subscribers.csv").read_bytes()

    for reply in (
        http(f"{server}/unsubscribe/{token}", ONE_CLICK),
        http(f"{server}/unsubscribe/{token}"),
    ):
        assert reply.status == 400
        assert "This unsubscribe link is not valid" in reply.body
        assert "Nothing changed" in reply.body
    assert (project.path / "subscribers" / "subscribers.csv").read_bytes() == before
    # The real one still works, but only with the one-click body.
    assert http(f"{server}/unsubscribe/{real}", b"something=else").status == 400
    assert statuses(project)["ada@example.com"] == "active"
    assert http(f"{server}/unsubscribe/{real}", ONE_CLICK).status == 200


def test_a_rotated_key_keeps_old_links_working_for_the_configured_time(tmp_path: Path) -> None:
    old, new = (secrets.token_hex(32).encode() for _ in range(2))
    link = TokenCodec(old, "daily.example.com").make("ada@example.com")
    (tmp_path / "newsletter.toml").write_text(
        f'secret_key = "{new.decode()}"\nprevious_secret_keys = ["{old.decode()}"]\n'
        "previous_secret_keys_days = 30\n"
    )
    settings, _ = load_settings(tmp_path / "newsletter.toml")
    rotated = datetime(2026, 11, 27, tzinfo=UTC)
    with Store(settings.database) as store:
        assert token_codec(settings, store, rotated).read(link) == "ada@example.com"
        later = rotated + timedelta(days=29)
        assert token_codec(settings, store, later).read(link) == "ada@example.com"
        expired = token_codec(settings, store, rotated + timedelta(days=31))
        assert expired.read(link) is None
        assert expired.read(TokenCodec(new, "daily.example.com").make("x@example.com")) == (
            "x@example.com"
        )


class SlowRecorder(Recorder):
    """Accepts each message after a pause, so a send takes a few seconds."""

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


def test_unsubscribes_arriving_during_a_send_stop_mail_from_the_next_message_on(
    project: Project, server: str
) -> None:
    people = [f"reader{i:03d}@example.com" for i in range(150)]
    project.write(
        "subscribers/subscribers.csv", "email,name\n" + "".join(f"{p},R\n" for p in people)
    )
    recorder = SlowRecorder()
    controller = start_server(recorder)
    env = {
        **ENV,
        "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{controller.port}",
        "NEWSLETTER_SMTP_CONNECTIONS": "2",
    }
    leaving = people[-20:]  # far behind the few messages already queued
    codec = TokenCodec(SECRET.encode(), "daily.example.com")
    try:
        send = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "send", "--date", DAY],
            cwd=project.path,
            env={**__import__("os").environ, **with_sender(env, project.path)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while len(recorder.received) < 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        with ThreadPoolExecutor(max_workers=len(leaving)) as pool:
            replies = list(
                pool.map(
                    lambda p: http(f"{server}/unsubscribe/{codec.make(p)}", ONE_CLICK), leaving
                )
            )
        mid_send = statuses(project)  # the send holds the lock: the CSV is not rewritten yet
        sent_when_posted = len(recorder.received)
        out, err = send.communicate(timeout=120)
    finally:
        controller.stop()

    assert send.returncode == 0, err
    assert sent_when_posted < 130, "the send finished before the unsubscribes arrived"
    assert all(r.status == 200 and "You are unsubscribed" in r.body for r in replies)
    assert all(mid_send[p] == "active" for p in leaving)
    received = {r.recipients[0] for r in recorder.received}
    assert received == set(people) - set(leaving)
    assert "130 sent" in out
    final = statuses(project)  # written into the CSV by the send when it ended
    assert all(final[p] == "unsubscribed" for p in leaving)
    assert sum(s == "active" for s in final.values()) == 130


# --- what the endpoint cannot do, it does not pretend; what it cannot parse, it refuses ---


@pytest.fixture
def served(project: Project) -> Iterator[Served]:
    """`newsletter serve` whose log the test reads (daemonproc.Served)."""
    daemon = Served(project.path, ENV)
    try:
        daemon.wait_for("listening on")
        yield daemon
    finally:
        daemon.kill()


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    with mounted() as made:
        yield made


def test_an_unsubscribe_that_cannot_be_recorded_answers_503_not_200(
    project: Project, smtp, served: Served, mounts: Mounts
) -> None:
    recorder, smtp_url = smtp
    url = link_in_mail(project, smtp_url, recorder, "ada@example.com")
    local = url.replace("https://news.example.com", f"http://127.0.0.1:{served.port}")
    database = project.path / "newsletter.db"
    mounts.read_only(database)

    reply = http(local, ONE_CLICK)

    assert reply.status == 503
    assert "Please try again later" in reply.body and "nothing changed yet" in reply.body
    assert "unsubscribed" not in reply.body
    assert reply.headers["Retry-After"] == "300"
    line = served.wait_for("unsubscribe not recorded")
    assert f"{database}: cannot write the database: it is read-only" in line
    assert statuses(project)["ada@example.com"] == "active"
    assert "Traceback" not in served.log

    mounts.unmount(database)  # the operator fixed it: the same link works
    again = http(local, ONE_CLICK)
    assert again.status == 200 and "You are unsubscribed" in again.body
    assert statuses(project)["ada@example.com"] == "unsubscribed"


@pytest.mark.parametrize("where", ["url", "header"])
def test_an_overlong_request_gets_a_400_without_a_traceback_in_the_log(
    project: Project, served: Served, where: str
) -> None:
    base = f"http://127.0.0.1:{served.port}"
    long = "A" * 100_000
    if where == "url":
        request = urllib.request.Request(f"{base}/unsubscribe/{long}")
    else:
        request = urllib.request.Request(f"{base}/unsubscribe/x", headers={"X-Long": long})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code

    assert status == 400
    assert served.health()[0] == 200  # still serving
    long_token = http(f"{base}/unsubscribe/{'A' * 5000}")  # parsable: just not a link
    assert long_token.status == 400 and "not valid" in long_token.body
    served.stop()
    assert "Traceback" not in served.log and "Error handling request" not in served.log
