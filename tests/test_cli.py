"""preview, collect and configuration, run as a user runs them."""

from __future__ import annotations

import email
import email.policy
import re

from conftest import Project

DAY = "2026-11-27"


def test_preview_writes_html_text_and_eml_and_records_nothing(project: Project) -> None:
    run = project.run("preview", "--date", DAY)

    assert run.code == 0, run.err
    html_path = project.path / "previews" / f"{DAY}.html"
    assert run.out.strip() == str(html_path)
    html = html_path.read_text(encoding="utf-8")
    text = (project.path / "previews" / f"{DAY}.txt").read_text(encoding="utf-8")
    eml = (project.path / "previews" / f"{DAY}.eml").read_bytes()
    msg = email.message_from_bytes(eml, policy=email.policy.default)
    assert msg.get_body(("html",)).get_content().replace("\r\n", "\n") == html  # type: ignore[union-attr]
    assert "Hello Sample Reader" in html and "Hello Sample Reader" in text
    assert 'style="' in html and "nlm" not in html  # inlined, every merge token filled
    assert msg["Subject"].endswith(" · 27 Nov") and len(msg["Subject"]) <= 60
    assert not (project.path / "newsletter.db").exists()
    assert not (project.path / "outbox").exists()


def test_preview_out_folder_and_then_send_uses_the_same_articles(project: Project) -> None:
    run = project.run("preview", "--date", DAY, "--out", "elsewhere")
    assert run.code == 0, run.err
    preview = (project.path / "elsewhere" / f"{DAY}.html").read_text(encoding="utf-8")
    assert project.run("send", "--date", DAY).code == 0
    sent = project.run("preview", "--date", DAY, "--out", "after")
    after = (project.path / "after" / f"{DAY}.html").read_text(encoding="utf-8")
    strip = lambda s: re.sub(r"https?://\S+|mailto:\S+", "", s)  # noqa: E731
    assert sent.code == 0 and strip(after) == strip(preview)


def test_collect_lists_new_articles_once(project: Project) -> None:
    first = project.run("collect")
    assert first.code == 0, first.err
    assert "[World] Japan PM says open to meeting North Korean leader" in first.out
    n = len(list((project.path / "seeds").iterdir()))
    assert f"{n} new articles stored" in first.out

    again = project.run("collect")
    assert again.code == 0 and "0 new articles stored" in again.out
    assert not (project.path / "outbox").exists()


def test_a_broken_article_file_is_reported_and_the_rest_go_on(project: Project) -> None:
    project.write("seeds/999_broken.md", "---\ntitle: [unclosed\n---\nbody\n")
    (project.path / "seeds" / "998_binary.txt").write_bytes(b"\xff\xfe\x00garbage")
    run = project.run("send", "--date", DAY)
    assert run.code == 0, run.err
    assert "seeds/999_broken.md" in run.err and "seeds/998_binary.txt" in run.err
    assert "Traceback" not in run.err
    assert "4 messages written" in run.out


def test_config_file_and_environment_precedence(project: Project) -> None:
    project.write("newsletter.toml", 'newsletter_name = "Morning Post"\noutbox = "mail"\n')
    run = project.run("send", "--date", DAY, env={"NEWSLETTER_OUTBOX": "env-box"})
    assert run.code == 0, run.err
    assert "written to env-box/" in run.out
    one = next((project.path / "env-box" / "new").iterdir())
    msg = email.message_from_bytes(one.read_bytes(), policy=email.policy.default)
    assert ">Morning Post</h1>" in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_bad_config_is_a_clear_error_with_exit_2(project: Project) -> None:
    project.write("newsletter.toml", 'timezone = "Mars/Olympus"\nmax_articles = 0\n')
    run = project.run("send")
    assert run.code == 2
    assert "timezone: unknown time zone 'Mars/Olympus'" in run.err
    assert "max_articles" in run.err
    assert "Traceback" not in run.err

    project.write("newsletter.toml", "timezone = \n")
    run = project.run("send")
    assert run.code == 2 and "not valid TOML" in run.err

    run = project.run("--config", "missing.toml", "send")
    assert run.code == 2 and "missing.toml: config file not found" in run.err


def test_smtp_url_with_an_unknown_scheme_is_rejected(project: Project) -> None:
    run = project.run("send", env={"NEWSLETTER_SMTP_URL": "http://mail.example.com"})
    assert run.code == 2
    assert "unsupported scheme 'http'" in run.err


def test_missing_subscriber_file_and_template_error_send_nothing(project: Project) -> None:
    (project.path / "subscribers" / "subscribers.csv").unlink()
    run = project.run("send", "--date", DAY)
    assert run.code == 2 and "subscribers.csv: cannot read the subscriber list" in run.err
    assert (
        not (project.path / "newsletter.db").exists()
        or "editions" not in project.run("preview", "--date", DAY).err
    )

    project.write("subscribers/subscribers.csv", "email\nann@example.com\n")
    project.write("mytemplates/edition.txt.j2", "Hi {{ subscriber.nmae }}\n")
    project.write("newsletter.toml", 'templates = "mytemplates"\n')
    run = project.run("send", "--date", DAY)
    assert run.code == 2
    assert "edition.txt.j2:1: 'nmae' is not a subscriber field" in run.err
    assert not (project.path / "outbox").exists()


def test_usage_errors_exit_2(project: Project) -> None:
    run = project.run("send", "--date", "27/11/2026")
    assert run.code == 2 and "is not a date: use YYYY-MM-DD" in run.err


def test_a_chromium_setting_that_cannot_be_run_says_why(project: Project) -> None:
    missing = project.run(
        "preview", "--date", DAY, "--screenshot", env={"CHROMIUM": "/no/such/file"}
    )
    assert missing.code == 2
    assert "Chromium not found at CHROMIUM=/no/such/file: that path does not exist" in missing.err
    assert "hint: set CHROMIUM to the browser's path" in missing.err
    assert (project.path / "previews" / f"{DAY}.html").is_file()  # the preview itself is there

    folder = project.run("preview", "--date", DAY, "--screenshot", env={"CHROMIUM": "/tmp"})
    assert folder.code == 2 and "CHROMIUM=/tmp: that path is a folder" in folder.err
