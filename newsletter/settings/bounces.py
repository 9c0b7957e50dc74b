"""The bounce settings (a part of ``Settings``) and their checks.

- ``bounce_address``: VERP envelope senders ``local+<token>@domain`` (``mail.verp``);
- ``bounce_mailbox``: a Maildir path, ``imaps://user@host[:port]/FOLDER`` (TLS) or
  ``imap://user@host[:port]/FOLDER`` (STARTTLS required); the password in
  ``bounce_password`` or in the URL, a secret either way (never printed);
- ``bounce_processed_folder`` (IMAP), ``bounce_ca_file`` (a private CA's certificate, for
  a server whose certificate no public CA signed), ``bounce_timeout``;
- ``soft_bounce_limit``: soft bounces on that many different editions make a bounce;
- ``bounce_schedule``: when ``newsletter serve`` reads the mailbox (crontab).

``values.mailbox_spec`` and ``values.bounce_tokens`` turn them into the stage's values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from .checks import SettingError, mailbox, schedule, unset_if_blank

IMAP_HINT = (
    "write a Maildir path, imaps://user@host/INBOX (TLS, port 993) or "
    "imap://user@host/INBOX (STARTTLS, port 143)"
)
IMAP_PORTS = {"imaps": 993, "imap": 143}


class BounceSettings(BaseModel):
    """The bounce settings; ``Settings`` inherits them."""

    bounce_address: str | None = None  # bounces@example.org: VERP envelope senders
    bounce_mailbox: str | None = None  # Maildir path, imaps://user@host/INBOX, imap://...
    bounce_password: SecretStr | None = None  # the IMAP password (or in the URL)
    bounce_processed_folder: str = "Processed"  # IMAP: where processed reports go
    bounce_ca_file: Path | None = None  # IMAP: a private CA's certificate (PEM)
    bounce_timeout: float = Field(default=30.0, gt=0, le=600)  # seconds per IMAP step
    soft_bounce_limit: int = Field(default=3, ge=1, le=100)  # different editions
    bounce_schedule: str | None = None  # crontab: when `serve` reads the bounce mailbox

    @field_validator(
        "bounce_address", "bounce_mailbox", "bounce_ca_file", "bounce_schedule", mode="before"
    )
    @classmethod
    def _empty_is_unset_bounces(cls, value: Any) -> Any:
        return unset_if_blank(value)

    @field_validator("bounce_address")
    @classmethod
    def _bounce_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = mailbox(value, with_name=False).strip()
        from ..mail.verp import split_bounce_address  # (its module loads cryptography)

        try:
            split_bounce_address(address)
        except ValueError as exc:
            raise SettingError(str(exc), "write a plain address: bounces@example.org") from None
        return address

    @field_validator("bounce_mailbox")
    @classmethod
    def _bounce_mailbox(cls, value: str | None) -> str | None:
        if value is not None and "://" in value:
            imap_url(value)  # raises SettingError, never repeating the password
        return value if value is None else value.strip()

    @field_validator("bounce_processed_folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not value.strip() or not value.isprintable():
            raise SettingError("is empty or has control characters", "write a folder name")
        return value.strip()

    @field_validator("bounce_schedule")
    @classmethod
    def _bounce_crontab(cls, value: str | None) -> str | None:
        return schedule(value)

    @model_validator(mode="after")
    def _bounce_combinations(self) -> BounceSettings:
        url = self.bounce_mailbox
        if url is None or "://" not in url:
            return self
        in_url = bool(urlsplit(url).password)
        if in_url and self.bounce_password is not None:
            raise SettingError(
                "has a password in its URL and bounce_password is set too",
                "keep one of them",
                setting="bounce_mailbox",
            )
        if not in_url and self.bounce_password is None:
            raise SettingError(
                "needs a password: bounce_password is not set",
                "set bounce_password (NEWSLETTER_BOUNCE_PASSWORD), or user:password@ in the URL",
                setting="bounce_mailbox",
            )
        return self


def imap_url(value: str) -> tuple[str, str, int, str, str, str]:
    """(scheme, user, port, host, password, folder) of an IMAP URL (RFC 5092 in shape).

    Raises:
        SettingError: another scheme, no user or host, a bad port, spaces.
    """
    text = value.strip()
    if not text or any(c.isspace() or not c.isprintable() for c in text):
        raise SettingError("has spaces or control characters in it", IMAP_HINT)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise SettingError("the port is not a number from 1 to 65535", IMAP_HINT) from None
    if port == 0:  # urlsplit takes it; no server listens there
        raise SettingError("the port is not a number from 1 to 65535", IMAP_HINT)
    if parts.scheme not in IMAP_PORTS:
        raise SettingError(f"unsupported scheme {parts.scheme!r}", IMAP_HINT)
    if not parts.hostname or not parts.username:
        raise SettingError("the IMAP URL needs a user and a host: imaps://user@host/", IMAP_HINT)
    if parts.query or parts.fragment:
        raise SettingError("an IMAP URL here has no query or fragment", IMAP_HINT)
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return (
        parts.scheme, unquote(parts.username), port or IMAP_PORTS[parts.scheme],
        parts.hostname, unquote(parts.password or ""), folder,
    )  # fmt: skip


def resolve_bounce_paths(settings: BounceSettings, rel: Callable[[Path], Path]) -> dict[str, Any]:
    """The bounce settings' paths made absolute against the config file's folder."""
    updates: dict[str, Any] = {}
    if settings.bounce_mailbox is not None and "://" not in settings.bounce_mailbox:
        updates["bounce_mailbox"] = str(rel(Path(settings.bounce_mailbox)))
    if settings.bounce_ca_file is not None:
        updates["bounce_ca_file"] = rel(settings.bounce_ca_file)
    return updates
