"""Configuration mistakes are caught when the settings load: exit 2, the setting's name, the
file and line (or variable) it came from and a hint, and nothing collected, frozen or sent."""

from __future__ import annotations

import pytest
from conftest import Project

DAY = "2026-11-27"


def assert_nothing_done(project: Project) -> None:
    for made in ("newsletter.db", "archive", "outbox"):
        assert not (project.path / made).exists(), f"{made} was created"


@pytest.mark.parametrize("port", ["80x25", "99999", "0"])
def test_a_bad_smtp_port_is_refused_at_load_with_file_line_and_hint(
    project: Project, port: str
) -> None:
    project.write(
        "newsletter.toml",
        f'newsletter_name = "Morning Post"\n\nsmtp_url = "smtp://127.0.0.1:{port}"\n',
    )

    run = project.run("send", "--date", DAY)

    assert run.code == 2, run.err
    assert (
        f"newsletter.toml:3: smtp_url: the port '{port}' is not a number from 1 to 65535" in run.err
    )
    assert "hint: write smtp://host:25, smtps://host:465 or smtp+starttls://host:587" in run.err
    assert "Traceback" not in run.err
    assert_nothing_done(project)


def test_the_credentials_of_a_bad_smtp_url_are_never_printed(project: Project) -> None:
    run = project.run("send", env={"NEWSLETTER_SMTP_URL": "smtp://mailer:hunter2@relay:25x"})

    assert run.code == 2
    assert "environment variable NEWSLETTER_SMTP_URL: smtp_url: the port '25x'" in run.err
    assert "hunter2" not in run.err and "hunter2" not in run.out


def test_a_misspelled_setting_names_its_line_and_the_nearest_setting(project: Project) -> None:
    project.write(
        "newsletter.toml",
        '# my list\nnewsletter_name = "Morning Post"\nsmtp_ulr = "smtp://127.0.0.1:25"\n',
    )

    run = project.run("send", "--date", DAY)

    assert run.code == 2
    assert (
        "newsletter: error: newsletter.toml:3: unknown setting 'smtp_ulr' "
        "(did you mean 'smtp_url'?)" in run.err
    )
    assert "Extra inputs" not in run.err
    assert_nothing_done(project)


def test_a_misspelled_setting_in_dotenv_names_dotenv_and_its_line(project: Project) -> None:
    project.write(".env", "NEWSLETTER_NEWSLETTER_NAME=Morning Post\nNEWSLETTER_SMTP_ULR=x\n")

    run = project.run("send", "--date", DAY)

    assert run.code == 2
    assert (
        ".env:2: unknown setting 'NEWSLETTER_SMTP_ULR' (did you mean 'NEWSLETTER_SMTP_URL'?)"
        in run.err
    )
    assert_nothing_done(project)


def test_an_unknown_key_in_a_sources_table_names_that_table(project: Project) -> None:
    project.write(
        "newsletter.toml",
        '[[sources]]\npath = "seeds"\n\n[[sources]]\nurl = "https://example.org/feed"\n'
        'sektion = "World"\n',
    )

    run = project.run("collect")

    assert run.code == 2
    assert (
        "newsletter.toml:4: sources.1: unknown key 'sektion' (did you mean 'section'?)" in run.err
    )


