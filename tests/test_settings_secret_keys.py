"""The key that signs unsubscribe links: an empty or guessable one would let anyone forge a
link that unsubscribes someone else, so it is refused when the settings load."""

from __future__ import annotations

import secrets

import pytest
from conftest import Project

from newsletter.settings.checks import KEY_BITS, key_bits

DAY = "2026-11-27"
HINT = 'hint: create one with: python -c "import secrets; print(secrets.token_hex(32))"'
WEAK = {
    "too short": "short",
    "37 base64url characters": "s3cret-key-for-tests-0123456789abcdef",
    "63 hex digits": secrets.token_hex(32)[:63],
    "42 base64url characters": secrets.token_urlsafe(32)[:42],
    "one character": "k" * 64,
    "hex, one piece repeated": "0123456789abcdef" * 4,
    "a word repeated": "Password1!" * 5,
}
STRONG = {
    "token_hex(32), as the hint prints": secrets.token_hex(32),
    "token_urlsafe(32)": secrets.token_urlsafe(32),
    "50 printable ASCII characters": "tr0ub4dor & 3 correct horses, stapling batteries!",
}


def test_an_empty_secret_key_is_refused_before_anything_is_done(project: Project) -> None:
    project.write("newsletter.toml", 'newsletter_name = "Morning Post"\nsecret_key = ""\n')

    run = project.run("send", "--date", DAY)

    assert run.code == 2
    assert "newsletter.toml:2: secret_key: the key is empty: anyone could forge" in run.err
    assert HINT in run.err
    assert not (project.path / "newsletter.db").exists()
    assert not (project.path / "outbox").exists()


@pytest.mark.parametrize("key", WEAK.values(), ids=WEAK.keys())
def test_a_weak_secret_key_is_refused_and_never_printed(project: Project, key: str) -> None:
    run = project.run("send", "--date", DAY, env={"NEWSLETTER_SECRET_KEY": key})

    assert run.code == 2
    assert "environment variable NEWSLETTER_SECRET_KEY: secret_key: the key is too weak" in run.err
    assert HINT in run.err
    assert key not in run.err
    assert not (project.path / "outbox").exists()


def test_a_weak_previous_key_is_refused_too(project: Project) -> None:
    current, previous = secrets.token_hex(32), secrets.token_urlsafe(32)
    project.write(
        "newsletter.toml",
        f'secret_key = "{current}"\nprevious_secret_keys = ["{previous}", "old-key"]\n',
    )

    run = project.run("send", "--date", DAY)

    assert run.code == 2
    assert "newsletter.toml:2: previous_secret_keys: key 2 of the list is too weak" in run.err
    assert "old-key" not in run.err and current not in run.err


@pytest.mark.parametrize("key", STRONG.values(), ids=STRONG.keys())
def test_a_strong_key_is_accepted(project: Project, key: str) -> None:
    run = project.run("send", "--date", DAY, env={"NEWSLETTER_SECRET_KEY": key})

    assert run.code == 0, run.err
    assert "4 messages written" in run.out


def test_the_rule_counts_bits_by_the_keys_form() -> None:
    """64 hex digits, 43 base64 characters, 39 printable ASCII characters or 32 bytes of
    other text are the least that carry 256 bits."""
    hexdigits, base64 = secrets.token_hex(32), secrets.token_urlsafe(32)
    assert KEY_BITS == 256
    assert key_bits(hexdigits) >= 256 > key_bits(hexdigits[:63])
    assert key_bits(base64) >= 256 > key_bits(base64[:42])
    ascii_key = "a1!B2@c3#D4$e5%F6^g7&H8*i9(J0)k-L=m+N[o]"
    assert key_bits(ascii_key[:39]) >= 256 > key_bits(ascii_key[:38])
    other = "ключ-для-ссылок-раз"  # 19 characters, 35 bytes of UTF-8
    assert key_bits(other) >= 256 > key_bits(other[:-2])
