"""`newsletter send` end to end: seeds → edition → a real SMTP server or the Maildir outbox."""

from __future__ import annotations

import mailbox
import re
import sqlite3

from conftest import ACTIVE, Project, lock_held

DAY = "2026-11-27"


def test_send_without_smtp_writes_one_message_per_active_subscriber_to_the_outbox(
    project: Project,
) -> None:
    run = project.run("send", "--date", DAY)

    assert run.code == 0, run.err
    assert "no SMTP server configured: 4 messages written to outbox/ (Maildir)" in run.out
    box = mailbox.Maildir(project.path / "outbox", create=False)
    recipients = sorted(msg["To"] for msg in box)
    assert len(recipients) == 4
    assert any("ada@example.com" in r for r in recipients)
    assert not any("alan@example.com" in r for r in recipients)  # unsubscribed


def test_second_run_the_same_day_sends_nothing_and_says_why(project: Project) -> None:
    assert project.run("send", "--date", DAY).code == 0

    again = project.run("send", "--date", DAY)

    assert again.code == 0, again.err
    assert "nothing new to send: already delivered to all 4 active subscribers" in again.out
    assert len(list((project.path / "outbox" / "new").iterdir())) == 4


def test_send_over_smtp_delivers_each_subscriber_exactly_one_personalised_message(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    run = project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})

    assert run.code == 0, run.err
    assert "4 sent" in run.out
    assert sorted(r.recipients[0] for r in recorder.received) == sorted(ACTIVE)
    zoe = recorder.to("zoe@example.com")[0].message
    assert zoe["To"].addresses[0].display_name == "Zoë Ñúñez"
    assert zoe["Subject"].endswith(" · 27 Nov") and len(zoe["Subject"]) <= 60
    assert zoe["Date"] and re.fullmatch(r"<20261127\.1\.[a-z0-9]+@example\.com>", zoe["Message-ID"])
    assert zoe["List-Id"] == "Daily Newsletter <daily.example.com>"
    assert zoe["List-Unsubscribe"].startswith("<mailto:news@example.com?subject=")
    assert zoe.get_content_type() == "multipart/alternative"
    text, html = zoe.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert "Hello Zoë Ñúñez" in text.get_content()
    body = html.get_content()
    assert "Hello Zoë Ñúñez, here is today’s digest" in body
    assert 'class="article lead" style="' in body  # CSS was inlined
    (style,) = re.findall(r"<style[^>]*>(.*?)</style>", body, re.S)
    assert "@media only screen and (max-width: 620px)" in style  # responsive rules kept
    assert "prefers-color-scheme: dark" in style
    assert ".masthead h1 {" not in style.split("@media")[0]  # plain rules were inlined
    assert "Japan PM says open to meeting North Korean leader" in body
    unsubscribe = re.search(r'<a href="([^"]+)"[^>]*>Unsubscribe</a>', body)
    assert unsubscribe and "zoe%40example.com" in unsubscribe.group(1)
    messages_ids = {r.message["Message-ID"] for r in recorder.received}
    assert len(messages_ids) == 4


def test_public_url_adds_one_click_unsubscribe_headers_and_link(project: Project, smtp) -> None:
    recorder, url = smtp
    env = {"NEWSLETTER_SMTP_URL": url, "NEWSLETTER_PUBLIC_URL": "https://news.example.com"}
    assert project.run("send", "--date", DAY, env=env).code == 0

    msg = recorder.to("ada@example.com")[0].message
    links = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])
    assert links[0].startswith("https://news.example.com/unsubscribe/")
    assert links[1].startswith("mailto:")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = msg.get_body(("html",)).get_content()
    assert f'href="{links[0]}"' in html  # the merge survived premailer's href rewriting


def test_a_name_with_crlf_cannot_inject_headers(project: Project, smtp) -> None:
    recorder, url = smtp
    project.write(
        "subscribers/subscribers.csv",
        'email,name\nmallory@example.com,"Mallory\r\nBcc: victim@example.com"\n',
    )
    assert project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url}).code == 0

    (received,) = recorder.received
    assert received.recipients == ["mallory@example.com"]
    assert received.message["Bcc"] is None
    assert received.message["To"].addresses[0].display_name == "Mallory Bcc: victim@example.com"


