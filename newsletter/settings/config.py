"""Configuration: one pydantic-settings class.

Precedence, highest first: keyword arguments (the CLI's flags), ``NEWSLETTER_*`` environment
variables, ``.env``, ``newsletter.toml`` (in the working directory, or ``--config``), then the
embedded defaults, which need no file at all. Relative paths are resolved against the
directory of the config file (the working directory when there is none).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ..collect.config import SourceSpec
from ..delivery.throttle import parse_limits
from ..errors import ConfigError
from .cron import parse_duration, parse_schedule

DEFAULT_CONFIG = "newsletter.toml"


class Settings(BaseSettings):
    """Every setting, with the defaults that make ``newsletter send`` work out of the box."""

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
    from_address: str = "Daily Newsletter <newsletter@example.com>"
    reply_to: str | None = None
    list_id: str | None = None  # default: daily.<from domain>
    public_url: str | None = None  # https://news.example.com: enables one-click unsubscribe
    unsubscribe_mailto: str | None = None  # default: the From address
    postal_address: str = "Daily Newsletter, 1 Example Street, Example City"
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

    @field_validator("archive", mode="before")
    @classmethod
    def _archive_off(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("archive_url")
    @classmethod
    def _absolute_archive_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
            raise ValueError("write the archive's public address as https://host/path")
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
        if value is not None and value.strip():
            parse_schedule(value, ZoneInfo("UTC"))  # raises ValueError with the reason
            return value.strip()
        return None

    @field_validator("late_grace", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)  # raises ValueError with the accepted forms

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_listen(value)  # raises ValueError with the expected form
        return value

    @field_validator("smtp_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        scheme = urlsplit(value).scheme
        if scheme not in SMTP_SCHEMES:
            raise ValueError(
                f"unsupported scheme {scheme!r}: use smtp:// (plain), smtps:// (implicit TLS) "
                "or smtp+starttls:// (STARTTLS required)"
            )
        if not urlsplit(value).hostname:
            raise ValueError("the SMTP URL has no host: write smtp://host:port")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _valid_limits(cls, value: str) -> str:
        parse_limits(value)  # raises ValueError with the reason
        return value

    @field_validator("from_address")
    @classmethod
    def _has_domain(cls, value: str) -> str:
        if not re.search(r"@[\w.-]+\.\w+>?\s*$", value) or "\n" in value or "\r" in value:
            raise ValueError("write the From address as 'Name <user@example.com>'")
        return value

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


SMTP_SCHEMES = ("smtp", "smtps", "smtp+starttls")


def split_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) as a host and a port.

    Raises:
        ValueError: not HOST:PORT with a port from 0 to 65535.
    """
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]") or "127.0.0.1", int(port)


def load_settings(config: Path | None = None, **overrides: Any) -> tuple[Settings, Path]:
    """Read the configuration; return it and the directory relative paths are based on.

    Raises:
        ConfigError: the named config file is missing, the TOML is invalid, or a value
            (from any source) fails validation; the message names the setting.
    """
    path = config if config is not None else Path(DEFAULT_CONFIG)
    if config is not None and not path.is_file():
        raise ConfigError(f"{path}: config file not found", "check the --config path")
    base = path.resolve().parent if path.is_file() else Path.cwd()
    Settings._toml_path = path if path.is_file() else None
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path), "fix the value or remove it") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{path}: not valid TOML: {exc}", "fix the TOML syntax") from None
    finally:
        Settings._toml_path = None
    return _resolve_paths(settings, base), base


def _describe(exc: ValidationError, path: Path) -> str:
    lines = [f"invalid configuration ({path} / NEWSLETTER_* environment):"]
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "?"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {name}: {msg}")
    return "\n".join(lines)


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    def rel(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    updates: dict[str, Any] = {
        name: rel(getattr(settings, name))
        for name in ("subscribers", "outbox", "previews", "database")
    }
    for optional in ("templates", "archive", "dkim_private_key"):
        if getattr(settings, optional) is not None:
            updates[optional] = rel(getattr(settings, optional))
    updates["sources"] = [
        s.model_copy(update={"path": rel(s.path)}) if s.path is not None else s
        for s in settings.sources
    ]
    return settings.model_copy(update=updates)
