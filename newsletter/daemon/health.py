"""The daemon's health: what its last run did, when the next one is, its last error; served
as JSON on ``GET /healthz`` by the daemon's aiohttp app.

``add_health_routes(app, state)`` only registers the route, so the same app can carry other
endpoints (the unsubscribe endpoint) in the same process and event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

HEALTH_KEY = web.AppKey("newsletter_health", object)


@dataclass
class RunRecord:
    """One run of the scheduled job, as /healthz and the log report it."""

    day: str  # the edition's date, YYYY-MM-DD
    started: datetime
    finished: datetime
    outcome: str  # sent | incomplete | stopped | nothing | waiting | locked | error
    summary: dict[str, Any] | None = None  # report.summary_json's fields
    error: str | None = None


@dataclass
class HealthState:
    """The daemon's state for /healthz; the daemon updates it, the endpoint reads it."""

    started: datetime
    schedule: str
    timezone: str
    next_send: Callable[[], datetime | None] = lambda: None
    next_collect: Callable[[], datetime | None] = lambda: None
    next_bounces: Callable[[], datetime | None] = lambda: None  # reading the bounce mailbox
    running: bool = False
    last_run: RunRecord | None = None
    last_error: tuple[datetime, str] | None = None
    waiting: dict[str, str] | None = None  # the edition waiting for approval: day, reason, since

    def record(self, run: RunRecord) -> None:
        self.last_run = run
        if run.error is not None:
            self.last_error = (run.finished, run.error)

    def error(self, when: datetime, message: str) -> None:
        """A problem outside a send run (a failed collection): reported, not fatal."""
        self.last_error = (when, message)

    @property
    def healthy(self) -> bool:
        """Unhealthy while the last send run ended in an error (config, relay, template)."""
        return self.last_run is None or self.last_run.outcome != "error"

    def snapshot(self) -> dict[str, Any]:
        run = self.last_run
        return {
            "status": "ok" if self.healthy else "failing",
            "started": _iso(self.started),
            "schedule": self.schedule,
            "timezone": self.timezone,
            "running": self.running,
            "last_run": None
            if run is None
            else {
                "day": run.day,
                "started": _iso(run.started),
                "finished": _iso(run.finished),
                "outcome": run.outcome,
                "summary": run.summary,
                "error": run.error,
            },
            "waiting": self.waiting,
            "next_run": _iso(self.next_send()),
            "next_collect": _iso(self.next_collect()),
            "next_bounces": _iso(self.next_bounces()),
            "last_error": None
            if self.last_error is None
            else {"time": _iso(self.last_error[0]), "message": self.last_error[1]},
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def add_health_routes(app: web.Application, state: HealthState) -> None:
    """Register ``GET /healthz`` on ``app``: 200 with the state as JSON when healthy, 503
    with the same body when the last run failed."""
    app[HEALTH_KEY] = state
    app.router.add_get("/healthz", _healthz)


async def _healthz(request: web.Request) -> web.Response:
    state = request.app[HEALTH_KEY]
    assert isinstance(state, HealthState)
    return web.json_response(state.snapshot(), status=200 if state.healthy else 503)


async def start_http(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on host:port in the running loop; the caller cleans the runner up.

    Raises:
        OSError: the address cannot be bound (in use, not local).
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
