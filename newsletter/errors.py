"""One exception root for everything a user can cause or fix.

Each error carries the exit code the CLI returns and a hint saying what to do. Stages
wrap library exceptions at their boundary (``raise ConfigError(...) from exc``) so the CLI
never shows a traceback for a user mistake.
"""

from __future__ import annotations

import re
from enum import IntEnum

# Control characters, and the invisible ones that reorder or hide text (zero-width,
# bidirectional overrides and isolates, the byte-order mark).
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def visible(text: str) -> str:
    """``text`` for a terminal: every control character (and bidirectional override, which
    reorders what follows it) as a visible escape like ``\\x1b``, so feed content can
    neither move the cursor, recolour the screen nor hide what is printed after it. Every
    message quoting outside data goes through it before it reaches stderr."""
    return _INVISIBLE.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class ExitCode(IntEnum):
    """The CLI's exit codes; documented in the README and stable."""

    OK = 0
    DELIVERY_INCOMPLETE = 1  # some deliveries failed or were deferred
    USAGE = 2  # usage, configuration or input error; nothing was sent
    LOCKED = 3  # another run holds the lock


class NewsletterError(Exception):
    """Root of the project's errors: a message for the user, a hint and an exit code."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable whatever a subclass's __init__ takes: an error raised in a child
        # process (edition/freeze.py) crosses back to the parent intact, hint and fields included.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(
    cls: type[NewsletterError], args: tuple[object, ...], state: dict[str, object]
) -> NewsletterError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(NewsletterError):
    """The configuration (newsletter.toml, NEWSLETTER_* variables, .env) is invalid."""


class InputError(NewsletterError):
    """An input file (article, subscriber CSV, template) cannot be used."""


class ParseError(InputError, ValueError):
    """An article file or feed cannot be parsed; ``where`` names the file (and line)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class TemplateError(InputError):
    """A template failed to render; the message names the template and line."""


class EditionTooLarge(InputError):
    """The edition's HTML is above the size at which Gmail clips messages."""


class LockedError(NewsletterError):
    """Another run holds the lock."""

    exit_code = ExitCode.LOCKED


class RelayError(NewsletterError, ConnectionError):
    """The SMTP relay cannot be used at all (unreachable, TLS or authentication refused).

    Raised before anything is recorded, so a rerun starts from the same state.
    """

    exit_code = ExitCode.DELIVERY_INCOMPLETE


class RelayBusy(RelayError):
    """The relay refused a connection with a 421 reply (too many connections, too busy):
    a throttling signal, not an outage."""


class MessageTooLarge(InputError):
    """The relay's advertised SIZE limit (RFC 1870) is below the message: nothing sent."""


class RelayAuthError(RelayError):
    """The relay refused the configured credentials: a configuration error."""

    exit_code = ExitCode.USAGE


class StoreError(NewsletterError):
    """The database (or a file beside it: journal, lock) cannot be written: read-only, disk
    full, I/O error, held by another program. ``reason`` is the short cause
    ("No space left on device").

    Raised before anything is sent it exits 2; during a send the run stops instead (the
    summary says why) and exits 1.
    """

    def __init__(self, message: str, hint: str | None = None, reason: str = "") -> None:
        super().__init__(message, hint)
        self.reason = reason


class MailboxError(NewsletterError, ConnectionError):
    """The bounce mailbox cannot be reached, read or written (host down, login refused, a
    folder missing): nothing was changed, the next run tries again."""

    exit_code = ExitCode.DELIVERY_INCOMPLETE
