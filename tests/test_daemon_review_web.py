"""`newsletter serve` and the approval gate: a proof's approve/hold link over real HTTP,
a scheduled send waiting for a decision (and /healthz saying so), the automatic proof
`proof_lead` before the send."""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ACTIVE, FAST_RETRIES, Project
from daemonproc import Served
from smtpserver import Recorder
from test_daemon import daily_at
from test_daemon_unsubscribe_web import SECRET, http

from newsletter.edition.approval import ReviewLink
from newsletter.subscribers.tokens import REVIEW, TokenCodec

DAY = "2026-11-27"
EDITOR = "editor@example.net"
PUBLIC = "https://news.example.com"


def settings(url: str, **more: str) -> dict[str, str]:
    return {
        **FAST_RETRIES,
        "NEWSLETTER_SMTP_URL": url,
        "NEWSLETTER_PUBLIC_URL": PUBLIC,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_APPROVAL": "required",
        **{f"NEWSLETTER_{k.upper()}": v for k, v in more.items()},
    }


@pytest.fixture
def started(project: Project) -> Iterator[list[Served]]:
    daemons: list[Served] = []
    yield daemons
    for daemon in daemons:
        daemon.kill()


def serve(project: Project, env: dict[str, str], daemons: list[Served]) -> Served:
    daemon = Served(project.path, env)
    daemons.append(daemon)
    daemon.wait_health(lambda body: True)
    return daemon


def review_link(recorder: Recorder, editor: str) -> str:
    message = recorder.to(editor)[-1].message
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"Approve or hold it: (\S+)", text)
    assert found, text
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'href="{found.group(1)}"' in html  # the same link in both parts
    return found.group(1)


def post(url: str, **form: str) -> tuple[int, str]:
    reply = http(url, urllib.parse.urlencode(form).encode())
    return reply.status, reply.body


def test_the_link_get_changes_nothing_and_its_post_approves(
    project: Project, smtp, started
) -> None:
    recorder, url = smtp
    env = settings(url, schedule="0 0 1 1 *")
    daemon = serve(project, env, started)
    base = f"http://127.0.0.1:{daemon.port}"
    assert project.run("send", "--proof", EDITOR, "--date", DAY, env=env).code == 0
    link = review_link(recorder, EDITOR)
    assert link.startswith(f"{PUBLIC}/review/r1")
    local = link.replace(PUBLIC, base)

    page = http(local)

    assert page.status == 200, page.body
    assert "Approve: send it to the list" in page.body and "Hold: keep it" in page.body
    assert "Decided so far: nothing yet" in page.body
    assert page.headers.get("Cache-Control") == "no-store"
    waiting = project.run("send", "--date", DAY, env=env)
    assert "waits for approval" in waiting.out  # the GET decided nothing
    assert len(recorder.received) == 1

    status, body = post(local, decision="approve")

    assert status == 200, body
    assert "Edition 27 November 2026 is approved" in body
    second, said = post(local, decision="hold", reason="too late")  # the first stands
    assert second == 409 and "the first decision stands" in said
    assert f"approved by link from {EDITOR}" in project.run("status", env=env).out
    send = project.run("send", "--date", DAY, env=env)
    assert send.code == 0, send.err
    assert sorted(r.recipients[0] for r in recorder.received[1:]) == sorted(ACTIVE)
    gone = http(local)
    assert gone.status == 409 and "already sent" in gone.body
    assert daemon.stop() == 0


def test_a_french_list_reviews_in_french_with_french_dates(project: Project, smtp, started) -> None:
    recorder, url = smtp
    env = settings(url, schedule="0 0 1 1 *", language="fr")
    daemon = serve(project, env, started)
    assert project.run("send", "--proof", EDITOR, "--date", DAY, env=env).code == 0
    local = review_link(recorder, EDITOR).replace(PUBLIC, f"http://127.0.0.1:{daemon.port}")
    assert "Édition du 27 novembre 2026" in http(local).body

    status, body = post(local, decision="approve")

    assert status == 200 and "L’édition du 27 novembre 2026 est approuvée" in body, body
    page = http(local).body
    assert re.search(rf"approuvée par lien de {EDITOR} le \d+ \w+ \d{{4}} à \d\d:\d\d UTC", page)
    assert "2026-11-27" not in page and "approved by" not in page
    second, said = post(local, decision="hold", reason="trop tard")
    assert second == 409 and "la première décision l’emporte" in said, said
    assert "approved by" not in said and "2026-11-27" not in said
    # the command line keeps its English
    assert f"approved by link from {EDITOR}" in project.run("status", env=env).out
    assert project.run("send", "--date", DAY, env=env).code == 0
    gone = http(local)
    assert gone.status == 409 and "déjà été envoyée" in gone.body, gone.body
    assert "was already sent" not in gone.body
    assert daemon.stop() == 0


