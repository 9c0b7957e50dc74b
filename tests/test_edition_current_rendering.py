"""The day's edition keeps its frozen choice of articles (their order, its number) but
follows the templates and settings: a preview shows the current rendering, and the next
messages of a send that already started carry it, with a warning saying how many got the
earlier one. The ledger still sends nobody the edition twice."""

from __future__ import annotations

import email
import email.policy
import re
import sqlite3
from email.message import EmailMessage
from pathlib import Path

import pytest
from conftest import SENDER, Project

DAY = "2026-11-27"
OLD_ADDRESS = "Daily Newsletter, 1 Example Street, Example City"
NEW_ADDRESS = "42 Rue Neuve, 75001 Paris"
NEW_SUBJECT = "Morning brief {{ edition.number }}: {{ lead.title }}\n"
CHANGED = "templates or settings changed since this edition was first sent"


def outbox(project: Project) -> dict[str, EmailMessage]:
    """The Maildir outbox's messages by recipient."""
    found: dict[str, EmailMessage] = {}
    for path in (project.path / "outbox" / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found[msg["To"].addresses[0].addr_spec] = msg  # type: ignore[assignment]
    return found


def html_of(msg: EmailMessage) -> str:
    return msg.get_body(("html",)).get_content()  # type: ignore[union-attr]


def links(msg: EmailMessage) -> list[str]:
    """The articles' links, in order: which articles, in which order."""
    return re.findall(r'href="(https://[^"]+)"', html_of(msg).split("unsubscribe")[0])


def change_settings_and_subject(project: Project) -> None:
    """What the issue's user did after the README's first command."""
    project.write("my-templates/subject.txt.j2", NEW_SUBJECT)
    project.write(
        "newsletter.toml", f'postal_address = "{NEW_ADDRESS}"\ntemplates = "my-templates"\n'
    )
    with (project.path / "subscribers" / "subscribers.csv").open("a") as csv:
        csv.write("new@example.com,New Reader,active,Paris\n")


def test_the_same_days_preview_and_next_messages_follow_changed_settings(
    project: Project,
) -> None:
    first = project.run("send", "--date", DAY)  # the README's first command: Maildir demo
    assert first.code == 0, first.err
    before = outbox(project)
    assert len(before) == 4 and OLD_ADDRESS in html_of(before["ada@example.com"])
    lead_story = r'class="article lead".*?<h3[^>]*>(?:<a [^>]*>)?([^<]+)<'
    (lead,) = re.findall(lead_story, html_of(before["ada@example.com"]), re.S)[:1]
    assert before["ada@example.com"]["Subject"].startswith(lead.split()[0])

    change_settings_and_subject(project)
    preview = project.run("preview", "--date", DAY)

    assert preview.code == 0, preview.err
    shown = email.message_from_bytes(
        (project.path / "previews" / f"{DAY}.eml").read_bytes(), policy=email.policy.default
    )
    assert shown["Subject"] == f"Morning brief 1: {lead}"
    assert NEW_ADDRESS in html_of(shown) and OLD_ADDRESS not in html_of(shown)  # type: ignore[arg-type]
    assert NEW_ADDRESS in (project.path / "previews" / f"{DAY}.txt").read_text()
    assert f"{CHANGED}: this preview shows the current version" in preview.err

    second = project.run("send", "--date", DAY)

    assert second.code == 0, second.err
    assert f"{CHANGED}: 4 got the earlier version" in second.err
    assert "1 sent" in second.out and "4 already had it" in second.out
    after = outbox(project)
    assert len(after) == 5  # nobody twice
    new = after["new@example.com"]
    assert new["Subject"] == f"Morning brief 1: {lead}"
    assert NEW_ADDRESS in html_of(new) and NEW_ADDRESS in new.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert links(new) == links(before["ada@example.com"])  # the same articles, same order
    # The day's page on the web archive follows too; its feed entry is titled with the
    # lead headline and the long date, whatever the subject template says.
    assert NEW_ADDRESS in (project.path / "archive" / f"{DAY}.html").read_text()
    assert (
        f"<title>{lead} — 27 November 2026</title>"
        in (project.path / "archive" / "feed.xml").read_text()
    )

    third = project.run("send", "--date", DAY)  # nothing changed since: nothing to say
    assert third.code == 0 and CHANGED not in third.err
    assert "already delivered to all 5 active subscribers" in third.out
    quiet = project.run("preview", "--date", DAY)
    assert quiet.code == 0 and CHANGED not in quiet.err


def frozen(project: Project) -> tuple[str, str, str]:
    db = sqlite3.connect(project.path / "newsletter.db")
    row = db.execute("SELECT number, article_ids, rendered FROM editions").fetchone()
    db.close()
    return row


def test_an_unchanged_rendering_keeps_the_frozen_bytes(project: Project) -> None:
    assert project.run("send", "--date", DAY).code == 0
    number, articles, rendered = frozen(project)
    with (project.path / "subscribers" / "subscribers.csv").open("a") as csv:
        csv.write("new@example.com,New Reader,active,Paris\n")

    run = project.run("send", "--date", DAY)

    assert run.code == 0 and CHANGED not in run.err
    # Rendered again to compare, but kept as it was: the merge tokens' nonce differs
    # between renderings, the messages do not.
    assert frozen(project) == (number, articles, rendered)
    sent = outbox(project)
    ada, new = html_of(sent["ada@example.com"]), html_of(sent["new@example.com"])
    assert (
        ada.replace("ada@example.com", "X")
        .replace("ada%40example.com", "X")
        .replace("Ada Lovelace", "Y")
        .split("unsubscribe")[0]
        == new.replace("new@example.com", "X")
        .replace("new%40example.com", "X")
        .replace("New Reader", "Y")
        .split("unsubscribe")[0]
    )


@pytest.mark.parametrize("isolation", ["always", "never"])
def test_a_resumed_send_after_deferrals_sends_the_current_rendering(
    project: Project, smtp, isolation: str
) -> None:
    """A relay outage, then a settings change, then the retry: the deferred get the
    current rendering of the same articles; with ``always`` the child process renders."""
    recorder, url = smtp
    env = {
        "NEWSLETTER_SMTP_URL": url,
        "NEWSLETTER_RENDER_ISOLATION": isolation,
        "NEWSLETTER_MAX_ATTEMPTS": "1",
    }
    recorder.rcpt_replies["grace@example.org"] = "451 4.3.0 try again later"
    recorder.rcpt_replies["zoe@example.com"] = "451 4.3.0 try again later"
    first = project.run("send", "--date", DAY, env=env)
    assert first.code == 1 and "2 deferred" in first.out, first.out + first.err
    number, articles, _ = frozen(project)

    project.write("newsletter.toml", f'postal_address = "{NEW_ADDRESS}"\n')
    recorder.rcpt_replies.clear()
    retry = project.run("send", "--date", DAY, "--retry-deferred", env=env)

    assert retry.code == 0, retry.err
    assert f"{CHANGED}: 2 got the earlier version" in retry.err
    got = {r.recipients[0]: r.message for r in recorder.received}
    assert sorted(got) == sorted(
        ["ada@example.com", "linus@example.net", "grace@example.org", "zoe@example.com"]
    )
    for reader in ("grace@example.org", "zoe@example.com"):
        assert NEW_ADDRESS in html_of(got[reader])
        assert links(got[reader]) == links(got["ada@example.com"])
    assert SENDER["NEWSLETTER_POSTAL_ADDRESS"] in html_of(got["ada@example.com"])  # as first sent
    assert frozen(project)[:2] == (number, articles)  # same number, same articles


def test_a_template_broken_after_the_first_send_stops_before_sending(project: Project) -> None:
    assert project.run("send", "--date", DAY).code == 0
    _, _, rendered = frozen(project)
    project.write("my-templates/subject.txt.j2", "{{ edition.nmuber }}\n")
    project.write("newsletter.toml", 'templates = "my-templates"\n')
    with (project.path / "subscribers" / "subscribers.csv").open("a") as csv:
        csv.write("new@example.com,New Reader,active,Paris\n")

    run = project.run("send", "--date", DAY)

    assert run.code == 2
    assert "subject.txt.j2:1:" in run.err and "nmuber" in run.err
    assert "Traceback" not in run.err
    assert len(outbox(project)) == 4 and frozen(project)[2] == rendered


def test_preview_before_any_send_and_of_another_day_still_work(project: Project) -> None:
    run = project.run("preview", "--date", DAY)
    assert run.code == 0, run.err
    assert Path(run.out.strip()).name == f"{DAY}.html" and CHANGED not in run.err
