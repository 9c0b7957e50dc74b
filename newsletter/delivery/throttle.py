"""Rate-limit and backoff arithmetic. Pure: every method takes the time as an argument.

A provider's limits are a messages-per-second rate and any number of rolling windows
("30/min", "500/day"). The relay's own throttling signals (421, 4.7.x, "too much mail",
refused connections: ``relay.outcome_for``) halve the rate the run allows itself, once per
round of messages (replies to messages started before a decrease do not count again, as
TCP counts one loss per window); the rate then grows back with time, not with messages
(additive increase: ``RECOVERY`` messages/s each second, or 5 % of the rate when that is
more), so a throttled run slows down instead of failing, and a run that sends little
does not win back a rate the relay refused a moment ago. A reply about one recipient
(a busy mailbox) slows nobody.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

MIN_RATE = 0.1  # messages/s: the slowest a throttled run goes
RECOVERY = 1.0  # messages/s won back per second after a decrease (additive increase)
_UNITS = {
    "s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
    "h": 3600, "hour": 3600, "d": 86400, "day": 86400,
}  # fmt: skip
_LIMIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*([a-z]+)\s*$")

# Documented presets (README): approximate published limits, kept a little under them.
PRESETS: dict[str, str] = {
    "gmail": "1/s, 80/min, 450/day",  # consumer Gmail SMTP: ~500 recipients a day
    "workspace": "2/s, 1900/day",  # Google Workspace: 2,000 a day per user
    "ses-sandbox": "1/s, 200/day",  # Amazon SES sandbox
    "ses": "14/s",  # Amazon SES's default production rate
    "shared-host": "30/min",  # a typical shared web host
}


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` messages in any ``seconds``-long window."""

    count: float
    seconds: float

    def __str__(self) -> str:
        return f"{self.count:g}/{self.seconds:g}s"


def parse_limits(spec: str) -> list[Limit]:
    """Read ``"10/s, 30/min, 500/day"`` (or a preset name) into limits.

    Raises:
        ValueError: the text is neither a preset nor a list of ``N/unit`` items.
    """
    spec = PRESETS.get(spec.strip().lower(), spec)
    limits = []
    for item in filter(str.strip, spec.split(",")):
        match = _LIMIT.match(item.lower())
        if not match or match.group(3) not in _UNITS or float(match.group(1)) <= 0:
            raise ValueError(
                f"{item.strip()!r} is not a rate limit: write N/s, N/min, N/hour, N/day "
                f"(e.g. '10/s, 500/day') or a preset ({', '.join(PRESETS)})"
            )
        per = int(match.group(2) or 1) * _UNITS[match.group(3)]
        limits.append(Limit(float(match.group(1)), float(per)))
    return limits


class RateLimiter:
    """Decides when the next message may go, under every limit at once.

    Limits of a second or less work as a token bucket (a smooth rate); longer ones as
    exact rolling windows over the times of recent sends (the ``history`` a new run
    starts from comes from the ledger, so a daily limit holds across runs).
    """

    def __init__(self, limits: Iterable[Limit], history: Iterable[float] = ()) -> None:
        limits = list(limits)
        rates = [lim.count / lim.seconds for lim in limits if lim.seconds <= 1]
        self.ceiling = min(rates) if rates else math.inf  # the configured rate
        self.rate = self.ceiling  # the rate allowed now (lowered by throttling)
        self.windows = [lim for lim in limits if lim.seconds > 1]
        longest = max((w.count for w in self.windows), default=0)
        self._sent: deque[float] = deque(sorted(history), maxlen=int(longest) or 1)
        self._next_slot = -math.inf
        self._slots = 0  # slots taken so far: a message's ticket is its slot's number
        self._round = 0  # the ticket count at the last decrease
        self._grown: float | None = None  # when the rate last grew back (None: not lowered)
        self.decreases = 0  # throttling signals that lowered the rate

    def delay(self, now: float) -> float:
        """Seconds to wait before the next message may be sent (0: go now)."""
        self._recover(now)
        wait = max(0.0, self._next_slot - now)
        for window in self.windows:
            count = int(window.count)
            if len(self._sent) >= count:
                oldest_in_window = self._sent[-count]
                wait = max(wait, oldest_in_window + window.seconds - now)
        return wait

    def record(self, now: float) -> int:
        """A message is being sent now: take its slot; return its ticket (for
        ``slow_down``)."""
        if math.isfinite(self.rate):
            self._next_slot = max(self._next_slot, now) + 1.0 / self.rate
        if self.windows:
            self._sent.append(now)
        self._slots += 1
        return self._slots

    def slow_down(self, now: float, observed_rate: float, ticket: int) -> bool:
        """The relay throttled the message of ``ticket``: halve the allowed rate (from the
        rate messages were accepted at recently, when lower; at least ``MIN_RATE``) and
        hold the next slot back by one interval at that rate. Only once per round: a
        message that took its slot before the last decrease was sent at the old rate, so
        its reply says nothing new. Returns whether the rate was lowered."""
        if ticket <= self._round:
            return False
        base = min(self.rate, observed_rate) if observed_rate > 0 else self.rate
        self.rate = max(MIN_RATE, (base if math.isfinite(base) else 10.0) / 2)
        self._next_slot = max(self._next_slot, now + 1.0 / self.rate)
        self._round, self._grown = self._slots, now
        self.decreases += 1
        return True

    def _recover(self, now: float) -> None:
        """Grow the rate back with the time since it last grew (additive increase)."""
        if self._grown is None:
            return
        elapsed, self._grown = max(0.0, now - self._grown), now
        self.rate = min(self.ceiling, self.rate + max(RECOVERY, self.rate / 20) * elapsed)
        if self.rate >= self.ceiling or self.rate > 10_000:  # unthrottled again
            self.rate, self._grown = self.ceiling, None


def backoff(attempt: int, unit: float, cap: float, jitter: float) -> float:
    """Exponential backoff with jitter: ``attempt`` 1 waits between half and all of
    ``unit`` seconds, doubling each time, capped. ``jitter`` is in [0, 1) from the caller
    (half the wait is random, so reconnecting clients spread out, none retries at once)."""
    return min(cap, unit * 2 ** (attempt - 1)) * (0.5 + jitter / 2)
