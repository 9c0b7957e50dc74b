"""The daemon (``newsletter serve``): APScheduler runs the daily job on the ``schedule``
setting, in the ``timezone`` setting, next to a small HTTP app (``/healthz``). The times
are ``settings.cron``'s (cron's meaning, daylight-saving changes included); the start-up
catch-up asks the same crontab for the last time that has passed.

The scheduled job is ``job.send_edition``, the function ``newsletter send`` runs from
cron, under the same lock. The database decides what is owed, never the process's memory:

- a scheduled run that finished (not stopped by a signal) records ``scheduler.done.<day>``
  in the store's metadata; a later fire for the same day, or a restart, does nothing more;
- on start, if the last scheduled time has passed and its day is not recorded done, the run
  is made up when it is less than ``late_grace`` late, else the day is logged as skipped;
- even when run again, ``send_edition`` resumes the day's frozen edition and sends only to
  subscribers the ledger does not record as sent: nobody gets the same edition twice.

SIGTERM/SIGINT set the job's stop event (in-flight messages finish and are recorded), the
daemon waits a bounded time for the job, then shuts the scheduler down: in that order,
because ``AsyncIOScheduler.shutdown()`` cancels running coroutine jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from ..delivery.summary import summary_json, summary_line
from ..edition.approval import REQUIRED
from ..errors import LockedError, NewsletterError
from ..job import collect_locked, send_edition
from ..models import RunSummary
from ..settings import Settings
from ..settings.cron import Crontab, next_runs, parse_schedule, previous_run
from ..settings.values import delivered_to
from ..store.database import Store
from .bounces import BounceJob
from .health import HealthState, RunRecord, add_health_routes, start_http
from .proofs import WAIT_POLL, last_decision, proof_if_due
from .trigger import CrontabTrigger, LeadTrigger

log = logging.getLogger("newsletter")
LOOKBACK = timedelta(days=8)  # far enough to find a weekly schedule's last run


def done_key(day: date | str) -> str:
    """The metadata key recording that a scheduled run finished ``day``'s edition."""
    return f"scheduler.done.{day}"


@dataclass(frozen=True)
class Missed:
    """The last scheduled run before the daemon started, not recorded as done."""

    day: date
    scheduled: datetime
    late: timedelta
    within_grace: bool
    done: bool  # a scheduled run finished that day: nothing to make up


def missed_run(
    crontab: Crontab, now: datetime, grace: timedelta, is_done: Callable[[date], bool]
) -> Missed | None:
    """The last fire time at or before ``now`` and whether a start at ``now`` must make it
    up (its day, in the crontab's zone, not done); None when the schedule never fired."""
    last = previous_run(crontab, now, LOOKBACK)
    if last is None:
        return None
    day = last.astimezone(crontab.zone).date()
    # as instants: two datetimes in one zone subtract by wall clock, an hour off across
    # a daylight-saving change
    late = now.astimezone(UTC) - last.astimezone(UTC)
    return Missed(day, last, late, late <= grace, is_done(day))


