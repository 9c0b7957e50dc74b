"""What the collect stage is told: the configured sources, how feeds are fetched, and the
rest of its configuration, as frozen values (no HTTP or feed stack is imported here).

``SourceSpec`` is a pydantic model so that the ``sources`` setting is validated where it
is read; the stage only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, tzinfo
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .. import __version__

USER_AGENT = f"newsletter/{__version__} (feed collector of a Daily Newsletter)"

FEED_SCHEMES = ("http", "https")


class SourceSpec(BaseModel):
    """One entry of ``sources``: a feed URL or a folder of article files, with its options.

    A plain string in the list is shorthand: ``"https://..."`` is a feed, anything else a
    folder. ``name`` labels the source in messages and ``newsletter sources``; ``section``
    puts every article of the source in that section; ``max_items`` caps how many new items
    one collection takes from it (the newest); ``enabled = false`` keeps it listed but unread.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    url: str | None = None
    path: Path | None = None
    section: str | None = None
    max_items: int | None = Field(default=None, ge=1, le=500)
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value.strip())
            if parts.scheme.lower() not in FEED_SCHEMES or not parts.hostname:
                raise ValueError(f"{value!r} is not an http(s) feed URL")
            return value.strip()
        return value

    @model_validator(mode="after")
    def _url_or_path(self) -> SourceSpec:
        if (self.url is None) == (self.path is None):
            raise ValueError("a source needs exactly one of 'url' (a feed) or 'path' (a folder)")
        return self

    @property
    def is_feed(self) -> bool:
        return self.url is not None

    @property
    def key(self) -> str:
        """What identifies the source in the database: its URL as configured, or its path."""
        return self.url if self.url is not None else str(self.path)

    @property
    def label(self) -> str:
        """How messages name the source: its name, else the feed URL or the folder name."""
        if self.name:
            return self.name
        return self.url if self.url is not None else Path(str(self.path)).name


@dataclass(frozen=True, slots=True)
class FetchLimits:
    timeout: float = 30.0  # seconds for one whole fetch, connect to last byte
    max_bytes: int = 5_000_000
    concurrency: int = 8
    user_agent: str = USER_AGENT


def user_agent(public_url: str | None) -> str:
    """Our User-Agent, naming the list's site when there is one (feed owners see who reads)."""
    return USER_AGENT if not public_url else f"{USER_AGENT[:-1]}; +{public_url})"


@dataclass(frozen=True, slots=True)
class CollectConfig:
    """What the collect step needs to know: the sources, the zone naive dates in article
    files are read in, how feeds are fetched, how far back a new feed's first run looks,
    and after how many consecutive failures a feed is flagged."""

    sources: tuple[SourceSpec, ...]
    zone: tzinfo
    limits: FetchLimits
    new_source_window: timedelta
    failure_alert: int