def test_forged_expired_and_unsubscribe_tokens_change_nothing(
    project: Project, smtp, started
) -> None:
    recorder, url = smtp
    env = settings(url, schedule="0 0 1 1 *")
    daemon = serve(project, env, started)
    base = f"http://127.0.0.1:{daemon.port}"
    assert project.run("send", "--proof", EDITOR, "--date", DAY, env=env).code == 0
    token = review_link(recorder, EDITOR).rsplit("/", 1)[1]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    unsubscribe = re.findall(r"<([^>]+)>", recorder.received[0].message["List-Unsubscribe"])[0]
    codec = TokenCodec(SECRET.encode(), "daily.example.com", purpose=REVIEW)
    version = ReviewLink.read(codec, token)
    assert version is not None and version.editor == EDITOR
    expired = ReviewLink(version.day, version.fingerprint, EDITOR, datetime.now(UTC) - timedelta(1))

    for bad, code in (
        (forged, 400),
        (unsubscribe.rsplit("/", 1)[1], 400),  # another purpose's token
        (expired.seal(codec), 410),
    ):
        assert http(f"{base}/review/{bad}").status == code
        assert post(f"{base}/review/{bad}", decision="approve")[0] == code
    assert http(f"{base}/unsubscribe/{token}").status == 400  # and the other way round
    assert post(f"{base}/review/{token}", decision="maybe")[0] == 400

    assert "waits for approval" in project.run("send", "--date", DAY, env=env).out
    assert len(recorder.received) == 1  # still only the proof: nothing was approved
    assert daemon.stop() == 0


def test_a_scheduled_send_waits_shows_it_on_healthz_and_goes_once_approved(
    project: Project, smtp, started
) -> None:
    recorder, url = smtp
    fire = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    env = settings(url, schedule=daily_at(fire), late_grace="1h", proof_to=EDITOR)
    daemon = serve(project, env, started)

    body = daemon.wait_health(lambda b: b["waiting"] is not None)

    assert body["status"] == "ok" and body["last_run"]["outcome"] == "waiting"
    assert body["waiting"]["day"] == str(fire.date())
    assert body["waiting"]["reason"] == (
        f"edition {fire.date()} waits for approval: newsletter approve --date {fire.date()}"
    )
    assert [r.recipients for r in recorder.received] == [[EDITOR]]  # the proof only

    approve = project.run("approve", "--date", str(fire.date()), env=env)

    assert approve.code == 0, approve.err
    done = daemon.wait_health(lambda b: b["last_run"]["outcome"] == "sent", timeout=30)
    assert done["waiting"] is None
    assert recorder.counts() == {EDITOR: 1, **dict.fromkeys(ACTIVE, 1)}
    assert daemon.stop() == 0


def test_the_proof_goes_out_proof_lead_before_the_scheduled_send(
    project: Project, smtp, started
) -> None:
    recorder, url = smtp
    send_at = (datetime.now(UTC) + timedelta(seconds=40)).replace(microsecond=0)
    env = settings(url, schedule=daily_at(send_at), proof_lead="30s", proof_to=EDITOR)
    daemon = serve(project, env, started)

    deadline = time.monotonic() + 30
    while not recorder.received and time.monotonic() < deadline:
        time.sleep(0.2)

    assert [r.recipients for r in recorder.received] == [[EDITOR]], daemon.log
    assert datetime.now(UTC) < send_at  # before the send, which has not run
    assert daemon.health()[1]["last_run"] is None
    assert f"proof of edition {send_at.date()}: sent to {EDITOR}" in daemon.log
    assert daemon.stop() == 0
