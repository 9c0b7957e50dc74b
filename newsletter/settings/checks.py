"""The forms settings must have, checked when the settings load rather than when used.

Each check takes the value as written and returns it (sometimes tidied) or raises
``SettingError`` with what is wrong and what to write instead. Messages never repeat a
secret (keys, passwords, credentials inside a URL). Pure: no disk, network or clock.
"""

from __future__ import annotations

import math
import re
import string
from typing import Any
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from .cron import parse_schedule

SMTP_SCHEMES = ("smtp", "smtps", "smtp+starttls")
SMTP_FORMS = "smtp://host:25, smtps://host:465 or smtp+starttls://host:587"
SMTP_HINT = f"write {SMTP_FORMS} (user:password@ before the host for a login)"
KEY_HINT = 'create one with: python -c "import secrets; print(secrets.token_hex(32))"'
KEY_BITS = 256  # what the unsubscribe tokens' key must carry: 32 random bytes
_LOOPBACK = ("localhost", "127.0.0.1", "::1")
# RFC 5646 language tag, in shape: a primary language, then subtags (en, pt-BR, zh-Hant-TW).
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
# RFC 1035 host names: letters, digits and inner hyphens, 63 characters a label.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# RFC 2919 section 2: the List-Id's identifier is a dot-atom with at least one dot.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LIST_ID = re.compile(rf"{_ATOM}(?:\.{_ATOM})+")
_NAME_ADDR = re.compile(r"(?P<name>[^<>]*?)\s*<(?P<address>[^<>]*)>")


class SettingError(ValueError):
    """A setting's value cannot be used; ``hint`` says what to write instead.

    ``setting`` names the setting when the check spans several (a model-level check), so
    the report can still say where it came from.
    """

    def __init__(self, reason: str, hint: str | None = None, setting: str | None = None) -> None:
        super().__init__(reason)
        self.hint = hint
        self.setting = setting


# --- URLs -------------------------------------------------------------------------


def smtp_url(value: str) -> str:
    """``smtp[s|+starttls]://[user[:password]@]host[:port]``, as ``SmtpTarget`` reads it.

    Raises:
        SettingError: another scheme, no host, a port that is not 1-65535, or a path,
            query or fragment (which the relay connection would silently ignore).
    """
    parts = _split(value, SMTP_HINT)
    if "://" not in value:
        raise SettingError("not a URL: it has no smtp://, smtps:// or smtp+starttls://", SMTP_HINT)
    if parts.scheme not in SMTP_SCHEMES:
        raise SettingError(
            f"unsupported scheme {parts.scheme!r}: use smtp:// (plain), smtps:// (implicit "
            "TLS) or smtp+starttls:// (STARTTLS required)",
            SMTP_HINT,
        )
    if not parts.hostname:
        raise SettingError("the SMTP URL has no host", SMTP_HINT)
    _port(parts, SMTP_HINT)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingError("an SMTP URL has no path, query or fragment", SMTP_HINT)
    return value.strip()