def test_bad_rows_are_reported_with_file_and_line_and_the_rest_still_get_mail(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    project.write(
        "subscribers/subscribers.csv",
        """
        email,name,status
        ok@example.com,Ok
        not-an-address,Broken
        OK@example.com,Duplicate in another case
        other@example.com,Other,paused
        last@example.com,Last
        """,
    )
    run = project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})

    assert run.code == 1, run.err  # rows were skipped: someone on the list is owed it
    assert "subscribers.csv:3: invalid address 'not-an-address'" in run.err
    assert "subscribers.csv:4: duplicate of an earlier row" in run.err
    assert "subscribers.csv:5: unknown status 'paused'" in run.err
    assert sorted(r.recipients[0] for r in recorder.received) == [
        "last@example.com",
        "ok@example.com",
    ]


def test_relay_unreachable_records_nothing_and_a_later_run_delivers(project: Project, smtp) -> None:
    recorder, url = smtp
    run = project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": "smtp://127.0.0.1:9"})
    assert run.code == 1
    assert "cannot connect to 127.0.0.1:9" in run.err
    assert "Traceback" not in run.err

    again = project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})
    assert again.code == 0, again.err
    assert len(recorder.received) == 4


def test_deferred_and_failed_recipients_are_reported_and_the_run_goes_on(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    recorder.rcpt_replies["grace@example.org"] = "451 4.7.1 try again later"
    recorder.rcpt_replies["linus@example.net"] = "550 5.1.1 no such user"
    run = project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})

    assert run.code == 1
    assert "grace@example.org: deferred: 451" in run.err
    assert "linus@example.net: failed: 550" in run.err
    assert sorted(r.recipients[0] for r in recorder.received) == [
        "ada@example.com",
        "zoe@example.com",
    ]
    # The next run retries only the deferred one; the failed address is not retried.
    recorder.rcpt_replies.clear()
    again = project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})
    assert again.code == 0, again.err
    assert sorted(r.recipients[0] for r in recorder.received) == [
        "ada@example.com",
        "grace@example.org",
        "zoe@example.com",
    ]


def test_a_second_concurrent_run_exits_3_and_touches_nothing(project: Project) -> None:
    with lock_held(project):
        run = project.run("send", "--date", DAY)

    assert run.code == 3
    assert "another newsletter run" in run.err
    assert not (project.path / "outbox").exists()
    assert not (project.path / "newsletter.db").exists()


def test_no_new_articles_means_no_edition_and_exit_0(project: Project) -> None:
    assert project.run("send", "--date", DAY).code == 0

    tomorrow = project.run("send", "--date", "2026-11-28")

    assert tomorrow.code == 0, tomorrow.err
    assert "no new articles since the last edition: nothing to send" in tomorrow.out
    db = sqlite3.connect(project.path / "newsletter.db")
    assert db.execute("SELECT COUNT(*) FROM editions").fetchone()[0] == 1


def test_an_article_goes_into_exactly_one_edition(project: Project) -> None:
    assert project.run("send", "--date", DAY).code == 0
    project.write(
        "seeds/900_new.md",
        """
        ---
        title: A brand new story
        section: Science
        ---
        Scientists found something new today. It was quite remarkable.
        """,
    )
    assert project.run("send", "--date", "2026-11-28").code == 0

    db = sqlite3.connect(project.path / "newsletter.db")
    rows = db.execute("SELECT day, article_ids FROM editions ORDER BY day").fetchall()
    assert rows[1][1] == '["seeds:900_new.md"]'
    assert "seeds:900_new.md" not in rows[0][1]


def test_rendering_in_a_child_process_gives_the_same_mail_and_the_same_errors(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    env = {"NEWSLETTER_SMTP_URL": url, "NEWSLETTER_RENDER_ISOLATION": "always"}
    project.write("mytemplates/subject.txt.j2", "{{ edition.nmuber }}\n")
    project.write("newsletter.toml", 'templates = "mytemplates"\n')

    broken = project.run("send", "--date", DAY, env=env)
    assert broken.code == 2
    assert "subject.txt.j2:1:" in broken.err and "nmuber" in broken.err
    assert "hint: fix the template" in broken.err  # the error crossed back whole
    assert "Traceback" not in broken.err and recorder.received == []

    (project.path / "newsletter.toml").unlink()
    run = project.run("send", "--date", DAY, env=env)
    assert run.code == 0, run.err
    assert sorted(r.recipients[0] for r in recorder.received) == sorted(ACTIVE)
    html = recorder.to("zoe@example.com")[0].message.get_body(("html",)).get_content()
    assert "Hello Zoë Ñúñez" in html or "Zoë Ñúñez" in html
    assert 'style="' in html  # inlined in the child


def test_one_message_is_one_message(project: Project) -> None:
    project.write("subscribers/subscribers.csv", "email,name\nsolo@example.com,Solo\n")

    run = project.run("send", "--date", DAY)

    assert run.code == 0, run.err
    assert "no SMTP server configured: 1 message written to outbox/ (Maildir)" in run.out
