"""Who the mail is from, as real people see it: the shipped placeholder identity never goes
out over SMTP, a run without one-click unsubscribe says so every time, and the footer's
words match the unsubscribe link the message really carries."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from conftest import Project
from daemonproc import Served

DAY = "2026-11-27"
ONE_CLICK_WARNING = "Gmail and Yahoo require one-click unsubscribe (RFC 8058) from bulk senders"


def test_the_placeholder_identity_is_refused_over_smtp_before_anything_is_done(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    project.write("newsletter.toml", f'smtp_url = "{url}"\n')

    run = project.run("send", "--date", DAY)

    assert run.code == 2
    assert (
        "smtp_url is set, but from_address and postal_address are still the shipped "
        "placeholders" in run.err
    )
    assert "hint: set from_address to an address at your own domain" in run.err
    assert "postal_address to your real postal address" in run.err
    assert recorder.received == []
    assert not (project.path / "newsletter.db").exists()
    assert not (project.path / "archive").exists()


def test_each_placeholder_left_is_named(project: Project, smtp) -> None:
    recorder, url = smtp
    project.write(
        "newsletter.toml",
        f'smtp_url = "{url}"\nfrom_address = "Morning Post <news@morning.example.org>"\n',
    )

    run = project.run("send", "--date", DAY)

    assert run.code == 2
    assert "but postal_address is still the shipped placeholder" in run.err
    assert "from_address" not in run.err.split("hint:")[0]
    assert recorder.received == []


def test_serve_refuses_the_placeholder_identity_at_start(project: Project, smtp) -> None:
    _, url = smtp
    project.write("newsletter.toml", f'smtp_url = "{url}"\n')

    run = project.run("serve", "--listen", "127.0.0.1:0", timeout=30)

    assert run.code == 2
    assert "still the shipped placeholders" in run.err


def test_the_maildir_demo_and_previews_keep_working_on_the_defaults(project: Project) -> None:
    demo = project.run("send", "--date", DAY)
    assert demo.code == 0, demo.err
    assert "4 messages written to outbox/" in demo.out
    assert ONE_CLICK_WARNING not in demo.err  # nothing leaves the machine

    project.write("newsletter.toml", 'smtp_url = "smtp://127.0.0.1:25"\n')
    preview = project.run("preview", "--date", DAY)
    assert preview.code == 0, preview.err


def test_every_smtp_run_without_public_url_warns_how_to_get_one_click_unsubscribe(
    project: Project, smtp
) -> None:
    _, url = smtp
    run = project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})

    assert run.code == 0, run.err
    assert ONE_CLICK_WARNING in run.err
    assert "Set public_url" in run.err and "'newsletter serve'" in run.err

    again = project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})
    assert again.code == 0 and ONE_CLICK_WARNING in again.err

    with_link = project.run(
        "send", "--date", DAY,
        env={"NEWSLETTER_SMTP_URL": url, "NEWSLETTER_PUBLIC_URL": "https://news.example.com"},
    )  # fmt: skip
    assert with_link.code == 0 and ONE_CLICK_WARNING not in with_link.err


def test_the_daemon_warns_on_each_scheduled_run(project: Project, smtp) -> None:
    recorder, url = smtp
    missed = datetime.now(UTC) - timedelta(minutes=2)  # late: made up as soon as it starts
    env = {
        "NEWSLETTER_SMTP_URL": url,
        "NEWSLETTER_SCHEDULE": f"{missed.second} {missed.minute} {missed.hour} * * *",
        "NEWSLETTER_LATE_GRACE": "1h",
    }
    daemon = Served(project.path, env)
    try:
        daemon.wait_health(lambda body: body["last_run"] is not None)
        assert daemon.stop() == 0
    finally:
        daemon.kill()

    assert len(recorder.received) == 4
    assert sum(ONE_CLICK_WARNING in line for line in daemon.lines) == 1, daemon.log


def footer(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    body = part.get_content()
    return body[body.rindex("You receive") :]


def unsubscribe_link(html: str) -> tuple[str, str]:
    """The footer's Unsubscribe link and the words after it."""
    link = re.search(r'<a href="([^"]+)"[^>]*>Unsubscribe</a>([^<]*)', html)
    assert link is not None, html
    return link.group(1), " ".join(link.group(2).split())


def test_the_footer_offers_the_unsubscribe_the_message_really_carries(
    project: Project, smtp, tmp_path: Path
) -> None:
    recorder, url = smtp
    assert project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url}).code == 0
    (mailto,) = recorder.to("ada@example.com")
    html, text = footer(mailto.message, "html"), footer(mailto.message, "plain")
    link, words = unsubscribe_link(html)
    assert link.startswith("mailto:news@example.com?subject=")
    assert words == "at any time by sending the email this link opens."
    assert "one click" not in html and "one click" not in text
    assert "Unsubscribe by sending the email this link opens: mailto:" in text

    other = Project(tmp_path / "with-public-url")  # a list that has one-click unsubscribe
    shutil.copytree(project.path / "seeds", other.path / "seeds")
    other.write("subscribers/subscribers.csv", "email,name\nbea@example.com,Bea\n")
    env = {"NEWSLETTER_SMTP_URL": url, "NEWSLETTER_PUBLIC_URL": "https://news.example.com"}
    assert other.run("send", "--date", DAY, env=env).code == 0
    (one_click,) = recorder.to("bea@example.com")
    html, text = footer(one_click.message, "html"), footer(one_click.message, "plain")
    link, words = unsubscribe_link(html)
    assert link.startswith("https://news.example.com/unsubscribe/")
    assert words == "at any time, in one click."
    assert "Unsubscribe: https://news.example.com/unsubscribe/" in text
