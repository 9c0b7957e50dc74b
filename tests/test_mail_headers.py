"""Headers built from subscriber and article data: folded to 78 columns (998 at most),
read back as given, never a header of their own, and still DKIM-signed correctly.

What "read back as given" means is newsletter/mail/headers.py's docstring: the Subject
exactly; a display name with whitespace runs as one space, except that CPython's address
parser shows each cut between two RFC 2047 encoded words as a space (RFC 2047 decoders,
as mail readers use, join them exactly). Messages come from MessageTemplate over a small
hand-made rendered edition, so Hypothesis can try thousands of names in seconds.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from email.header import decode_header, make_header
from email.message import EmailMessage

import dkim
import pytest
from conftest import Project
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_mail_personalize import CTX as UNSIGNED

from newsletter.edition.rendered import RenderedEdition, Slot
from newsletter.mail.dkim import DkimSigner, new_private_key
from newsletter.mail.headers import (
    encode_header_text,
    folded_address,
    format_address,
    header_address,
    header_text,
)
from newsletter.mail.personalize import MailContext, MessageTemplate, subject_text
from newsletter.models import Subscriber
from newsletter.subscribers.csvfile import clean_field, normalise_address

PEM, RECORD = new_private_key("ed25519")
SIGNER = DkimSigner(PEM, "nl1", "example.com", timestamp=1795000000)
CTX = dataclasses.replace(UNSIGNED, dkim=SIGNER)  # the personalize tests' list, signed
NAME_TOKEN, CITY_TOKEN = "nlmabcd1234_0_", "nlmabcd1234_1_"
SLOTS = {NAME_TOKEN: Slot("name", "reader"), CITY_TOKEN: Slot("city")}
HEADERS = [
    "DKIM-Signature",
    "From",
    "List-Id",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
]
DATE = "Fri, 27 Nov 2026 07:00:00 +0000"
FAST = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def template(subject: str) -> MessageTemplate:
    """A message template whose subject is ``subject`` (as render collapses it)."""
    rendered = RenderedEdition(
        subject=" ".join(subject.split()),
        html=f"<p>Hello {NAME_TOKEN} from {CITY_TOKEN}</p>\n",
        text=f"Hello {NAME_TOKEN} from {CITY_TOKEN}\n",
        slots=SLOTS,
        token_pattern=r"nlmabcd1234_\d+_",
    )
    return MessageTemplate(rendered, CTX)


def norm(text: str) -> str:
    return " ".join(text.split())


def runs_fit(name: str) -> bool:
    """Whether every run without whitespace fits in one encoded word (42 UTF-8 bytes on
    the first line of any address header), or is printable ASCII short enough for a line."""
    return all(
        len(run.encode()) <= 42 or (run.isascii() and run.isprintable() and len(run) <= 66)
        for run in name.split()
    )


def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def to_header_lines(data: bytes) -> list[bytes]:
    lines = header_lines(data)
    start = next(i for i, line in enumerate(lines) if line.startswith(b"To: "))
    end = next(i for i in range(start + 1, len(lines)) if lines[i][:1] != b" ")
    return lines[start:end]


def check_lines(data: bytes) -> None:
    """RFC 5322 §2.1.1: at most 998 octets a line; ours: 78 unless the line holds a single
    piece that cannot be cut (an address, a URL, a Message-ID)."""
    for line in header_lines(data):
        assert len(line) <= 998, line[:80]
        if len(line) > 78:
            continuation = line[:1] in (b" ", b"\t")
            assert len(line.split()) <= (1 if continuation else 2), line


def check_no_injection(msg: EmailMessage) -> None:
    assert msg.defects == []
    assert [name for name, _ in msg.items()] == HEADERS
    for name in HEADERS:
        assert not msg[name].defects, (name, msg[name].defects)


def dns(name: bytes, timeout: int = 5) -> bytes:
    assert name == b"nl1._domainkey.example.com."
    return RECORD.encode()


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def rfc2047_display_name(data: bytes, address: str) -> str:
    """The To header's display name as an RFC 2047 decoder (a mail reader) shows it."""
    raw = email.message_from_bytes(data, policy=email.policy.compat32)["To"]
    raw = str(raw).replace("\r\n", "")  # unfold: CRLF goes, the whitespace after it stays
    if raw == address:
        return ""
    assert raw.endswith(f"<{address}>")
    phrase = raw[: -len(address) - 2].strip()
    if phrase.startswith('"'):
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    if "=?" in phrase:
        return str(make_header(decode_header(phrase)))
    return norm(phrase)


