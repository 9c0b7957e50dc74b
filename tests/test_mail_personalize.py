"""The per-subscriber fill decodes exactly as the email package reads a message."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import date
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import parseaddr

import pytest

from newsletter.edition.render import ListInfo, render_edition
from newsletter.edition.templates import load_templates
from newsletter.mail.personalize import MailContext, MessageTemplate, encoded_words, qp
from newsletter.models import Article, Edition, Section, Subscriber

CTX = MailContext(
    from_address="Daily Newsletter <news@example.com>",
    list_id="daily.example.com",
    list_name="Daily Newsletter",
    message_id_domain="example.com",
    unsubscribe_mailto="news@example.com",
    public_url="https://news.example.com",
    secret=b"k" * 32,
    edition_tag="20261127.1",
)
INFO = ListInfo(
    "Daily Newsletter", "1 Example Street", "https://news.example.com", "news@example.com"
)


def edition(summary: str = "A lead paragraph. " * 10) -> Edition:
    articles = tuple(
        Article(
            id=f"a{i}",
            source="t",
            title=f"Story {i} — naïve café",
            section="World",
            summary=summary,
            url=f"https://example.com/{i}?x=1&y=2",
            author="AFP",
        )
        for i in range(6)
    )
    return Edition(date(2026, 11, 27), 1, (Section("World", articles),))


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def expected(text: str, template: MessageTemplate, values: dict[str, str], escape) -> str:
    rendered = template.rendered

    def fill(match: re.Match[str]) -> str:
        slot = rendered.slots[match.group()]
        return escape(values.get(slot.field) or slot.fallback)

    return re.sub(rendered.token_pattern, fill, text)


NAMES = [
    "Jane Doe",
    "Zoë Ñúñez",
    "Torvalds, Linus",
    'Quote "the" Name',
    "李小龍",
    "Émile Zola " * 15 + "Émile",  # a long non-ASCII name: several encoded words, folded
    "",
    "Dot.Start",
    "=?utf-8?q?not-an-encoded-word?=",
]


@pytest.mark.parametrize("name", NAMES)
def test_decoded_message_equals_what_the_email_package_reads(name: str) -> None:
    import html

    rendered = render_edition(edition(), load_templates(None), INFO, ["city"])
    template = MessageTemplate(rendered, CTX)
    sub = Subscriber("jane@example.com", name, fields={"city": "Zürich & <Bern>"})
    msgid, data = template.build(sub, "Fri, 27 Nov 2026 07:00:00 +0000")

    msg = parse(data)
    assert msg.defects == []
    # RFC 2047 decoding (CPython's header *parser* keeps the folding space between encoded
    # words, against RFC 2047 6.2, even for headers the email package folded itself).
    raw_to = email.message_from_bytes(data, policy=email.policy.compat32)["To"]
    decoded = str(make_header(decode_header(raw_to)))
    assert parseaddr(decoded) == (name, "jane@example.com")
    assert msg["Message-ID"] == msgid
    values = template.values(sub)
    text, body = msg.iter_parts()
    assert text.get_content().replace("\r\n", "\n") == expected(
        rendered.text, template, values, str
    )
    assert body.get_content().replace("\r\n", "\n") == expected(
        rendered.html.replace("\r\n", "\n"), template, values, html.escape
    )
    for line in data.split(b"\r\n"):
        assert len(line) <= 998  # SMTP's limit; QP lines stay within 76
        assert not line.startswith(b".")  # nothing for SMTP dot-stuffing to change
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only


def test_long_lines_and_leading_dots_round_trip() -> None:
    summary = ". starts with a dot\n" + "x" * 500 + " = equals and trailing space \n.\n"
    rendered = render_edition(edition(summary), load_templates(None), INFO)
    template = MessageTemplate(rendered, CTX)
    _, data = template.build(Subscriber("a@example.com", "A"), "Fri, 27 Nov 2026 07:00:00 +0000")
    text = parse(data).get_body(("plain",)).get_content()
    # The text part wraps and indents the lead; the HTML part keeps its line breaks, so
    # lines starting with "." (which SMTP would need to dot-stuff) still occur there.
    assert "x" * 500 in text and "= equals and trailing space" in text
    html = parse(data).get_body(("html",)).get_content().replace("\r\n", "\n")
    assert "\n.\n" in html and "x" * 500 in html
    body = data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


@pytest.mark.parametrize(
    "piece",
    [
        *["", "a", "é" * 40, "x" * 75, "x" * 76, "=" * 30, "a b \t", "x" * 74 + "é"],
        # the fast path (text quoted-printable leaves as it is), cut into lines
        *["Reader 12", "x" * 74 + " y", "x" * 150, "x" * 151, "https://n.example/u/" + "A" * 200],
        *["x" * 75 + ".dot", "x" * 74 + " " + "y" * 80, ".x", "x ", " x", "a=b"],
    ],
)
def test_qp_pieces_join_into_valid_quoted_printable(piece: str) -> None:
    import quopri

    joined = qp("start ") + qp(piece) + qp(" end\n")
    assert all(len(line) <= 76 for line in joined.split(b"\r\n"))
    assert b"\n." not in joined and not joined.startswith(b".")  # no SMTP dot-stuffing
    assert quopri.decodestring(joined.replace(b"\r\n", b"\n")).decode() == f"start {piece} end\n"


def test_encoded_words_stay_short_and_decode_back() -> None:
    name = "Zoë Ñúñez " * 8
    words = encoded_words(name)
    assert len(words) > 1 and all(len(word) <= 75 for word in words)
    assert str(make_header(decode_header("\r\n ".join(words)))) == name


def test_message_id_is_stable_per_edition_and_address_and_hides_the_address() -> None:
    rendered = render_edition(edition(), load_templates(None), INFO)
    template = MessageTemplate(rendered, CTX)
    sub = Subscriber("jane@example.com", "Jane")
    first, _ = template.build(sub, "Fri, 27 Nov 2026 07:00:00 +0000")
    again, _ = MessageTemplate(rendered, CTX).build(sub, "Sat, 28 Nov 2026 07:00:00 +0000")
    other, _ = template.build(Subscriber("joe@example.com", "Joe"), "x")
    assert first == again != other
    assert "jane" not in first


def test_built_messages_are_in_smtp_wire_form_for_any_field_values() -> None:
    """relay.py sends personalize's bytes after DATA untouched (Job.wire_ready): they must
    need no line-ending fix and no dot-stuffing, whatever the subscriber's fields hold."""
    import random

    from newsletter.delivery.relay import to_wire
    from newsletter.subscribers.csvfile import clean_field

    rng = random.Random(20261127)
    alphabet = ["a", " ", ".", "..", "=", "é", "李", "\r", "\n", "\r\n", "<", '"', "\t", "x" * 80]
    rendered = render_edition(edition(". leading dot\n" * 3), load_templates(None), INFO, ["city"])
    template = MessageTemplate(rendered, CTX)
    for _ in range(300):
        name, city = ("".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(2))
        sub = Subscriber("jane@example.com", clean_field(name), {"city": clean_field(city)})
        _, data = template.build(sub, "Fri, 27 Nov 2026 07:00:00 +0000")
        assert data.endswith(b"\r\n")
        assert to_wire(data) == data, (name, city)
