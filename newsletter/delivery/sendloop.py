"""The send loop over connections.

Transports (the Maildir ``outbox``, the SMTP relay in ``relay``, which the job hands in)
answer every message with an ``Outcome``; they know nothing about the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from ..errors import (
    ExitCode,
    MessageTooLarge,
    NewsletterError,
    RelayBusy,
    RelayError,
)  # fmt: skip
from ..models import DeliveryStatus, Job, Outcome
from .throttle import RateLimiter, backoff

log = logging.getLogger("newsletter")


class Connection(Protocol):
    async def send(self, job: Job) -> Outcome: ...
    async def close(self) -> None: ...


class Transport(Protocol):
    description: str

    async def connect(self) -> Connection:
        """Open one connection.

        Raises:
            RelayError: the relay is unreachable or refuses TLS or authentication.
        """
        ...


# --- the send loop over several connections -----------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    """How hard to push: connections, retries, pauses. From the settings."""

    connections: int = 4
    messages_per_connection: int = 1000  # then reconnect (many relays cap it)
    max_attempts: int = 3  # per message in one run; then it is deferred to the next run
    backoff_unit: float = 1.0  # seconds before the first retry; doubles each time
    backoff_cap: float = 60.0
    pause_after_failures: int = 25  # consecutive failed attempts that pause the run
    max_rate_wait: float = 300.0  # a rate window further away than this ends the run


class Hooks(Protocol):
    """The ledger side of the loop (``delivery.sender.Sender``)."""

    def on_start(self, job: Job) -> None:
        """Called (and committed) right before the message is handed over."""

    def on_done(self, job: Job, outcome: Outcome, final: bool) -> None:
        """Called with every answer; ``final`` when the message is not retried in this run."""


class Stop(Exception):
    """Raised inside the loop to stop taking messages."""


class SendLoop:
    """Submits jobs over several reused connections, within rate limits, with retries.

    The limiter belongs to this loop's one relay: its throttling slows this relay's
    connections only. ``clock`` is a monotonic clock and ``rng`` a random source (both
    passed in, so tests can drive them); the asyncio loop does the waiting.
    """

    def __init__(
        self,
        transport: Transport,
        policy: Policy,
        limiter: RateLimiter,
        hooks: Hooks,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.transport, self.policy, self.limiter, self.hooks = transport, policy, limiter, hooks
        self.clock, self.rng = clock, rng
        self.stop_reason: str | None = None
        self.failure: BaseException | None = None  # what stopped the run, if it failed
        self._failures = 0
        self._accepted: deque[float] = deque(maxlen=200)  # recent send times, for the rate
        self._open = 0  # connections open now, or being opened
        self._live = 0  # connections open now
        self._pool = policy.connections  # connections allowed: fewer when the relay says so
        self._throttled: tuple[float, int] | None = None  # first throttling: (time, sent)
        self._sent = 0
        self._last_sent = 0.0

    def stop(self, reason: str) -> None:
        """Take no new message; messages in flight finish and are recorded."""
        if self.stop_reason is None:
            self.stop_reason = reason

    async def run(self, jobs: AsyncIterator[Job]) -> None:
        """Send every job until done or stopped.

        Any exception in a worker (a connection, a hook: the ledger) or in ``jobs`` stops
        the run like a signal does: no new message starts, the messages in flight finish
        and are recorded, and ``run`` returns with ``failure`` set to the first such
        exception and ``stop_reason`` saying it. It never waits on a worker that is gone.

        Raises:
            RelayError: the first connection cannot be opened; nothing was submitted.
            MessageTooLarge: the relay's SIZE (RFC 1870) is below the first message;
                nothing was submitted.
        """
        first = await self.transport.connect()
        self._open = self._live = 1
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=self.policy.connections * 2)
        jobs = await self._check_size(first, jobs)
        conns: list[Connection | None] = [first] + [None] * (self.policy.connections - 1)
        workers = [asyncio.create_task(self._worker(queue, conn)) for conn in conns]
        try:
            async for job in jobs:
                if self.stop_reason is not None:
                    break
                await queue.put(job)
        except Exception as exc:
            self.fail(exc)
        finally:
            for _ in workers:  # workers outlive any failure, so the queue always drains
                await queue.put(None)
            await asyncio.gather(*workers)

    async def _check_size(self, conn: Connection, jobs: AsyncIterator[Job]) -> AsyncIterator[Job]:
        """``jobs`` again, once the first message is known to fit the relay's SIZE.

        Raises:
            MessageTooLarge: it does not; the connection is closed, nothing was sent.
        """
        limit = getattr(conn, "size_limit", None)
        if not limit:
            return jobs
        first = await anext(jobs, None)
        if first is not None and len(first.data) > limit:
            await self._close(conn)
            raise MessageTooLarge(
                f"{self.transport.description} takes messages up to {limit:,} bytes (SIZE "
                f"in its EHLO reply) and this edition's messages are {len(first.data):,} "
                "bytes: nothing was sent",
                "cut the edition (max_articles, fewer or smaller sections) or raise the "
                "relay's limit (Postfix: message_size_limit)",
            )
        return _chain(first, jobs)

    def fail(self, exc: BaseException) -> None:
        """Stop the run because of ``exc`` (the first one is kept in ``failure``)."""
        if self.failure is None:
            self.failure = exc
        self.stop(describe(exc))

    async def _worker(self, queue: asyncio.Queue[Job | None], conn: Connection | None) -> None:
        used = 0
        while (job := await queue.get()) is not None:
            if self.stop_reason is not None:
                continue  # drain: never started, so the next run sends it
            if conn is not None and used >= self.policy.messages_per_connection:
                await self._close(conn)
                conn, used = None, 0
            try:
                conn = await self._submit(job, conn)
            except Exception as exc:  # the connection was closed; go on draining
                self.fail(exc)
                conn = None
            used += 1
        if conn is not None:
            await self._close(conn)

    async def _submit(self, job: Job, conn: Connection | None) -> Connection | None:
        """Try one message up to max_attempts times; return the connection still usable.

        The message's last word is recorded as final exactly once: the relay's answer; the
        last answer when the run stops between two attempts; in doubt (``pending``) when
        the connection was lost after the hand-over. A reply about this recipient only
        (a busy mailbox) is final at once: the next run retries it, after those never
        tried. A throttling reply does not use up an attempt: the message waits for the
        slower rate and goes again (the pause still counts it).

        Raises:
            Exception: what a hook or the connection raised; the connection is closed and
                the message recorded where possible.
        """
        answer: Outcome | None = None  # recorded but not final: settled if we leave early
        attempt = 0
        try:
            while True:
                if answer is not None and not answer.throttle:
                    await asyncio.sleep(self._backoff(attempt))
                conn, outcome, ticket = await self._prepare(conn)
                if outcome is None:
                    self.hooks.on_start(job)  # raises: not handed over this time
                    answer = None  # handed over: its answer replaces the one before
                    outcome = await self._hand_over(job, conn)  # type: ignore[arg-type]
                if outcome.dropped and conn is not None:
                    await self._close(conn)
                    conn = None
                attempt += not outcome.throttle
                final = (
                    outcome.status is not DeliveryStatus.DEFERRED
                    or outcome.recipient_only
                    or attempt >= self.policy.max_attempts
                    or self.stop_reason is not None
                )
                answer = None if final else outcome
                self._account(outcome, ticket)
                self.hooks.on_done(job, outcome, final)
                if final:
                    return conn
        except Stop:
            pass
        except BaseException:
            if conn is not None:
                await self._close(conn)
            raise
        finally:
            if answer is not None:  # left between two attempts: that answer is the last
                self.hooks.on_done(job, answer, True)
        return conn

    async def _prepare(
        self, conn: Connection | None
    ) -> tuple[Connection | None, Outcome | None, int]:
        """A connection and a rate slot: (connection, None, ticket) when the message can
        go, or (connection, a deferral, ticket) when the relay cannot be reached.

        Raises:
            Stop: the run is stopping, or the next rate slot is too far away.
        """
        ticket = 0
        try:
            conn = conn or await self._connect()
            ticket = await self._wait_for_slot()
        except RelayError as exc:  # RelayBusy (421 at the greeting), ECONNREFUSED: throttling
            if exc.exit_code != ExitCode.DELIVERY_INCOMPLETE:  # credentials: hopeless
                self.stop(str(exc))
            busy = isinstance(exc, RelayBusy) or "refused" in exc.message.lower()
            code = 421 if isinstance(exc, RelayBusy) else None
            outcome = Outcome(DeliveryStatus.DEFERRED, code, str(exc), dropped=True, throttle=busy)
            return conn, outcome, ticket or self.limiter.record(self.clock())
        return conn, None, ticket

    async def _connect(self) -> Connection:
        """A new connection, within the pool the relay allows.

        A 421 at the greeting while other connections are open ("too many connections
        from ...") shrinks the pool to those, for the rest of the run, and says so.

        Raises:
            Stop: the run is stopping.
            RelayError, RelayBusy: the relay cannot be reached, or refused.
        """
        while self._open >= self._pool:  # wait for a connection to close
            if self.stop_reason is not None:
                raise Stop
            await asyncio.sleep(0.05)
        self._open += 1
        try:
            conn = await self.transport.connect()
        except RelayBusy as exc:
            self._open -= 1
            if self._live == 0:
                raise
            if self._pool > self._live:
                self._pool = self._live
                log.warning(
                    "%s; using %d connection%s instead of smtp_connections = %d",
                    exc.message, self._pool, "s" * (self._pool != 1), self.policy.connections,
                )  # fmt: skip
            return await self._connect()
        except BaseException:
            self._open -= 1
            raise
        self._live += 1
        return conn

    async def _close(self, conn: Connection) -> None:
        self._open -= 1
        self._live -= 1
        await _close_quietly(conn)

    async def _hand_over(self, job: Job, conn: Connection) -> Outcome:
        """Send the message on ``conn``.

        Raises:
            Exception: what the connection raised; the message is recorded in doubt first
                (handed over, answer unknown: the next run sends it again).
        """
        try:
            return await conn.send(job)
        except Exception as exc:
            doubt = Outcome(DeliveryStatus.PENDING, None, f"in doubt: {describe(exc)}")
            with contextlib.suppress(Exception):
                self.hooks.on_done(job, doubt, True)
            raise

    async def _wait_for_slot(self) -> int:
        """Wait until every rate limit allows one more message, then take the slot;
        return its ticket.

        Raises:
            Stop: the run is stopping, or the next slot is too far away.
        """
        while True:
            if self.stop_reason is not None:
                raise Stop
            now = self.clock()
            wait = self.limiter.delay(now)
            if wait <= 0:
                return self.limiter.record(now)
            if wait > self.policy.max_rate_wait:
                self.stop(f"rate limit reached; the next message could go in {wait:.0f} s")
                raise Stop
            await asyncio.sleep(min(wait, 1.0))  # wake up to notice a stop

    def _account(self, outcome: Outcome, ticket: int) -> None:
        """Count an answer toward the pause and the rate: successes reset the pause's
        count; a reply about one recipient counts toward neither (RFC 3463 X.1.x, X.2.x:
        the relay is fine); the relay's throttling also slows the rate down."""
        now = self.clock()
        if outcome.status is DeliveryStatus.SENT:
            self._failures = 0
            self._accepted.append(now)
            self._sent += 1
            self._last_sent = now
            return
        if outcome.recipient_only:
            return
        self._failures += 1
        if outcome.throttle:
            if self._throttled is None:
                self._throttled = (now, self._sent)
            self.limiter.slow_down(now, self._recent_rate(), ticket)
        if self._failures >= self.policy.pause_after_failures:
            last = f"{outcome.code or ''} {outcome.text}".strip()
            self.stop(f"paused after {self._failures} consecutive failures (last: {last})")

    def throttling(self) -> str:
        """How the relay throttled this run and the rate it allowed meanwhile (messages
        accepted from its first throttling reply to the last acceptance); "" if it did
        not."""
        if self._throttled is None:
            return ""
        since, sent_before = self._throttled
        sent = self._sent - sent_before
        span = self._last_sent - since
        said = f"the relay throttled the run ({self.limiter.decreases} slow-downs)"
        if sent < 2 or span <= 0:
            return said
        rate = sent / span
        return f"{said}; it allowed {rate:.2g}/s ({rate * 60:.0f}/min)"

    def _recent_rate(self) -> float:
        if len(self._accepted) < 2:
            return 0.0
        span = self._accepted[-1] - self._accepted[0]
        return (len(self._accepted) - 1) / span if span > 0 else 0.0

    def _backoff(self, attempt: int) -> float:
        p = self.policy
        return backoff(attempt, p.backoff_unit, p.backoff_cap, self.rng.random())


async def _chain(first: Job | None, rest: AsyncIterator[Job]) -> AsyncIterator[Job]:
    if first is not None:
        yield first
    async for job in rest:
        yield job


def describe(exc: BaseException) -> str:
    """An exception as a stop reason: our errors by their message (``StoreError``: "...:
    cannot write the database: No space left on device"), anything else by its type."""
    if isinstance(exc, NewsletterError):
        return exc.message
    return f"stopped by an unexpected error: {type(exc).__name__}: {exc}"


async def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(TimeoutError, OSError):  # close() itself never raises
        await asyncio.wait_for(conn.close(), timeout=5)