# Valid addresses as the CSV reader hands them over; a local part that is not ASCII goes
# into headers as it is (RFC 6532, only over SMTPUTF8): tests/test_delivery_relay.py.
addresses = (
    st.emails()
    .filter(lambda a: len(a) <= 254)
    .map(normalise_address)
    .filter(lambda a: a.rpartition("@")[0].isascii())
)
# Names as the CSV reader hands them over (control characters removed, ends stripped).
names = st.text(st.characters(codec="utf-8"), max_size=300).map(clean_field)
long_names = st.builds(
    lambda word, n: " ".join([word] * n),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=30).map(clean_field),
    st.integers(1, 200),
)
subjects = st.text(st.characters(codec="utf-8"), max_size=400)


@FAST
@given(name=st.one_of(names, long_names), address=addresses, subject=subjects)
@example(name="A" * 5000, address="long@example.com", subject="Daily")
@example(name="word " * 999 + "word", address="words@example.com", subject="x")
@example(name="李" * 40 + " 小龍", address="li@example.com", subject="=?utf-8?q?x?=")
def test_headers_fold_read_back_and_verify(name: str, address: str, subject: str) -> None:
    tpl = template(subject)
    msgid, data = tpl.build(Subscriber(address, name, fields={"city": "Zürich"}), DATE)

    check_lines(data)
    msg = parse(data)
    check_no_injection(msg)
    [to] = msg["To"].addresses
    address = header_address(address)  # an internationalised domain in ASCII form
    assert to.addr_spec == address and address.isascii()
    # RFC 2047 decoding (mail readers): the name; runs of whitespace count as one in atoms.
    name = norm(header_text(name))  # control characters and line separators: spaces
    assert norm(rfc2047_display_name(data, address)) == name
    # CPython's parser: the same, but for a space at each cut inside a too-long run.
    if runs_fit(name):
        assert norm(to.display_name) == name
    else:
        assert to.display_name.replace(" ", "") == name.replace(" ", "")
    assert str(msg["Subject"]) == subject_text(subject)
    assert msg["Message-ID"] == msgid
    assert dkim.verify(data, dnsfunc=dns)


@FAST
@given(name=st.text(max_size=200), city=st.text(max_size=200), subject=subjects)
@example(name="Eve\r\nBcc: victim@example.com", city="x\r\n\r\n<b>", subject="Hi\r\nBcc: x@y")
@example(name="Eve\nBcc: v@example.com", city="\x00", subject="Hi\u2028Bcc: x@y")
def test_no_data_can_add_a_header(name: str, city: str, subject: str) -> None:
    """Raw values, not even cleaned: names, CSV fields in the subject, article titles."""
    tpl = template(f"{subject} for {NAME_TOKEN} in {CITY_TOKEN}")
    _, data = tpl.build(Subscriber("eve@example.com", name, fields={"city": city}), DATE)

    check_lines(data)
    msg = parse(data)
    check_no_injection(msg)
    assert [a.addr_spec for a in msg["To"].addresses] == ["eve@example.com"]
    assert dkim.verify(data, dnsfunc=dns)


@FAST
@given(title=subjects)
def test_an_unstructured_value_reads_back_exactly(title: str) -> None:
    value = encode_header_text(title, "Subject")
    data = f"Subject: {value}\r\n\r\n".encode()
    check_lines(data)
    assert str(parse(data)["Subject"]) == header_text(title)
    raw = str(email.message_from_bytes(data, policy=email.policy.compat32)["Subject"])
    assert str(make_header(decode_header(raw.replace("\r\n", "")))) == header_text(title)


