"""The SMTP transactions newsletter drives itself (relay.py, smtpsession.py), against a
real aiosmtpd server that offers PIPELINING or not (each test runs both ways).

The session sends message bytes untouched when they are already in wire form, so these
tests check what arrives for bytes that are not (bare LF, lines opening with "."), that a
refusal at each step resets the envelope for the next message, lost connections and
timeouts, the envelope for addresses that need SMTPUTF8, and the relay's SIZE limit.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest
from conftest import Project, Run
from smtpserver import Recorder, start_server

from newsletter.delivery.relay import SmtpTarget, SmtpTransport, to_wire
from newsletter.models import DeliveryStatus, Job, Outcome

DAY = "2026-11-27"
DATA = b"Subject: s\r\n\r\nbody\r\n"


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def pipelining(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def job(recipient: str, data: bytes = DATA) -> Job:
    return Job("a@example.com", recipient, f"<{recipient}>", data, wire_ready=True)


def send_jobs(port: int, *jobs: Job, timeout: float = 30) -> list[Outcome]:
    """Send the jobs in turn on one connection (a new one after a drop)."""

    async def run() -> list[Outcome]:
        target = SmtpTarget("smtp", "127.0.0.1", port, timeout=timeout)
        transport = SmtpTransport(target, "test.example.com")
        conn = await transport.connect()
        outcomes = []
        try:
            for item in jobs:
                outcomes.append(await conn.send(item))
                if outcomes[-1].dropped:
                    await conn.close()
                    conn = await transport.connect()
        finally:
            await conn.close()
        return outcomes

    return asyncio.run(run())


def test_bytes_not_in_wire_form_are_normalised_and_dot_stuffed(pipelining: bool) -> None:
    recorder = Recorder(pipelining=pipelining)
    controller = start_server(recorder)
    raw = b"Subject: dots\n\n.leading dot\n..two dots\nbare CR\rend\n.\nlast line"
    try:
        outcomes = send_jobs(controller.port, Job("a@example.com", "b@example.com", "<1@x>", raw))
    finally:
        controller.stop()

    assert [o.status for o in outcomes] == [DeliveryStatus.SENT]
    # aiosmtpd un-stuffs the dots; what it stored is the message with CRLF line endings.
    (received,) = recorder.received
    assert received.data == (
        b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\nbare CR\r\nend\r\n.\r\nlast line\r\n"
    )


def test_wire_form_bytes_go_out_unchanged_and_the_session_is_reused(pipelining: bool) -> None:
    recorder = Recorder(pipelining=pipelining)
    controller = start_server(recorder)
    data = b"Subject: s\r\n\r\nline one\r\n=2Estarts with an encoded dot\r\n"
    assert to_wire(data) == data
    jobs = [
        Job("a@example.com", f"r{i}@example.com", f"<{i}@x>", data, wire_ready=True)
        for i in range(5)
    ]
    try:
        outcomes = send_jobs(controller.port, *jobs)
    finally:
        controller.stop()

    assert [o.status for o in outcomes] == [DeliveryStatus.SENT] * 5
    assert [r.data for r in recorder.received] == [data] * 5
    assert [r.recipients for r in recorder.received] == [[f"r{i}@example.com"] for i in range(5)]
    assert recorder.sessions == 1


@pytest.mark.parametrize(
    "step, reply",
    [
        ("rcpt", "550 5.1.1 no such user"),
        ("rcpt", "451 4.7.1 greylisted"),
        ("data", "554 5.7.1 message refused"),
        ("data", "452 4.3.1 out of storage"),
    ],
)
def test_a_refusal_fails_that_message_and_the_next_goes_through_on_the_same_session(
    pipelining: bool, step: str, reply: str
) -> None:
    recorder = Recorder(pipelining=pipelining)
    getattr(recorder, f"{step}_replies")["no@example.com"] = reply
    controller = start_server(recorder)
    try:
        outcomes = send_jobs(controller.port, job("no@example.com"), job("yes@example.com"))
    finally:
        controller.stop()

    code, text = int(reply[:3]), reply[4:]
    status = DeliveryStatus.FAILED if code >= 500 else DeliveryStatus.DEFERRED
    expected = Outcome(status, code, text, bounced=text.startswith("5.1.1"))
    assert outcomes[0] == expected
    assert outcomes[1] == Outcome(DeliveryStatus.SENT, 250, "accepted")
    assert [r.recipients for r in recorder.received] == [["yes@example.com"]]
    assert recorder.sessions == 1  # the envelope was reset, not the connection


def test_a_connection_dropped_mid_message_is_reported_and_the_next_connection_works(
    pipelining: bool,
) -> None:
    recorder = Recorder(pipelining=pipelining, drop_after=1)
    controller = start_server(recorder)
    try:
        outcomes = send_jobs(
            controller.port, job("one@example.com"), job("two@example.com"), job("3@example.com")
        )
    finally:
        controller.stop()

    assert outcomes[0].status is DeliveryStatus.SENT
    # Dropped after the final dot, before the reply: the relay may have it (RFC 1047).
    assert outcomes[1].status is DeliveryStatus.PENDING and outcomes[1].dropped
    assert "before the relay's reply" in outcomes[1].text
    assert outcomes[2].status is DeliveryStatus.SENT
    assert recorder.counts() == {"one@example.com": 1, "3@example.com": 1}
    assert recorder.sessions == 2


def test_a_relay_that_does_not_answer_in_time_is_a_dropped_connection(
    pipelining: bool,
) -> None:
    recorder = Recorder(pipelining=pipelining, delay=2.0)
    controller = start_server(recorder)
    try:
        (outcome,) = send_jobs(controller.port, job("slow@example.com"), timeout=0.5)
    finally:
        controller.stop()

    # No reply to the message within the timeout: in doubt, not a plain deferral.
    assert outcome.status is DeliveryStatus.PENDING and outcome.dropped
    assert "timed out" in outcome.text


@pytest.mark.parametrize(
    "recipient", ["x@example.com> NOTIFY=NEVER", "x@example.com\r\nRCPT TO:<y@example.com>"]
)
def test_an_address_that_could_inject_a_command_fails_and_nothing_is_sent(
    pipelining: bool, recipient: str
) -> None:
    recorder = Recorder(pipelining=pipelining)
    controller = start_server(recorder)
    try:
        outcomes = send_jobs(controller.port, job(recipient), job("ok@example.com"))
    finally:
        controller.stop()

    assert outcomes[0].status is DeliveryStatus.FAILED and not outcomes[0].dropped
    assert outcomes[1].status is DeliveryStatus.SENT
    assert [r.recipients for r in recorder.received] == [["ok@example.com"]]


def send_cli(project: Project, emails: list[str], **server: object) -> tuple[Recorder, Run]:
    """``newsletter send`` to these subscribers, through aiosmtpd started with ``server``."""
    rows = "".join(f"{e},Reader\n" for e in emails)
    project.write("subscribers/subscribers.csv", "email,name\n" + rows)
    recorder = Recorder()
    controller = start_server(recorder, **server)
    url = f"smtp://127.0.0.1:{controller.port}"
    try:
        return recorder, project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})
    finally:
        controller.stop()


def ledger(project: Project) -> dict[str, tuple[str, int | None, str]]:
    db = sqlite3.connect(project.path / "newsletter.db")
    rows = db.execute("SELECT email, status, last_code, last_text FROM deliveries").fetchall()
    return {email: (status, code, text) for email, status, code, text in rows}


def test_non_ascii_address_fails_clearly_when_the_relay_lacks_smtputf8(
    project: Project,
) -> None:
    emails = ["jörg@example.com", "plain@example.com"]
    recorder, run = send_cli(project, emails, enable_SMTPUTF8=False)

    assert run.code == 1, run.err
    assert "jörg@example.com: failed: non-ASCII address and the relay lacks SMTPUTF8" in run.err
    assert "Traceback" not in run.err
    assert recorder.counts() == {"plain@example.com": 1}
    assert ledger(project)["jörg@example.com"][0] == "failed"


def test_non_ascii_address_is_delivered_with_smtputf8(project: Project) -> None:
    emails = ["jörg@example.com", "plain@example.com"]
    recorder, run = send_cli(project, emails, enable_SMTPUTF8=True)

    assert run.code == 0, run.err
    assert recorder.counts() == {"jörg@example.com": 1, "plain@example.com": 1}
    assert "To: Reader <jörg@example.com>\r\n".encode() in recorder.to("jörg@example.com")[0].data


def test_a_message_over_the_relays_size_limit_is_refused_before_anything_is_sent(
    project: Project,
) -> None:
    # the edition is larger than the SIZE the relay advertises (RFC 1870)
    recorder, run = send_cli(project, ["a@example.com", "b@example.com"], data_size_limit=10_000)

    assert run.code == 2, run.err
    assert recorder.received == []
    assert ledger(project) == {}
    assert re.search(
        r"takes messages up to 10,000 bytes \(SIZE in its EHLO reply\) and this "
        r"edition's messages are [\d,]+ bytes: nothing was sent",
        run.err,
    ), run.err
    assert "max_articles" in run.err and "Traceback" not in run.err


def test_an_internationalised_domain_goes_out_as_idna_without_smtputf8(project: Project) -> None:
    emails = ["jane@bücher.example", "plain@example.com"]
    recorder, run = send_cli(project, emails, enable_SMTPUTF8=False)

    assert run.code == 0, run.err
    assert recorder.counts() == {"jane@xn--bcher-kva.example": 1, "plain@example.com": 1}
    assert ledger(project)["jane@bücher.example"][0] == "sent"


def test_a_rerun_counts_an_earlier_permanent_failure_as_failed_not_delivered(
    project: Project,
) -> None:
    emails = ["jörg@example.com", "ann@example.com", "bob@example.com"]
    _, first = send_cli(project, emails, enable_SMTPUTF8=False)  # jörg: no SMTPUTF8
    assert first.code == 1 and "2 sent, 1 failed" in first.out

    recorder, again = send_cli(project, emails, enable_SMTPUTF8=False)

    assert again.code == 0, again.err
    assert recorder.received == []
    assert "nothing new to send: 2 already delivered, 1 failed earlier (not retried" in again.out
    assert "already delivered to all" not in again.out