class Daemon:
    """The scheduler, its jobs and their health; run it with ``await daemon.run(...)``."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        """Raises: ConfigError never (the settings validated the expressions)."""
        self.settings = settings
        self.clock = clock
        self.stop = asyncio.Event()
        self.trigger = CrontabTrigger(parse_schedule(settings.schedule, settings.zone))
        self.collect_trigger = (
            CrontabTrigger(parse_schedule(settings.collect_schedule, settings.zone))
            if settings.collect_schedule
            else None
        )
        self.tasks: set[asyncio.Task[None]] = set()
        self.watching: set[date] = set()  # days whose edition waits for a decision
        self.health = HealthState(clock(), settings.schedule, settings.timezone)
        self.bounces = BounceJob(settings, clock, self.health)  # on bounce_schedule
        grace = max(1, int(settings.late_grace.total_seconds()))
        self.scheduler = AsyncIOScheduler(
            timezone=settings.zone,
            # a fire delayed by a busy loop still runs within late_grace; fires missed
            # while a run goes on are merged into one
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        )

    # --- the jobs ---
    async def scheduled_send(self) -> None:
        """The send job as APScheduler calls it: the day of the fire that is due."""
        now = self.clock()
        fire = previous_run(
            self.trigger.crontab, now, self.settings.late_grace + timedelta(minutes=1)
        )
        day = (fire or now).astimezone(self.settings.zone).date()
        await self.spawn(self.send_day(day))

    async def spawn(self, job: Coroutine[Any, Any, None]) -> None:
        """Run ``job`` as a task the shutdown can wait for; shielded, because APScheduler's
        shutdown cancels the coroutine it called."""
        task = self.start_task(job)
        if task is not None:
            await asyncio.shield(task)

    def start_task(self, job: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        """``job`` as a task kept in ``self.tasks`` (a reference: the loop keeps none)
        until it ends; None once stopping, when no new job may start."""
        if self.stop.is_set():
            job.close()
            return None
        task = asyncio.create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def send_day(self, day: date) -> None:
        """Send ``day``'s edition unless a scheduled run already finished it; record the
        outcome for /healthz and the log. Never raises: a failed run must not stop the
        daemon (the next scheduled run tries again)."""
        started = self.clock()
        try:
            if self.is_done(day):
                log.info("edition %s: already sent by a scheduled run; nothing to do", day)
                return
            self.health.running = True
            await self.bounces.idle()  # a bounce run holding the lock ends first
            summary = await send_edition(self.settings, started, self.clock, self.stop, day)
            run = RunRecord(str(day), started, self.clock(), outcome(summary), fields(summary))
            self.health.waiting = None
            if summary.waiting:  # the approval gate: not done, tried again on a decision
                self.wait_for_decision(day, summary.waiting, started)
            elif not summary.stopped:  # stopped by a signal: a restart resumes the day
                self.mark_done(run)
        except LockedError as exc:  # not an error of the daemon: /healthz stays 200
            self.report(RunRecord(str(day), started, self.clock(), "locked"), note=exc.message)
        except NewsletterError as exc:
            self.report(RunRecord(str(day), started, self.clock(), "error", error=str(exc)))
        except Exception as exc:  # a bug must not kill the daemon; it is logged in full
            log.exception("edition %s: the run failed", day)
            self.report(RunRecord(str(day), started, self.clock(), "error", error=repr(exc)))
        else:
            self.report(run, summary)
        finally:
            self.health.running = False

    # --- the approval gate (daemon.proofs) ---
    def wait_for_decision(self, day: date, reason: str, since: datetime) -> None:
        """Show ``day``'s edition as waiting on /healthz, and send it as soon as someone
        decides, for ``late_grace`` from ``since``; later, the next scheduled run tries."""
        self.health.waiting = {"day": str(day), "reason": reason, "since": since.isoformat()}
        if day not in self.watching:
            self.watching.add(day)
            self.start_task(self.watch(day, since + self.settings.late_grace))

    async def watch(self, day: date, until: datetime) -> None:
        try:
            seen = await asyncio.to_thread(last_decision, self.settings)
            while self.clock() < until and not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), WAIT_POLL)
                if await asyncio.to_thread(last_decision, self.settings) != seen:
                    break
            else:
                if not self.stop.is_set():
                    log.warning(
                        "edition %s: no decision within late_grace; once approved, "
                        "'newsletter send --date %s' sends it", day, day,
                    )  # fmt: skip
                return
        finally:
            self.watching.discard(day)
        await self.send_day(day)

    async def scheduled_proof(self) -> None:
        """The proof, ``proof_lead`` before the send: of the day that send will mail."""
        send = self.trigger.crontab.next_at_or_after(self.clock())
        if send is not None:
            await self.spawn(self.proof_day(send.astimezone(self.settings.zone).date()))

    async def proof_day(self, day: date) -> None:
        try:
            await self.bounces.idle()  # a proof due during a bounce run waits for it
            log.info("%s", await proof_if_due(self.settings, day, self.clock()))
        except LockedError:
            log.info("proof of edition %s skipped: another run holds the lock", day)
        except NewsletterError as exc:
            log.warning("proof of edition %s not sent: %s", day, exc)
            self.health.error(self.clock(), f"proof: {exc}")

    async def scheduled_bounces(self) -> None:
        await self.spawn(self.bounces.run(lambda: self.health.running))

    async def scheduled_collect(self) -> None:
        await self.spawn(self.collect())

    async def collect(self) -> None:
        """Collect new articles under the lock; a held lock or a failure is logged only."""
        try:
            await self.bounces.idle()  # a collection due during a bounce run waits for it
            articles = await collect_locked(self.settings, self.clock())
        except LockedError:
            log.info("collection skipped: another run holds the lock")
        except NewsletterError as exc:
            log.warning("collection failed: %s", exc)
            self.health.error(self.clock(), f"collection: {exc}")
        else:
            log.info("collection: %d new articles stored", len(articles))

    # --- the database's word on what is done ---
    def is_done(self, day: date) -> bool:
        return self.done_run(day) is not None

    def done_run(self, day: date) -> RunRecord | None:
        """The scheduled run recorded as having finished ``day``'s edition, if any."""
        with Store(self.settings.database) as store:
            value = store.meta(done_key(day))
        if value is None:
            return None
        record = json.loads(value)
        return RunRecord(
            str(day),
            datetime.fromisoformat(record["started"]),
            datetime.fromisoformat(record["finished"]),
            record["outcome"],
            record["summary"],
        )

    def mark_done(self, run: RunRecord) -> None:
        record = {
            "started": run.started.isoformat(),
            "finished": run.finished.isoformat(),
            "outcome": run.outcome,
            "summary": run.summary,
        }
        with Store(self.settings.database) as store:
            store.set_meta(done_key(run.day), json.dumps(record))

    # --- reporting ---
    def report(self, run: RunRecord, summary: RunSummary | None = None, note: str = "") -> None:
        """One log line per run: the summary line (text) or the summary's fields (JSON)."""
        self.health.record(run)
        if summary is not None:
            line = summary_line(summary, *delivered_to(self.settings))
        else:
            line = f"not run: {run.error or note}"
        extra = {"event": "run", "day": run.day, "outcome": run.outcome, **(run.summary or {})}
        level = {"error": logging.ERROR, "locked": logging.WARNING}.get(run.outcome, logging.INFO)
        log.log(level, "run %s: %s", run.day, line, extra={"fields": extra})

    # --- life cycle ---
    async def run(self, host: str, port: int, app: web.Application | None = None) -> int:
        """Serve until SIGTERM/SIGINT; return the exit code (0 after a graceful stop).

        Raises:
            OSError: host:port cannot be bound.
        """
        app = app or web.Application()
        add_health_routes(app, self.health)
        runner = await start_http(app, host, port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        try:
            self.start_scheduler()
            log.info("listening on http://%s:%d (GET /healthz)", host, port)
            self.announce()
            self.catch_up()
            await self.stop.wait()
            return await self.shut_down()
        finally:
            await runner.cleanup()

    def start_scheduler(self) -> None:
        send = self.scheduler.add_job(self.scheduled_send, self.trigger, id="send")
        self.health.next_send = lambda: send.next_run_time
        if self.settings.approval == REQUIRED and self.settings.proof_to:
            lead = LeadTrigger(self.trigger.crontab, self.settings.proof_lead)
            self.scheduler.add_job(self.scheduled_proof, lead, id="proof")
        if self.collect_trigger is not None:
            collect = self.scheduler.add_job(
                self.scheduled_collect, self.collect_trigger, id="collect"
            )
            self.health.next_collect = lambda: collect.next_run_time
        if self.bounces.trigger is not None:
            bounces = self.scheduler.add_job(
                self.scheduled_bounces, self.bounces.trigger, id="bounces"
            )
            self.health.next_bounces = lambda: bounces.next_run_time
        self.scheduler.start()

    def announce(self) -> None:
        """Log the schedule and its next run times, so a user sees what will happen."""
        now = self.clock()
        runs = ", ".join(t.isoformat() for t in next_runs(self.trigger.crontab, now, 3))
        log.info(
            "schedule %r in %s: next runs %s",
            self.settings.schedule, self.settings.timezone, runs,
            extra={"fields": {"event": "schedule", "next_runs": runs.split(", ")}},
        )  # fmt: skip
        if self.collect_trigger is not None:
            first = next_runs(self.collect_trigger.crontab, now, 1)
            log.info(
                "collect schedule %r: next collection %s",
                self.settings.collect_schedule,
                first[0].isoformat() if first else "never",
            )
        self.bounces.announce()

    def catch_up(self) -> None:
        """Make up the last scheduled run if it was missed by less than ``late_grace``."""
        now = self.clock()
        missed = missed_run(self.trigger.crontab, now, self.settings.late_grace, self.is_done)
        if missed is None:
            return
        late = _minutes(missed.late)
        if missed.done:
            self.health.last_run = self.done_run(missed.day)  # /healthz survives restarts
            log.info(
                "edition %s: already sent by a scheduled run (the database says so); "
                "nothing to make up", missed.day,
            )  # fmt: skip
        elif missed.within_grace:
            log.info(
                "edition %s: the run scheduled at %s was missed by %s: running it now",
                missed.day, missed.scheduled.isoformat(), late,
            )  # fmt: skip
            self.start_task(self.send_day(missed.day))
        else:
            log.warning(
                "edition %s: skipped: the run scheduled at %s was missed by %s, more than "
                "late_grace (%s); 'newsletter send --date %s' sends it anyway",
                missed.day, missed.scheduled.isoformat(), late,
                _minutes(self.settings.late_grace), missed.day,
            )  # fmt: skip

    async def shut_down(self) -> int:
        """After a signal: let the running job finish its in-flight messages (bounded),
        then stop the scheduler. Returns 0, or 1 when a job had to be cancelled."""
        bound = max(self.settings.smtp_timeout, self.settings.feed_timeout) + 10
        code = 0
        if self.tasks:
            log.info("stopping: waiting for the running job (at most %.0f s)", bound)
            _, pending = await asyncio.wait(set(self.tasks), timeout=bound)
            for task in pending:
                task.cancel()
                code = 1
            if pending:
                log.error("the running job did not stop within %.0f s and was cancelled", bound)
        self.scheduler.shutdown(wait=False)
        log.info("stopped")
        return code


def outcome(summary: RunSummary) -> str:
    if summary.edition_key is None:
        return "nothing"
    if summary.waiting:
        return "waiting"
    if summary.stopped:
        return "stopped"
    return "incomplete" if summary.incomplete else "sent"


def fields(summary: RunSummary) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(summary_json(summary))["summary"]
    return parsed


def _minutes(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return f"{int(span.total_seconds())} s"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
