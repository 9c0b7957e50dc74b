"""Templates: autoescape, strict undefined, errors with name and line, user overrides."""

from __future__ import annotations

from datetime import date

import pytest
import regex

from newsletter.edition.render import ListInfo, render_edition
from newsletter.edition.templates import load_templates
from newsletter.edition.wrapping import columns
from newsletter.errors import EditionTooLarge, TemplateError
from newsletter.models import Article, Edition, Section

INFO = ListInfo("Daily Newsletter", "1 Example Street", None, "news@example.com")


def edition(title: str = "Story", summary: str = "Lead.", n: int = 1) -> Edition:
    articles = tuple(
        Article(id=f"a{i}", source="t", title=title, section="World", summary=summary)
        for i in range(n)
    )
    return Edition(date(2026, 11, 27), 7, (Section("World", articles),))


def test_default_subject_leads_with_the_headline_then_a_short_date() -> None:
    rendered = render_edition(edition("Big news"), load_templates(None), INFO)
    assert rendered.subject == "Big news · 27 Nov"


JAPANESE = "日本の首相が新しい経済対策を発表し来年度の予算案について国会で説明した"


@pytest.mark.parametrize(
    ("headline", "subject"),
    [
        (
            "Central bank holds rates steady as inflation cools for a third month in a row",
            "Central bank holds rates steady as inflation cools… · 27 Nov",
        ),
        # no space to cut at: between characters (25, two columns each, and the ellipsis),
        # never inside a decomposed é or a flag (two code points each)
        (JAPANESE * 2, JAPANESE[:25] + "… · 27 Nov"),
        ("x" * 49 + "e\u0301" + "y" * 20, "x" * 49 + "e\u0301… · 27 Nov"),
        ("x" * 49 + "\U0001f1eb\U0001f1f7" + "y" * 20, "x" * 49 + "\U0001f1eb\U0001f1f7… · 27 Nov"),
        ("Strike,   then\nrain: a day of delays across the whole network of the city",
         "Strike, then rain: a day of delays across the… · 27 Nov"),
    ],
)  # fmt: skip
def test_the_subject_keeps_what_a_phone_shows_within_60_columns(
    headline: str, subject: str
) -> None:
    rendered = render_edition(edition(headline), load_templates(None), INFO)
    assert rendered.subject == subject
    assert len(regex.findall(r"\X", rendered.subject)) <= 60
    assert columns(rendered.subject) <= 60


def test_html_is_autoescaped_but_text_is_not() -> None:
    rendered = render_edition(edition("<script>alert(1)</script> & co"), load_templates(None), INFO)
    assert "<script>alert(1)" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in rendered.html
    assert "<script>alert(1)</script> & co" in rendered.text


def test_an_undefined_name_stops_with_the_template_name_and_line(tmp_path) -> None:
    (tmp_path / "subject.txt.j2").write_text("{{ list.name }}\n{{ edition.nmuber }}\n")
    with pytest.raises(TemplateError, match=r"subject\.txt\.j2:2: .*nmuber"):
        render_edition(edition(), load_templates(tmp_path), INFO)


def test_a_syntax_error_names_the_template_and_line(tmp_path) -> None:
    (tmp_path / "edition.txt.j2").write_text("ok\n\n{% for a in articles %}\n")
    with pytest.raises(TemplateError, match=r"edition\.txt\.j2:3"):
        render_edition(edition(), load_templates(tmp_path), INFO)


def test_an_unknown_subscriber_field_is_a_template_error(tmp_path) -> None:
    (tmp_path / "edition.txt.j2").write_text("Hi {{ subscriber.nickname }}\n")
    with pytest.raises(
        TemplateError, match=r"edition\.txt\.j2:1: 'nickname' is not a subscriber field"
    ):
        render_edition(edition(), load_templates(tmp_path), INFO, ["email", "name"])


def test_a_csv_column_is_a_merge_field_and_default_gives_a_fallback(tmp_path) -> None:
    (tmp_path / "edition.txt.j2").write_text(
        "{{ subscriber.city | default('somewhere') }} {{ subscriber.name }}\n"
    )
    import email
    import email.policy

    from newsletter.mail.personalize import MailContext, MessageTemplate
    from newsletter.models import Subscriber

    rendered = render_edition(edition(), load_templates(tmp_path), INFO, ["city"])
    ctx = MailContext(
        "N <n@example.com>", "l.example.com", "N", "example.com", "n@example.com", None, b"k", "1"
    )
    texts = []
    for city in ("Paris", ""):
        sub = Subscriber("a@example.com", "Ann", fields={"city": city})
        _, data = MessageTemplate(rendered, ctx).build(sub, "date")
        msg = email.message_from_bytes(data, policy=email.policy.default)
        texts.append(msg.get_body(("plain",)).get_content().strip())  # type: ignore[union-attr]
    assert texts == ["Paris Ann", "somewhere Ann"]


def test_a_single_template_can_be_overridden_and_the_rest_stay_default(tmp_path) -> None:
    (tmp_path / "subject.txt.j2").write_text("Morning brief #{{ edition.number }}")
    rendered = render_edition(edition(), load_templates(tmp_path), INFO)
    assert rendered.subject == "Morning brief #7"
    assert "Daily Newsletter" in rendered.html


def test_html_above_gmails_clipping_limit_is_refused() -> None:
    with pytest.raises(EditionTooLarge, match=r"Gmail clips"):
        # long headlines: the stories after the lead show only the start of their lead
        render_edition(edition("word " * 2000, n=12), load_templates(None), INFO)


def test_merge_tokens_survive_premailer_in_hrefs() -> None:
    rendered = render_edition(edition(), load_templates(None), INFO)
    (token,) = [t for t, s in rendered.slots.items() if s.field == "unsubscribe_url"]
    assert f'href="{token}"' in rendered.html
