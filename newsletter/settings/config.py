"""Configuration: one pydantic-settings class.

Precedence, highest first: keyword arguments (the CLI's flags), ``NEWSLETTER_*`` environment
variables, ``.env``, ``newsletter.toml`` (in the working directory, or ``--config``), then the
embedded defaults, which need no file at all. Relative paths are resolved against the
directory of the config file (the working directory when there is none).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from ..collect.config import SourceSpec
from ..delivery.throttle import parse_limits
from ..errors import ConfigError
from . import checks
from .bounces import BounceSettings
from .checks import SettingError
from .checks import listen as split_listen  # HOST:PORT -> (host, port), or ValueError
from .cron import parse_duration
from .origins import Origins, not_json, report
from .paths import resolve_paths

DEFAULT_CONFIG = "newsletter.toml"
# The form each of these settings must have, checked as it loads (checks.py says why).
FORMS: dict[str, Callable[[str], str]] = {
    "smtp_url": checks.smtp_url,
    "public_url": partial(checks.web_url, example="https://news.example.org", https_only=True),
    "archive_url": partial(checks.web_url, example="https://news.example.org/archive"),
    "from_address": partial(checks.mailbox, with_name=True),
    "reply_to": partial(checks.mailbox, with_name=True),
    "unsubscribe_mailto": partial(checks.mailbox, with_name=False),
    "list_id": checks.list_id,
    "dkim_selector": checks.dkim_selector,
    "dkim_domain": checks.domain,
    "language": checks.language,
    "newsletter_name": partial(checks.one_line, what="the newsletter's name"),
    "postal_address": partial(
        checks.some_text, what="the postal address", example="the list's real postal address"
    ),
}
# The shipped identity: enough for the Maildir demo, refused for real mail (values.py).
PLACEHOLDER_FROM = "Daily Newsletter <newsletter@example.com>"
PLACEHOLDER_POSTAL_ADDRESS = "Daily Newsletter, 1 Example Street, Example City"


class Settings(BaseSettings, BounceSettings):
    """Every setting, with the defaults that make ``newsletter send`` work out of the box
    (the bounce settings are declared in ``settings.bounces``)."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSLETTER_",
        env_file=".env",
        extra="forbid",
        validate_default=True,
    )
    # Set by load_settings(); the TOML source reads it in settings_customise_sources.
    _toml_path: ClassVar[Path | None] = None

    # --- what goes in ---
    sources: list[SourceSpec] = Field(default_factory=lambda: [SourceSpec(path=Path("seeds"))])
    subscribers: Path = Path("subscribers/subscribers.csv")
    templates: Path | None = None  # None: the default templates shipped with the package
    max_articles: int = Field(default=20, ge=1, le=200)
    section_order: list[str] = Field(default_factory=list)

    # --- feeds ---
    feed_timeout: float = Field(default=30.0, gt=0, le=600)  # seconds for one whole fetch
    feed_max_bytes: int = Field(default=5_000_000, ge=10_000)  # decoded body size limit
    feed_concurrency: int = Field(default=8, ge=1, le=64)  # feeds fetched at once
    new_source_hours: float = Field(
        default=24.0, ge=0
    )  # a new feed's first run looks back this far
    feed_failure_alert: int = Field(default=3, ge=1)  # consecutive failures that flag a source

    # --- the list and its mail ---
    newsletter_name: str = "Daily Newsletter"
    from_address: str = PLACEHOLDER_FROM
    reply_to: str | None = None
    list_id: str | None = None  # default: daily.<from domain>
    public_url: str | None = None  # https://news.example.com: enables one-click unsubscribe
    unsubscribe_mailto: str | None = None  # default: the From address
    postal_address: str = PLACEHOLDER_POSTAL_ADDRESS
    secret_key: SecretStr | None = None  # signs unsubscribe links; generated when unset
    # --- unsubscribes and DKIM ---
    previous_secret_keys: list[SecretStr] = Field(default_factory=list)  # after a rotation
    previous_secret_keys_days: int = Field(default=90, ge=0)  # how long old links still work
    dkim_private_key: Path | None = None  # PEM file (RSA or Ed25519); signs every message
    dkim_selector: str | None = None
    dkim_domain: str | None = None  # default: the From address's domain

    # --- where it goes ---
    smtp_url: str | None = None  # smtp://host:25, smtps://host:465, smtp+starttls://host:587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_tls_verify: bool = True
    smtp_connections: int = Field(default=4, ge=1, le=64)
    smtp_messages_per_connection: int = Field(default=1000, ge=1)

    # --- delivery behaviour ---
    rate_limit: str = ""  # "10/s, 500/day" or a preset: gmail, workspace, ses, ...
    max_attempts: int = Field(default=3, ge=1, le=20)  # per message within one run
    retry_backoff: float = Field(default=1.0, ge=0)  # seconds before the first retry
    retry_backoff_max: float = Field(default=60.0, ge=0)
    pause_after_failures: int = Field(default=25, ge=1)
    max_rate_wait: float = Field(default=300.0, ge=0)  # longer waits end the run
    # A message whose connection was lost before the relay's reply (RFC 1047): "resend"
    # it on the next run (at-least-once) or "hold" it for `send --retry-deferred`.
    in_doubt: Literal["resend", "hold"] = "resend"
    max_deferred_days: float = Field(default=3.0, gt=0)  # then deferred becomes failed
    outbox: Path = Path("outbox")
    previews: Path = Path("previews")
    archive: Path | None = Path("archive")  # the web archive's folder; "" turns it off
    archive_url: str | None = None  # where that folder is served: https://news.example.com/archive
    language: str = "en"  # the lang of the edition's HTML

    # --- state and time ---
    database: Path = Path("newsletter.db")
    # Render a new edition in a child process ("auto": for lists of 100,000 rows or more)
    # so premailer's ~15 MB never stays in the sending process.
    render_isolation: Literal["auto", "always", "never"] = "auto"
    timezone: str = "UTC"

    # --- the daemon, `newsletter serve` ---
    schedule: str = "0 7 * * *"  # crontab expression in `timezone`: when the edition goes out
    collect_schedule: str | None = None  # optional, more frequent collection between sends
    late_grace: timedelta = timedelta(hours=3)  # a run missed by less is made up at start
    # HOST:PORT of `newsletter serve` (unsubscribe links, /healthz), behind a TLS proxy
    listen: str = "127.0.0.1:8080"
    # --- sign-up on `newsletter serve` (with public_url) ---
    confirm_hours: float = Field(default=48.0, gt=0, le=720)  # a confirmation link's life
    signup_per_ip_hour: int = Field(default=10, ge=1)  # sign-up requests from one IP an hour
    trusted_proxies: list[str] = Field(default_factory=list)  # whose X-Forwarded-For counts
    welcome: bool = False  # send the welcome message once a sign-up is confirmed

    # --- editors: proofs and the approval gate ---
    approval: Literal["none", "required", "veto"] = "none"  # who must agree before a send
    # editors' addresses for proofs; in the environment "a@x.org, b@y.org" (no JSON needed)
    proof_to: Annotated[list[str], NoDecode] = Field(default_factory=list)
    proof_lead: timedelta = timedelta(hours=1)  # how early `serve` sends the proof

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # toml_file in model_config is ignored unless its source is returned here; the
        # order of this tuple is the precedence.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if cls._toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path))
        return tuple(sources)

    @field_validator("sources", mode="before")
    @classmethod
    def _shorthand_sources(cls, value: Any) -> Any:
        # "https://..." is a feed, any other string a folder; tables pass through.
        if not isinstance(value, list):
            return value
        return [
            ({"url": s} if "://" in s else {"path": s}) if isinstance(s, str) else s for s in value
        ]

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, value: list[SourceSpec]) -> list[SourceSpec]:
        keys = [s.key for s in value]
        if dupes := sorted({k for k in keys if keys.count(k) > 1}):
            raise ValueError(f"listed more than once: {', '.join(dupes)}")
        return value

    @field_validator(
        "reply_to", "list_id", "public_url", "unsubscribe_mailto", "dkim_selector",
        "dkim_domain", "archive_url", "smtp_url", "smtp_username", "templates",
        "dkim_private_key", "archive", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return checks.unset_if_blank(value)

    @field_validator("subscribers", "outbox", "previews", "database", mode="before")
    @classmethod
    def _a_path(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():  # Path("") would be "."
            raise SettingError("is empty", "write a path, or remove it to use the default")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as 'Europe/Paris'"
            ) from exc
        return value

    @field_validator("schedule", "collect_schedule")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        return checks.schedule(value)

    @field_validator("proof_to", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        # one address alone, or "a@x, b@y", is a list of them
        return [a for a in re.split(r"[,\s]+", value) if a] if isinstance(value, str) else value

    @field_validator("proof_to")
    @classmethod
    def _proof_addresses(cls, value: list[str]) -> list[str]:
        return [checks.mailbox(address, with_name=False) for address in value]

    @field_validator("late_grace", "proof_lead", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)  # raises ValueError with the accepted forms

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_listen(value)  # raises ValueError with the expected form
        return value

    @field_validator("rate_limit")
    @classmethod
    def _valid_limits(cls, value: str) -> str:
        parse_limits(value)  # raises ValueError with the reason
        return value

    @field_validator(*FORMS)
    @classmethod
    def _form(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else FORMS[info.field_name](value)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        return [checks.proxy(v) for v in value]

    @field_validator("secret_key")
    @classmethod
    def _strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            checks.secret_key(value.get_secret_value(), "the key")
        return value

    @field_validator("previous_secret_keys")
    @classmethod
    def _strong_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for number, key in enumerate(value, 1):
            checks.secret_key(key.get_secret_value(), f"key {number} of the list", previous=True)
        return value

    @model_validator(mode="after")
    def _combinations(self) -> Settings:
        checks.dkim_settings(self.dkim_private_key, self.dkim_selector, self.dkim_domain)
        if self.smtp_url is not None:
            checks.smtp_credentials(
                self.smtp_url, self.smtp_username, self.smtp_password is not None
            )
        if self.retry_backoff_max < self.retry_backoff:
            raise SettingError(
                "is shorter than retry_backoff, the first wait",
                "make retry_backoff_max at least retry_backoff",
                setting="retry_backoff_max",
            )
        return self

    # --- derived values ---
    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def listen_address(self) -> tuple[str, int]:
        return split_listen(self.listen)

    @property
    def from_email(self) -> str:
        return self.from_address.rsplit("<", 1)[-1].rstrip("> ").strip()

    @property
    def from_domain(self) -> str:
        return self.from_email.rsplit("@", 1)[1]

    @property
    def list_identifier(self) -> str:
        return self.list_id or f"daily.{self.from_domain}"


# How each list is written in the environment and .env (JSON), for error messages.
LIST_EXAMPLES = {
    "sources": '["seeds", "https://example.org/feed.xml"]',
    "section_order": '["World", "Sport"]',
    "previous_secret_keys": '["<the former secret_key>"]',
    "trusted_proxies": '["127.0.0.1"]',
}


def load_settings(config: Path | None = None, **overrides: Any) -> tuple[Settings, Path]:
    """Read the configuration; return it and the directory relative paths are based on.

    Raises:
        ConfigError: the named config file is missing or unreadable, the TOML is invalid,
            a list in the environment is not JSON, a value (from any source) fails
            validation, or a name is not a setting; the message starts with where the
            value came from (``newsletter.toml:3``, ``.env:2``, the variable's name).
    """
    path = config if config is not None else Path(DEFAULT_CONFIG)
    if config is not None and not path.is_file():
        raise ConfigError(f"{path}: config file not found", "check the --config path")
    base = path.resolve().parent if path.is_file() else Path.cwd()
    given = {k: v for k, v in overrides.items() if v is not None}
    toml = Settings._toml_path = path if path.is_file() else None

    def origins() -> Origins:
        return Origins.read(toml, os.environ, given)

    try:
        settings = Settings(**given)
    except ValidationError as exc:
        nested = {"sources": list(SourceSpec.model_fields)}
        raise report(exc.errors(), origins(), list(Settings.model_fields), nested) from None
    except SettingsError as exc:  # a list in the environment or .env that is not JSON
        raise not_json(exc, origins(), LIST_EXAMPLES) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        line = re.search(r"at line (\d+)", str(exc))
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise ConfigError(f"{where}: not valid TOML: {exc}", "fix the TOML syntax") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    finally:
        Settings._toml_path = None
    settings = resolve_paths(settings, base)
    if settings.templates is not None and not settings.templates.is_dir():
        raise ConfigError(
            f"{origins().where('templates')}: {settings.templates} is not a folder",
            "create it with the templates to override, or remove the setting",
        )
    return settings, base
