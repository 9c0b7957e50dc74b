"""An edition as files a person can open: the message's HTML and text parts, and the whole
message as ``.eml``, named after the edition's day.

A preview is a real message (merge fields, an unsubscribe link made with the list's key):
its files are owner-only (0600), and a folder it creates 0700, whatever the umask.
"""

from __future__ import annotations

import email
import email.policy
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True, slots=True)
class PreviewFiles:
    html: Path
    text: Path
    eml: Path
    warning: str | None  # the size check's warning (Gmail clips long messages), if any


def write_preview(out_dir: Path, day: date, message: bytes, warning: str | None) -> PreviewFiles:
    """Write ``<day>.html``, ``<day>.txt`` (the parts of ``message``, a multipart/alternative
    message in wire form) and ``<day>.eml`` into ``out_dir``, creating it.

    Raises:
        InputError: the folder cannot be written.
    """
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    parts = {
        part.get_content_type(): part.get_content().replace("\r\n", "\n")
        for part in parsed.iter_parts()  # type: ignore[attr-defined]
    }
    files = PreviewFiles(
        out_dir / f"{day}.html", out_dir / f"{day}.txt", out_dir / f"{day}.eml", warning
    )
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_owner_only(files.html, parts["text/html"].encode("utf-8"))
        _write_owner_only(files.text, parts["text/plain"].encode("utf-8"))
        _write_owner_only(files.eml, message)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot write the preview: {exc.strerror}") from None
    return files


def _write_owner_only(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (replacing it), mode 0600 whatever the umask or the mode
    an earlier file had.

    Raises:
        OSError: the file cannot be written.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data)
    finally:
        os.close(fd)
