"""An edition as files a person can open: the message's HTML and text parts, and the whole
message as ``.eml``, named after the edition's day."""

from __future__ import annotations

import email
import email.policy
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
        out_dir.mkdir(parents=True, exist_ok=True)
        files.html.write_text(parts["text/html"], encoding="utf-8")
        files.text.write_text(parts["text/plain"], encoding="utf-8")
        files.eml.write_bytes(message)
    except OSError as exc:
        raise InputError(f"{out_dir}: cannot write the preview: {exc.strerror}") from None
    return files