# --- the two examples of the report, through the real command line -------------------


@pytest.mark.parametrize(
    "name",
    ["A" * 5000, " ".join(["word"] * 1000)],
    ids=["5000-character ASCII name", "a name of repeated words"],
)
def test_a_long_name_is_folded_in_the_message_a_subscriber_gets(
    project: Project, smtp, name: str
) -> None:
    recorder, url = smtp
    project.write("subscribers/subscribers.csv", f"email,name\nlong@example.com,{name}\n")
    run = project.run("send", "--date", "2026-11-27", env={"NEWSLETTER_SMTP_URL": url})

    assert run.code == 0, run.err
    [received] = recorder.received
    check_lines(received.data)
    to_lines = to_header_lines(received.data)
    assert len(to_lines) > 10 and max(len(line) for line in to_lines) <= 78
    to = received.message["To"]
    assert [a.addr_spec for a in to.addresses] == ["long@example.com"]
    assert to.addresses[0].display_name.replace(" ", "") == name.replace(" ", "")
    if " " in name:  # folded at its spaces: read back exactly
        assert to.addresses[0].display_name == name
    assert norm(rfc2047_display_name(received.data, "long@example.com")) == name


@pytest.mark.parametrize("own_template", [False, True])
def test_long_article_titles_fold_the_subject(project: Project, smtp, own_template: bool) -> None:
    """Article titles go into the subject: the default template cuts the lead's to what a
    phone shows; a template of the user's may put it whole, and then it is folded."""
    recorder, url = smtp
    title = "Council " + "approves the long plan " * 20 + "Zoë"
    project.write(
        "seeds/000_lead.md",
        f"---\ntitle: {title}\nsection: World\nurl: https://example.com/lead\n"
        "summary: The lead.\n---\nBody.\n",
    )
    if own_template:
        project.write("mine/subject.txt.j2", "{{ list.name }} — {{ date_text }}: {{ lead.title }}")
        project.write("newsletter.toml", 'templates = "mine"\n')
    run = project.run("send", "--date", "2026-11-27", env={"NEWSLETTER_SMTP_URL": url})

    assert run.code == 0, run.err
    for received in recorder.received:
        check_lines(received.data)
        subject = re.search(rb"\r\nSubject: .*?\r\n(?! )", received.data, re.S)
        assert subject and max(len(line) for line in subject.group().split(b"\r\n")) <= 78
        got = str(received.message["Subject"])
        if own_template:
            assert got == f"Daily Newsletter — 27 November 2026: {title}"
        else:
            assert got == "Council approves the long plan approves the long… · 27 Nov"


def test_settings_values_in_fixed_headers_stay_one_line() -> None:
    """The list's name and Reply-To come from settings: folded or quoted, never a line."""
    ctx = MailContext(
        **{
            **{f: getattr(CTX, f) for f in CTX.__slots__},  # type: ignore[attr-defined]
            "list_name": "Daily News, Paris & Lyon " * 6,
            "reply_to": "Editor <editor@example.com>\r\nBcc: x@example.com",
        }
    )
    rendered = template("Hi").rendered
    _, data = MessageTemplate(rendered, ctx).build(Subscriber("a@example.com", "A"), DATE)
    check_lines(data)
    msg = parse(data)
    assert "Bcc" not in msg and msg["Reply-To"].addresses[0].addr_spec == "editor@example.com"
    raw = email.message_from_bytes(data, policy=email.policy.compat32)["List-Id"]
    assert str(raw).replace("\r\n", "").endswith("<daily.example.com>")
    assert norm(re.sub(r'^"|"$', "", str(raw).replace("\r\n", "").rsplit(" <", 1)[0])) == norm(
        "Daily News, Paris & Lyon " * 6
    )


@given(name=names, address=addresses)
@FAST
def test_the_fast_path_gives_what_the_folding_path_gives(name: str, address: str) -> None:
    assert format_address(name, address) == folded_address(name, address)
