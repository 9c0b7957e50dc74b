"""The SMTP transaction newsletter drives itself (relay.py), against a real aiosmtpd server.

relay.py sends message bytes after DATA untouched when they are already in wire form, so
these tests check what arrives for bytes that are not (bare LF, lines opening with "."),
the envelope for addresses that need SMTPUTF8, and the relay's SIZE limit.
"""

from __future__ import annotations

import asyncio
import sqlite3

from conftest import Project
from smtpserver import Recorder, start_server

from newsletter.delivery import Job
from newsletter.models import DeliveryStatus, Outcome
from newsletter.relay import SmtpTarget, SmtpTransport, to_wire

DAY = "2026-11-27"


def send_jobs(port: int, *jobs: Job) -> list[Outcome]:
    async def run() -> list[Outcome]:
        transport = SmtpTransport(SmtpTarget("smtp", "127.0.0.1", port), "test.example.com")
        conn = await transport.connect()
        try:
            return [await conn.send(job) for job in jobs]
        finally:
            await conn.close()

    return asyncio.run(run())


def test_bytes_not_in_wire_form_are_normalised_and_dot_stuffed() -> None:
    recorder = Recorder()
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


def test_wire_form_bytes_go_out_unchanged_and_the_session_is_reused() -> None:
    recorder = Recorder()
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


def test_refused_recipient_resets_the_envelope_for_the_next_message() -> None:
    recorder = Recorder(rcpt_replies={"gone@example.com": "550 5.1.1 no such user"})
    controller = start_server(recorder)
    data = b"Subject: s\r\n\r\nbody\r\n"
    try:
        outcomes = send_jobs(
            controller.port,
            Job("a@example.com", "gone@example.com", "<1@x>", data, wire_ready=True),
            Job("a@example.com", "here@example.com", "<2@x>", data, wire_ready=True),
        )
    finally:
        controller.stop()

    assert outcomes[0] == Outcome(DeliveryStatus.FAILED, 550, "5.1.1 no such user", bounced=True)
    assert outcomes[1].status is DeliveryStatus.SENT
    assert [r.recipients for r in recorder.received] == [["here@example.com"]]


def write_list(project: Project, *emails: str) -> None:
    rows = "".join(f"{e},Reader\n" for e in emails)
    project.write("subscribers/subscribers.csv", "email,name\n" + rows)


def ledger(project: Project) -> dict[str, tuple[str, int | None, str]]:
    db = sqlite3.connect(project.path / "newsletter.db")
    rows = db.execute("SELECT email, status, last_code, last_text FROM deliveries").fetchall()
    return {email: (status, code, text) for email, status, code, text in rows}


def test_non_ascii_address_fails_clearly_when_the_relay_lacks_smtputf8(
    project: Project,
) -> None:
    recorder = Recorder()
    controller = start_server(recorder, enable_SMTPUTF8=False)
    write_list(project, "jörg@example.com", "plain@example.com")
    try:
        run = project.run(
            "send",
            "--date",
            DAY,
            env={"NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{controller.port}"},
        )
    finally:
        controller.stop()

    assert run.code == 1, run.err
    assert "jörg@example.com: failed: non-ASCII address and the relay lacks SMTPUTF8" in run.err
    assert "Traceback" not in run.err
    assert recorder.counts() == {"plain@example.com": 1}
    assert ledger(project)["jörg@example.com"][0] == "failed"


def test_non_ascii_address_is_delivered_with_smtputf8(project: Project) -> None:
    recorder = Recorder()
    controller = start_server(recorder, enable_SMTPUTF8=True)
    write_list(project, "jörg@example.com", "plain@example.com")
    try:
        run = project.run(
            "send",
            "--date",
            DAY,
            env={"NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{controller.port}"},
        )
    finally:
        controller.stop()

    assert run.code == 0, run.err
    assert recorder.counts() == {"jörg@example.com": 1, "plain@example.com": 1}
    assert "To: Reader <jörg@example.com>\r\n".encode() in recorder.to("jörg@example.com")[0].data


def test_a_message_over_the_relays_size_limit_fails_with_the_relays_reply(
    project: Project,
) -> None:
    recorder = Recorder()
    controller = start_server(recorder, data_size_limit=10_000)  # the edition is larger
    write_list(project, "a@example.com", "b@example.com")
    try:
        run = project.run(
            "send",
            "--date",
            DAY,
            env={"NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{controller.port}"},
        )
    finally:
        controller.stop()

    assert run.code == 1
    assert recorder.received == []
    status, code, text = ledger(project)["a@example.com"]
    assert (status, code) == ("failed", 552), text
    assert "a@example.com: failed: 552" in run.err
