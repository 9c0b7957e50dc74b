"""The send loop over connections, and the local Maildir outbox.

Transports (this Maildir one, the SMTP relay in ``relay``, which the job hands in) answer
every message with an ``Outcome``; they know nothing about the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import os
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import ConfigError, ExitCode, NewsletterError, RelayError
from ..models import DeliveryStatus, Job, Outcome
from .throttle import RateLimiter, backoff


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


# --- the local outbox -----------------------------------------------------------------


class MaildirTransport:
    """Writes each message as a file into a Maildir folder (the default without SMTP).

    The messages hold subscribers' addresses and their unsubscribe links: the folders are
    created owner-only (0700, as ``mailbox`` makes them) and each message is made 0600,
    whatever the umask.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"{path}/ (Maildir)"

    async def connect(self) -> Connection:
        try:
            box = mailbox.Maildir(self.path, create=True)
            # mailbox makes tmp/, new/ and cur/ only along with a folder that is missing:
            # an existing empty folder (made by hand, a mount point) needs them too.
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot create the outbox: {exc.strerror}") from None
        return _MaildirConnection(box, self.path / "new")


class _MaildirConnection:
    def __init__(self, box: mailbox.Maildir, new: Path) -> None:
        self.box = box
        self.new = new  # where mailbox puts a message added without flags

    async def send(self, job: Job) -> Outcome:
        try:
            key = self.box.add(job.data)
        except OSError as exc:
            return Outcome(DeliveryStatus.DEFERRED, None, f"cannot write to the outbox: {exc}")
        with contextlib.suppress(OSError):  # in a 0700 folder all the same
            os.chmod(self.new / key, 0o600)
        return Outcome(DeliveryStatus.SENT, 250, "written to the outbox")

    async def close(self) -> None:
        return None


# --- the send loop over several connections -----------------------------------------

# Replies that mean "slow down" rather than "this recipient has a problem".
THROTTLE_CODES = frozenset({421, 450, 451, 452, 454})


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

    ``clock`` is a monotonic clock and ``rng`` a random source (both passed in, so tests
    can drive them); the asyncio loop does the waiting.
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
        """
        first = await self.transport.connect()
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=self.policy.connections * 2)
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
                await _close_quietly(conn)
                conn, used = None, 0
            try:
                conn = await self._submit(job, conn)
            except Exception as exc:  # the connection was closed; go on draining
                self.fail(exc)
                conn = None
            used += 1
        if conn is not None:
            await _close_quietly(conn)

    async def _submit(self, job: Job, conn: Connection | None) -> Connection | None:
        """Try one message up to max_attempts times; return the connection still usable.

        The message's last word is recorded as final exactly once: the relay's answer; the
        last answer when the run stops between two attempts; in doubt (``pending``) when
        the connection raised after the hand-over.

        Raises:
            Exception: what a hook or the connection raised; the connection is closed and
                the message recorded where possible.
        """
        answer: Outcome | None = None  # recorded but not final: settled if we leave early
        try:
            for attempt in range(1, self.policy.max_attempts + 1):
                if answer is not None:
                    await asyncio.sleep(self._backoff(attempt - 1))
                conn, outcome = await self._prepare(conn)
                if outcome is None:
                    self.hooks.on_start(job)  # raises: not handed over this time
                    answer = None  # handed over: its answer replaces the one before
                    outcome = await self._hand_over(job, conn)  # type: ignore[arg-type]
                if outcome.dropped and conn is not None:
                    await _close_quietly(conn)
                    conn = None
                final = (
                    outcome.status is not DeliveryStatus.DEFERRED
                    or attempt == self.policy.max_attempts
                    or self.stop_reason is not None
                )
                answer = None if final else outcome
                self._account(outcome)
                self.hooks.on_done(job, outcome, final)
                if final:
                    return conn
        except Stop:
            pass
        except BaseException:
            if conn is not None:
                await _close_quietly(conn)
            raise
        finally:
            if answer is not None:  # left between two attempts: that answer is the last
                self.hooks.on_done(job, answer, True)
        return conn

    async def _prepare(self, conn: Connection | None) -> tuple[Connection | None, Outcome | None]:
        """A connection and a rate slot: (connection, None) when the message can go, or
        (connection, a deferral) when the relay cannot be reached.

        Raises:
            Stop: the run is stopping, or the next rate slot is too far away.
        """
        try:
            conn = conn or await self.transport.connect()
            await self._wait_for_slot()
        except RelayError as exc:
            if exc.exit_code != ExitCode.DELIVERY_INCOMPLETE:  # credentials: hopeless
                self.stop(str(exc))
            return conn, Outcome(DeliveryStatus.DEFERRED, None, str(exc), dropped=True)
        return conn, None

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

    async def _wait_for_slot(self) -> None:
        """Wait until every rate limit allows one more message, then take the slot.

        Raises:
            Stop: the run is stopping, or the next slot is too far away.
        """
        while True:
            if self.stop_reason is not None:
                raise Stop
            now = self.clock()
            wait = self.limiter.delay(now)
            if wait <= 0:
                self.limiter.record(now)
                return
            if wait > self.policy.max_rate_wait:
                self.stop(f"rate limit reached; the next message could go in {wait:.0f} s")
                raise Stop
            await asyncio.sleep(min(wait, 1.0))  # wake up to notice a stop

    def _account(self, outcome: Outcome) -> None:
        if outcome.status is DeliveryStatus.SENT:
            self._failures = 0
            self._accepted.append(self.clock())
            self.limiter.speed_up()
            return
        self._failures += 1
        if outcome.code in THROTTLE_CODES:
            self.limiter.slow_down(self._recent_rate())
        if self._failures >= self.policy.pause_after_failures:
            last = f"{outcome.code or ''} {outcome.text}".strip()
            self.stop(f"paused after {self._failures} consecutive failures (last: {last})")

    def _recent_rate(self) -> float:
        if len(self._accepted) < 2:
            return 0.0
        span = self._accepted[-1] - self._accepted[0]
        return (len(self._accepted) - 1) / span if span > 0 else 0.0

    def _backoff(self, attempt: int) -> float:
        p = self.policy
        return backoff(attempt, p.backoff_unit, p.backoff_cap, self.rng.random())


def describe(exc: BaseException) -> str:
    """An exception as a stop reason: our errors by their message (``StoreError``: "...:
    cannot write the database: No space left on device"), anything else by its type."""
    if isinstance(exc, NewsletterError):
        return exc.message
    return f"stopped by an unexpected error: {type(exc).__name__}: {exc}"


async def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(TimeoutError, OSError):  # close() itself never raises
        await asyncio.wait_for(conn.close(), timeout=5)