def test_a_bad_value_names_the_variable_or_the_dotenv_line_it_came_from(
    project: Project,
) -> None:
    project.write("newsletter.toml", 'public_url = "https://news.example.org"\n')
    env_run = project.run("send", env={"NEWSLETTER_PUBLIC_URL": "news.example.org"})
    assert env_run.code == 2
    assert (
        "environment variable NEWSLETTER_PUBLIC_URL: public_url: not an absolute http(s)"
        in env_run.err
    )

    project.write(".env", "# settings\nNEWSLETTER_PUBLIC_URL=news.example.org\n")
    dotenv_run = project.run("send")
    assert dotenv_run.code == 2
    assert ".env:2: public_url: not an absolute http(s) address" in dotenv_run.err
    assert "hint: write the public address as https://news.example.org" in dotenv_run.err
    assert_nothing_done(project)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('public_url = "http://news.example.org"', "public_url: must be https"),
        ('archive_url = "https://news.example.org/archive?page=1"', "archive_url: the address"),
        ('smtp_url = "smtp://relay.example.org:25/mail"', "smtp_url: an SMTP URL has no path"),
        ('smtp_url = "smtp://relay.example.org:25"\nsmtp_username = "news"',
         "smtp_username: the relay login has a user name but no password"),
        ('reply_to = "the editor"', "reply_to: 'the editor' is not an email address"),
        ('unsubscribe_mailto = "mailto:leave@example.org"', "unsubscribe_mailto: write the"),
        ('from_address = "News <news@example>"', "from_address: 'news@example' is not an"),
        ('list_id = "Daily <daily.example.org>"', "list_id: not a list identifier"),
        ('language = "en_GB"', "language: not a language tag"),
        ('newsletter_name = "  "', "newsletter_name: the newsletter's name must be one"),
        ('postal_address = ""', "postal_address: the postal address is empty"),
        ('subscribers = ""', "subscribers: is empty"),
        ('templates = "no-such-folder"', "no-such-folder is not a folder"),
        ('dkim_private_key = "dkim/nl1.pem"',
         "dkim_private_key: DKIM is half configured: dkim_selector is not set"),
        ('dkim_domain = "example.org"', "dkim_domain: DKIM is half configured"),
        ('dkim_private_key = "k.pem"\ndkim_selector = "nl 1"', "dkim_selector: not a DKIM"),
        ('retry_backoff = 10\nretry_backoff_max = 5', "retry_backoff_max: is shorter than"),
    ],
)  # fmt: skip
def test_every_setting_checked_only_at_use_before_is_checked_at_load(
    project: Project, lines: str, expected: str
) -> None:
    project.write("newsletter.toml", f'timezone = "Europe/Paris"\n{lines}\n')
    line = 1 + len(lines.splitlines())  # the last line written holds the culprit

    run = project.run("send", "--date", DAY)

    assert run.code == 2, run.err
    assert expected in run.err
    assert f"newsletter.toml:{line}: " in run.err
    assert "hint: " in run.err and "Traceback" not in run.err
    assert_nothing_done(project)


def test_several_problems_are_listed_each_with_its_line(project: Project) -> None:
    project.write(
        "newsletter.toml", 'smtp_url = "smtp://relay:99999"\nlanguage = "english please"\n'
    )

    run = project.run("send")

    assert run.code == 2
    assert "2 settings need fixing:" in run.err
    assert "newsletter.toml:1: smtp_url: the port '99999'" in run.err
    assert "newsletter.toml:2: language: not a language tag" in run.err


@pytest.mark.parametrize(
    ("name", "example"),
    [
        ("PREVIOUS_SECRET_KEYS", '["<the former secret_key>"]'),
        ("SECTION_ORDER", '["World", "Sport"]'),
        ("SOURCES", '["seeds", "https://example.org/feed.xml"]'),
    ],
)
def test_a_list_in_the_environment_that_is_not_json_names_the_variable_and_the_form(
    project: Project, name: str, example: str
) -> None:
    run = project.run("send", env={f"NEWSLETTER_{name}": "k7Yq9-secret-part"})

    assert run.code == 2
    assert f"environment variable NEWSLETTER_{name}: {name.lower()}: not valid JSON" in run.err
    assert f"hint: write NEWSLETTER_{name}='{example}'" in run.err
    assert "TOML" not in run.err and "k7Yq9" not in run.err

    project.write(".env", f"NEWSLETTER_NEWSLETTER_NAME=Morning Post\nNEWSLETTER_{name}=a,b\n")
    run = project.run("send")
    assert run.code == 2 and f".env:2: {name.lower()}: not valid JSON" in run.err
    assert_nothing_done(project)


def test_invalid_toml_names_its_line(project: Project) -> None:
    project.write("newsletter.toml", 'newsletter_name = "Morning Post"\ntimezone = \n')

    run = project.run("send")

    assert run.code == 2
    assert "newsletter.toml:2: not valid TOML" in run.err


def test_an_empty_variable_means_not_set(project: Project) -> None:
    run = project.run("send", "--date", DAY, env={"NEWSLETTER_PUBLIC_URL": ""})

    assert run.code == 0, run.err
    assert "4 messages written" in run.out


def test_a_missing_dkim_key_stops_a_send_before_the_edition_is_frozen(project: Project) -> None:
    project.write("newsletter.toml", 'dkim_private_key = "dkim/nl1.pem"\ndkim_selector = "nl1"\n')

    run = project.run("send", "--date", DAY)

    assert run.code == 2
    assert "nl1.pem: cannot read the DKIM private key" in run.err
    assert_nothing_done(project)
    # Only sending needs the file: the command that creates it still runs.
    keygen = project.run("dkim", "keygen", "--out", "dkim/nl1.pem")
    assert keygen.code == 0, keygen.err
    assert project.run("send", "--date", DAY).code == 0
