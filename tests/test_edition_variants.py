"""Section preferences: one rendering per distinct choice, frozen, sent to the right people."""

from __future__ import annotations

import re
import sqlite3

from conftest import Project

from newsletter.edition.variants import FULL, Variants, parse_choice, variant_key
from newsletter.models import Subscriber

DAY = "2026-11-27"
SECTIONS = ("Business", "Technology", "Sport", "World")


def test_variant_keys_are_canonical_and_in_edition_order() -> None:
    assert parse_choice(" World ;  sport|Local news ,") == {"World", "sport", "Local news"}
    assert variant_key(SECTIONS, "") == FULL
    assert variant_key(SECTIONS, "  ") == FULL
    assert variant_key(SECTIONS, "World; sport") == "sport|world"
    assert variant_key(SECTIONS, "SPORT,world") == variant_key(SECTIONS, "World | Sport")
    assert variant_key(SECTIONS, "World; Gardening") == "world"  # unknown names are ignored
    assert variant_key(SECTIONS, "Business;Technology;Sport;World") == FULL
    assert variant_key(SECTIONS, "Gardening") is None


def test_a_subscriber_without_the_column_gets_the_whole_edition() -> None:
    assert Variants(SECTIONS).key_for(Subscriber("a@example.com", fields={})) == FULL


def write_list(project: Project) -> None:
    project.write(
        "subscribers/subscribers.csv",
        """
        email,name,sections
        ada@example.com,Ada,
        bob@example.com,Bob,World; Sport
        cy@example.com,Cy,sport | WORLD
        dee@example.com,Dee,Gardening
        eve@example.com,Eve,business
        """,
    )


def sections_of(message) -> list[str]:  # type: ignore[no-untyped-def]
    text = message.get_body(("plain",)).get_content()
    return [line for line in text.splitlines() if line.isupper() and len(line) > 2][1:]


def test_each_subscriber_gets_only_the_sections_chosen(project: Project, smtp) -> None:
    recorder, url = smtp
    write_list(project)

    run = project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})

    assert run.code == 0, run.err
    assert "4 sent" in run.out and "1 not sent (none of their sections today)" in run.out
    got = {r.recipients[0]: r.message for r in recorder.received}
    assert sorted(got) == [
        "ada@example.com",
        "bob@example.com",
        "cy@example.com",
        "eve@example.com",
    ]
    assert sections_of(got["bob@example.com"]) == ["SPORT", "WORLD"]
    assert sections_of(got["cy@example.com"]) == ["SPORT", "WORLD"]
    assert sections_of(got["eve@example.com"]) == ["BUSINESS"]
    assert len(sections_of(got["ada@example.com"])) == 8  # everything
    # The variant's subject and lead are its own first story.
    assert got["eve@example.com"]["Subject"].startswith(
        "Central bank holds rates steady as inflation cools"
    )
    eve_html = got["eve@example.com"].get_body(("html",)).get_content()
    assert "Hello Eve" in eve_html  # ... and Business alone in the contents (names isolated)
    assert re.search(r'In this edition: <span dir="auto">Business</span>\s*<', eve_html)
    assert "Japan PM" not in eve_html

    db = sqlite3.connect(project.path / "newsletter.db")
    keys = sorted(row[0] for row in db.execute("SELECT key FROM edition_variants"))
    assert keys == ["business", "sport|world"]  # one rendering per distinct choice


def test_a_resumed_send_renders_the_frozen_variant_with_the_current_templates(
    project: Project, smtp
) -> None:
    recorder, url = smtp
    write_list(project)
    recorder.rcpt_replies["cy@example.com"] = "451 4.7.1 try again later"
    env = {"NEWSLETTER_SMTP_URL": url}
    first = project.run("send", "--date", DAY, env=env)
    assert first.code == 1 and "cy@example.com: deferred" in first.err
    bob = recorder.to("bob@example.com")[0].message

    # The templates change between the two runs: the variant keeps its articles (the
    # frozen choice) and is rendered with the current templates.
    project.write("mytemplates/_article.html.j2", "<tr><td>CHANGED {{ article.title }}</td></tr>")
    project.write("newsletter.toml", 'templates = "mytemplates"\n')
    recorder.rcpt_replies.clear()
    second = project.run("send", "--date", DAY, env=env)

    assert second.code == 0, second.err
    assert "changed since this edition was first sent: 3 got the earlier version" in second.err
    (cy,) = recorder.to("cy@example.com")
    cy_html = cy.message.get_body(("html",)).get_content()
    assert "CHANGED Japan PM says open to meeting North Korean leader" in cy_html
    assert sections_of(cy.message) == sections_of(bob) == ["SPORT", "WORLD"]
    assert cy.message["Subject"] == bob["Subject"]


def anonymous(html: str, name: str, local: str) -> str:
    """The HTML with one reader's name and address taken out."""
    for who in (f"{local}@example.com", f"{local}%40example.com", name):
        html = html.replace(who, "READER")
    return html


def test_a_new_choice_on_a_resumed_send_is_rendered_before_sending(project: Project) -> None:
    write_list(project)
    assert project.run("send", "--date", DAY).code == 0
    project.write(
        "subscribers/subscribers.csv",
        """
        email,name,sections
        ada@example.com,Ada,
        fay@example.com,Fay,Technology
        """,
    )
    run = project.run("send", "--date", DAY)
    assert run.code == 0, run.err
    assert "1 sent" in run.out
    db = sqlite3.connect(project.path / "newsletter.db")
    keys = sorted(row[0] for row in db.execute("SELECT key FROM edition_variants"))
    assert keys == ["business", "sport|world", "technology"]
