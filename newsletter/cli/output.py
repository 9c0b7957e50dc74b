"""What the command line shows while it works: log lines (text or JSON) and progress.

Problems go to stderr (cron mails them). Progress is a rich bar with rate and ETA on a
terminal; otherwise a plain line at most once a minute, so a short cron run prints only
its one-line summary.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress

from ..models import RunSummary

LOGGER = "newsletter"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(log_format: str, stream: TextIO = sys.stderr) -> None:
    """Route the package's log records to ``stream`` as text or JSON."""
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
        logger.setLevel(logging.INFO)
    else:
        handler.setFormatter(logging.Formatter("newsletter: %(message)s"))
        logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    logger.propagate = False


class ProgressView:
    """Turns the send's running counts into a progress bar or periodic progress lines."""

    def __init__(self, json_logs: bool, interval: float = 60.0) -> None:
        self.json_logs = json_logs
        self.interval = interval
        self.start = self.last = time.monotonic()
        self.bar: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> Callable[[RunSummary], None]:
        if sys.stderr.isatty() and not self.json_logs:
            from rich.progress import (  # only on a terminal: cron never pays for it
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )  # fmt: skip

            self.bar = Progress(
                TextColumn("sending"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.0f}/s"), TimeRemainingColumn(), transient=True,
            )  # fmt: skip
            self.bar.start()
        return self.update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, s: RunSummary) -> None:
        now = time.monotonic()
        done = s.sent + s.deferred + s.failed
        rate = done / max(1e-6, now - self.start)
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task("send", total=s.total, rate=0.0)
            seen = done + s.already_sent + s.skipped + s.invalid
            self.bar.update(self.task, completed=seen, rate=rate)
        elif now - self.last >= self.interval:  # cron: a line a minute at most
            self.last = now
            line = f"progress: {s.sent} sent, {s.deferred} deferred, {s.failed} failed"
            total = f" of about {s.total}" if s.total is not None else ""
            if self.json_logs:
                fields = {"sent": s.sent, "deferred": s.deferred, "failed": s.failed}
                logging.getLogger(LOGGER).info(line + total, extra={"fields": fields})
            else:
                print(f"{line}{total} ({rate:.0f}/s)", flush=True)