def web_url(value: str, example: str, https_only: bool = False) -> str:
    """An absolute http(s) address (``public_url``, ``archive_url``), without query or
    fragment since paths are appended to it.

    ``https_only``: RFC 8058 section 3.1 requires the one-click unsubscribe URI to be
    HTTPS; plain http is allowed only on this machine (localhost), for trying it out.

    Raises:
        SettingError: not http(s), no host, a bad port, a query or fragment, or http
            where https is required.
    """
    hint = f"write the public address as {example}"
    parts = _split(value, hint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError("not an absolute http(s) address", hint)
    _port(parts, hint)
    if parts.query or parts.fragment:
        raise SettingError("the address must not have a query (?...) or fragment (#...)", hint)
    if https_only and parts.scheme != "https" and parts.hostname not in _LOOPBACK:
        raise SettingError(
            "must be https: mail clients offer one-click unsubscribe (RFC 8058) only for "
            "https links",
            hint,
        )
    return value.strip()


def _split(value: str, hint: str) -> SplitResult:
    text = value.strip()
    if not text or any(c.isspace() or not c.isprintable() for c in text):
        raise SettingError("empty, or has spaces or control characters in it", hint)
    try:
        return urlsplit(text)
    except ValueError as exc:  # e.g. an unbalanced IPv6 bracket
        raise SettingError(f"not a URL ({exc})", hint) from None


def _port(parts: SplitResult, hint: str) -> None:
    try:
        usable = parts.port != 0
    except ValueError:  # not a number, or above 65535
        usable = False
    if not usable:
        # From the host part only: never look at (or repeat) the credentials.
        written = parts.netloc.rpartition("@")[2].rpartition(":")[2]
        raise SettingError(f"the port {written!r} is not a number from 1 to 65535", hint)


# --- addresses and names ------------------------------------------------------------


def mailbox(value: str, with_name: bool) -> str:
    """``Name <user@example.org>`` or ``user@example.org`` (``with_name``: the name may be
    given); the address checked with email-validator (syntax only, no DNS).

    Raises:
        SettingError: no valid address, more than one, a name where none may be, or a
            line break (it would end the header).
    """
    text = value.strip()
    form = "'Name <user@example.org>'" if with_name else "'user@example.org'"
    if not text.isprintable():
        raise SettingError("has a line break or control character", f"write it as {form}")
    if text.lower().startswith("mailto:"):
        raise SettingError("write the address alone, without 'mailto:'", f"write it as {form}")
    match = _NAME_ADDR.fullmatch(text)
    if match is not None and not with_name:
        raise SettingError("a bare address is expected here, without a name", f"write {form}")
    address = match.group("address").strip() if match else text
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise SettingError(f"{address!r} is not an email address: {exc}", f"write {form}") from None
    return text


def domain(value: str) -> str:
    """A DNS domain name such as ``example.org`` (``dkim_domain``)."""
    text = value.strip().rstrip(".")
    if not _DOMAIN.fullmatch(text) or len(text) > 253:
        raise SettingError("not a domain name", "write it as example.org")
    return text


def dkim_selector(value: str) -> str:
    """RFC 6376 section 3.1: a selector is one or more DNS labels (``nl202611``)."""
    text = value.strip()
    if not _SELECTOR.fullmatch(text):
        raise SettingError(
            "not a DKIM selector: letters, digits and hyphens, labels separated by dots",
            "write it as it is published: <selector>._domainkey.<domain>",
        )
    return text


def list_id(value: str) -> str:
    """RFC 2919: the List-Id's identifier, ``daily.example.org``; the header adds the
    list's name and the angle brackets."""
    text = value.strip()
    if not _LIST_ID.fullmatch(text) or len(text) > 255:
        raise SettingError(
            "not a list identifier (a dotted name, no spaces or brackets)",
            "write it as daily.example.org: the List-Id header adds the name and <>",
        )
    return text


def language(value: str) -> str:
    """An RFC 5646 (BCP 47) language tag: ``en``, ``fr``, ``pt-BR``."""
    text = value.strip()
    if not _LANGUAGE.fullmatch(text):
        raise SettingError("not a language tag", "write a BCP 47 tag such as en, fr or pt-BR")
    from babel import Locale, UnknownLocaleError  # CLDR: dates, plural rules, direction

    try:
        Locale.parse(text.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise SettingError(
            f"no language {text!r} in CLDR (Babel)",
            "write a BCP 47 tag CLDR knows, such as en, fr, de, ja, zh or ar (README: Languages)",
        ) from exc
    return text


def unset_if_blank(value: Any) -> Any:
    """None for an empty or blank string: ``NEWSLETTER_PUBLIC_URL=`` (or "" in the file)
    means not set; any other value as it is."""
    return None if isinstance(value, str) and not value.strip() else value


def schedule(value: str | None) -> str | None:
    """A crontab expression (``settings.cron``), stripped; None when blank.

    Raises:
        ValueError: not a crontab expression; the message says why.
    """
    if value is None or not value.strip():
        return None
    parse_schedule(value, ZoneInfo("UTC"))  # raises ValueError with the reason
    return value.strip()


def one_line(value: str, what: str) -> str:
    """A non-empty line of text (``newsletter_name`` goes into Subject and List-Id)."""
    text = value.strip()
    if not text or not text.isprintable():
        raise SettingError(f"{what} must be one non-empty line", "write it on one line")
    return text


def some_text(value: str, what: str, example: str) -> str:
    """Non-empty text, line breaks allowed (``postal_address``)."""
    text = value.strip()
    if not text or not text.replace("\n", " ").isprintable():
        raise SettingError(f"{what} is empty or has control characters", f"write {example}")
    return text


# --- keys -------------------------------------------------------------------------

_HEX = frozenset(string.hexdigits)
_BASE64 = frozenset(string.ascii_letters + string.digits + "+/-_=")
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")


def key_bits(key: str) -> float:
    """How many random bits ``key`` can carry, judged from its form alone.

    Counted per character from the smallest usual alphabet holding all of them: 4 bits a
    hex digit, 6 a base64/base64url character, log2(95) ≈ 6.6 any other printable ASCII
    character, 8 a byte of any other text (UTF-8). So 256 bits are 64 hex digits
    (``secrets.token_hex(32)``), 43 base64 characters (``secrets.token_urlsafe(32)``), 39
    other ASCII characters or 32 bytes of other text. A key with fewer than 8 different
    characters, or made of one piece repeated, is obviously not random: 0 bits.
    """
    chars = frozenset(key)
    if len(chars) < 8 or key in (key + key)[1:-1]:  # the second: a piece repeated
        return 0.0
    if chars <= _HEX:
        return 4.0 * len(key)
    if chars <= _BASE64:
        return 6.0 * len(key)
    if chars <= _PRINTABLE:
        return math.log2(95) * len(key)
    return 8.0 * len(key.encode())


def secret_key(key: str, what: str, previous: bool = False) -> str:
    """A key that signs unsubscribe links (``previous``: one that still reads old links):
    at least ``KEY_BITS`` bits by ``key_bits``.

    Raises:
        SettingError: shorter or more regular than that (the message never shows it).
    """
    if not key:
        unset = "remove it from the list" if previous else "remove it to use a generated key"
        raise SettingError(
            f"{what} is empty: anyone could forge unsubscribe links", f"{KEY_HINT}; or {unset}"
        )
    if key_bits(key) < KEY_BITS:
        raise SettingError(
            f"{what} is too weak: a key needs {KEY_BITS // 8} random bytes (64 hex digits, "
            "43 base64 characters), else unsubscribe links can be forged",
            KEY_HINT,
        )
    return key


# --- settings that only work together ---------------------------------------------


def dkim_settings(key: object | None, selector: str | None, domain: str | None) -> None:
    """DKIM signs with a key file and a selector together; ``dkim_domain`` only with them.

    Raises:
        SettingError: one without the other; ``setting`` names the one that is set.
    """
    if key is not None and selector is not None:
        return
    if key is None and selector is None:
        if domain is None:
            return
        present, missing = "dkim_domain", "dkim_private_key and dkim_selector are"
    elif key is None:
        present, missing = "dkim_selector", "dkim_private_key is"
    else:
        present, missing = "dkim_private_key", "dkim_selector is"
    raise SettingError(
        f"DKIM is half configured: {missing} not set (only {present} is)",
        "set dkim_private_key and dkim_selector ('newsletter dkim keygen' prints both), or "
        "remove the DKIM settings (dkim_domain defaults to the From domain)",
        setting=present,
    )


def smtp_credentials(url: str, username: str | None, has_password: bool) -> None:
    """A login needs both a user name and a password (in the URL or the settings).

    Raises:
        SettingError: only one of them is given; ``setting`` names where the one given is.
    """
    parts = urlsplit(url)
    in_url = bool(parts.username), bool(parts.password)
    has_user, has_password = in_url[0] or bool(username), in_url[1] or has_password
    if has_user == has_password:
        return
    if has_user:
        given, missing = "user name", "password"
        setting = "smtp_url" if in_url[0] else "smtp_username"
    else:
        given, missing = "password", "user name"
        setting = "smtp_url" if in_url[1] else "smtp_password"
    raise SettingError(
        f"the relay login has a {given} but no {missing}",
        "set both smtp_username and smtp_password (or user:password@ in smtp_url), or "
        "neither when the relay needs no login",
        setting=setting,
    )


def listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as a host and a port.

    Raises:
        ValueError: not HOST:PORT with a port from 0 to 65535.
    """
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]") or "127.0.0.1", int(port)


def proxy(value: str) -> str:
    """One of ``trusted_proxies``: an IP address or network (``10.0.0.1``, ``10.0.0.0/8``,
    ``::1``), by Python's ipaddress; returned as ipaddress writes it."""
    import ipaddress

    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise SettingError(
            f"{value!r} is not an IP address or network",
            'write the reverse proxy\'s address, e.g. ["127.0.0.1"] or ["10.0.0.0/8"]',
        ) from None
