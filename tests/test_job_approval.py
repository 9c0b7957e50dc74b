"""Editors see it first: proofs and the approval gate, through the CLI against the test SMTP
server (what arrived, what was printed, the exit codes, what `status` says)."""

from __future__ import annotations

import re

import dkim
from conftest import ACTIVE, Project
from test_mail_dkim import keygen

DAY = "2026-11-27"
EDITOR = "editor@example.net"  # not on the list


def env_for(url: str, **settings: str) -> dict[str, str]:
    return {
        "NEWSLETTER_SMTP_URL": url,
        **{f"NEWSLETTER_{k.upper()}": v for k, v in settings.items()},
    }


def parts(data: bytes) -> tuple[str, str]:
    from smtpserver import Received

    message = Received("", [], data).message
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text, html


def without_note(text: str, html: str) -> tuple[str, str]:
    """A proof's parts without the note that opens them (approve/hold links)."""
    rule = "-" * 60
    text = re.sub(rf"\A{rule}\n.*?\n{rule}\n\n", "", text, flags=re.S)
    html = re.sub(r"<!--proof-->.*?<!--/proof-->", "", html, flags=re.S)
    return text, html


def test_a_proof_reaches_the_editor_only_as_the_list_gets_it_marked_and_signed(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    record = keygen(project, "ed25519")
    env = env_for(
        url, public_url="https://news.example.com", dkim_private_key="dkim/nl1.pem",
        dkim_selector="nl1",
    )  # fmt: skip

    proof = project.run("send", "--proof", "ada@example.com", "--date", DAY, env=env)

    assert proof.code == 0, proof.err
    assert f"proof of edition {DAY} (#1): sent to ada@example.com" in proof.out
    assert "nothing was sent to the list" in proof.out
    assert [r.recipients for r in recorder.received] == [["ada@example.com"]]
    status = project.run("status", env=env)
    assert re.search(rf"{DAY}\s+1\s+0\s+0\s+0\s+0 ", status.out), status.out  # no list delivery
    assert "proof to ada@example.com at " in status.out and ": sent" in status.out

    send = project.run("send", "--date", DAY, env=env)  # the list's send is unaffected

    assert send.code == 0, send.err
    assert sorted(r.recipients[0] for r in recorder.received[1:]) == sorted(ACTIVE)
    proofed, listed = recorder.received[0], recorder.to("ada@example.com")[1]
    p, m = proofed.message, listed.message
    assert p["Subject"] == "[PROOF] " + m["Subject"]
    assert parts(proofed.data) == parts(listed.data)  # personalised for ada, same bytes
    for header in ("From", "To", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert p[header] == m[header], header
    assert p["Message-ID"] != m["Message-ID"]  # never mistaken for her copy of the edition

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record

    assert proofed.data.startswith(b"DKIM-Signature:") and dkim.verify(proofed.data, dnsfunc=dns)


def test_required_mails_nobody_until_approved_then_everyone_once(project: Project, smtp) -> None:
    recorder, url = smtp
    env = env_for(url, approval="required", proof_to=EDITOR)

    first = project.run("send", "--date", DAY, env=env)

    assert first.code == 0, first.err
    assert first.out.strip() == (
        f"edition {DAY} waits for approval: newsletter approve --date {DAY}"
    )
    assert [r.recipients for r in recorder.received] == [[EDITOR]]  # the proof, automatically
    assert recorder.received[0].message["Subject"].startswith("[PROOF] ")
    text, _ = parts(recorder.received[0].data)
    assert f"Or run: newsletter approve --date {DAY}" in text  # no public_url: no link
    again = project.run("send", "--date", DAY, env=env)
    assert again.code == 0 and "waits for approval" in again.out
    assert len(recorder.received) == 1  # the editors have this version already
    waiting = project.run("status", env=env).out
    assert f"    edition {DAY} waits for approval" in waiting

    approve = project.run("approve", "--date", DAY, env=env)

    assert approve.code == 0, approve.err
    assert approve.out.startswith(f"edition {DAY} (#1) approved")
    send = project.run("send", "--date", DAY, env=env)
    assert send.code == 0, send.err
    assert sorted(r.recipients[0] for r in recorder.received[1:]) == sorted(ACTIVE)
    once_more = project.run("send", "--date", DAY, env=env)
    assert once_more.code == 0 and len(recorder.received) == 1 + len(ACTIVE)
    status = project.run("status", env=env).out
    assert re.search(r"    approved by newsletter approve \(user .+\) at \d{4}-\d\d-\d\d", status)


def test_veto_sends_unless_held_and_hold_stops_the_send(project: Project, smtp) -> None:
    recorder, url = smtp
    env = env_for(url, approval="veto")
    assert project.run("send", "--proof", EDITOR, "--date", DAY, env=env).code == 0

    hold = project.run("hold", "--date", DAY, "--reason", "the lead picture is wrong", env=env)

    assert hold.code == 0, hold.err
    send = project.run("send", "--date", DAY, env=env)
    assert send.code == 0, send.err
    assert "is held (held by newsletter hold" in send.out
    assert "the lead picture is wrong" in send.out
    assert f"newsletter approve --date {DAY} --override" in send.out
    assert [r.recipients for r in recorder.received] == [[EDITOR]]  # the proof only
    status = project.run("status", env=env).out
    assert "held by newsletter hold (user " in status and ": the lead picture is wrong" in status

    approve = project.run("approve", "--date", DAY, env=env)  # the first decision stands
    assert approve.code == 2
    assert "was already held by newsletter hold" in approve.err
    assert "the first decision stands" in approve.err
    assert f"newsletter approve --date {DAY} --override" in approve.err

    assert project.run("approve", "--date", DAY, "--override", env=env).code == 0
    assert project.run("send", "--date", DAY, env=env).code == 0
    assert len(recorder.received) == 1 + len(ACTIVE)


def test_veto_without_a_decision_sends_on_schedule(project: Project, smtp) -> None:
    recorder, url = smtp
    send = project.run("send", "--date", DAY, env=env_for(url, approval="veto"))
    assert send.code == 0, send.err
    assert sorted(r.recipients[0] for r in recorder.received) == sorted(ACTIVE)


def test_a_template_change_after_approval_lapses_it_and_a_new_proof_goes_out(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    project.write("mytemplates/subject.txt.j2", "{{ list.name }}: {{ lead.title }}\n")
    env = env_for(url, approval="required", proof_to=EDITOR, templates="mytemplates")
    assert project.run("send", "--date", DAY, env=env).code == 0  # waits; proof 1
    assert project.run("approve", "--date", DAY, env=env).code == 0
    project.write("mytemplates/subject.txt.j2", "Today: {{ lead.title }}\n")

    send = project.run("send", "--date", DAY, env=env)

    assert send.code == 0, send.err
    assert "waits for approval (it changed since it was approved: the approval lapsed)" in (
        send.out
    )
    assert [r.recipients for r in recorder.received] == [[EDITOR], [EDITOR]]
    assert recorder.received[1].message["Subject"].startswith("[PROOF] Today: ")
    assert project.run("approve", "--date", DAY, env=env).code == 0
    assert project.run("send", "--date", DAY, env=env).code == 0
    listed = recorder.received[2:]
    assert sorted(r.recipients[0] for r in listed) == sorted(ACTIVE)
    assert all(r.message["Subject"].startswith("Today: ") for r in listed)


def test_bad_settings_and_decisions_are_refused_with_exit_2(project: Project, smtp) -> None:
    recorder, url = smtp
    project.write("newsletter.toml", 'approval = "sometimes"\nproof_to = ["ed@"]\n')
    bad = project.run("send", "--date", DAY, env=env_for(url))
    assert bad.code == 2
    assert "newsletter.toml:1: approval: Input should be 'none', 'required' or 'veto'" in bad.err
    assert "newsletter.toml:2: proof_to: 'ed@' is not an email address" in bad.err
    (project.path / "newsletter.toml").unlink()
    env = env_for(url, approval="required")

    missing = project.run("approve", "--date", DAY, env=env)
    assert missing.code == 2 and f"no edition for {DAY}: nothing to approve" in missing.err
    no_one = project.run("send", "--proof", "--date", DAY, env=env)
    assert no_one.code == 2 and "proof_to setting is empty" in no_one.err
    typo = project.run("send", "--proof", "ed@@example.com", "--date", DAY, env=env)
    assert typo.code == 2 and "--proof: 'ed@@example.com' is not an email address" in typo.err
    assert recorder.received == []

    assert project.run("send", "--proof", EDITOR, "--date", DAY, env=env).code == 0
    assert project.run("approve", "--date", DAY, env=env).code == 0
    assert project.run("send", "--date", DAY, env=env).code == 0
    late = project.run("hold", "--date", DAY, env=env)
    assert late.code == 2
    assert f"edition {DAY} was already sent ({len(ACTIVE)} messages)" in late.err


def test_no_proof_to_an_editor_who_left_the_list(project: Project, smtp) -> None:
    recorder, url = smtp
    env = env_for(url)
    assert project.run("subscribers", "unsubscribe", "ada@example.com", env=env).code == 0

    proof = project.run("send", "--proof", "ada@example.com", EDITOR, "--date", DAY, env=env)

    assert proof.code == 1
    assert "ada@example.com: not sent: unsubscribed on " in proof.out
    assert [r.recipients for r in recorder.received] == [[EDITOR]]
