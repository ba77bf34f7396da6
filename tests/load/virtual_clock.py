"""Virtual time for the load test: ``sleep`` advances the clock instantly instead of waiting.

Why: the Teams webhooks accept about 4 posts per second, so 1,000 cards take at least 250 s of
real time. Everything time-dependent in the harness (the stand-in's sliding-window rate limiter,
Retry-After, the injected outage, SQS visibility timeouts and the 5-minute deduplication
interval, the Lambda deadline) and the handler under test (its ``sleep`` and ``monotonic``
callables) read this one clock, so the modelled 250+ s run in a second or two of wall time.

Only time is virtual: the HTTP requests are real (a real server on 127.0.0.1, real sockets),
and they take no virtual time unless the stand-in is told to model latency.

Deterministic: the clock only moves when someone calls ``sleep``, ``advance`` or ``advance_to``.
It never goes backwards. It is thread-safe (the stand-in's server threads read it while the
client thread, blocked on its request, cannot move it).
"""

from __future__ import annotations

import random
import threading

# 2025-06-02T09:00:00Z: what ``time()`` returns at virtual t=0 (SQS timestamps, if a handler asks).
DEFAULT_EPOCH = 1_748_854_800.0


class VirtualClock:
    """Seconds since the start of the run (``now``/``monotonic``), and an epoch (``time``)."""

    def __init__(self, start: float = 0.0, epoch: float = DEFAULT_EPOCH) -> None:
        self._now = float(start)
        self._epoch = float(epoch) - float(start)
        self._lock = threading.Lock()
        self.sleeps = 0  # calls to sleep(), for tests and reports
        self.slept = 0.0  # virtual seconds slept

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """Same as ``now``: pass ``clock.monotonic`` where the handler wants ``time.monotonic``."""
        return self.now()

    def time(self) -> float:
        """Epoch seconds (``time.time`` stand-in): ``epoch`` at the clock's start, moving with it."""
        with self._lock:
            return self._epoch + self._now

    def epoch_at(self, t: float) -> float:
        """The epoch seconds of virtual time ``t``."""
        return self._epoch + t

    def sleep(self, seconds: float) -> None:
        """Advance by ``seconds`` at once (negative or zero: no-op, as ``time.sleep(0)``)."""
        with self._lock:
            self.sleeps += 1
            if seconds > 0:
                self._now += seconds
                self.slept += seconds

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("virtual time never goes backwards")
        with self._lock:
            self._now += seconds

    def advance_to(self, t: float) -> None:
        """Move to ``t`` if it is later than now (never backwards)."""
        with self._lock:
            self._now = max(self._now, float(t))


def seeded_random(seed: str) -> random.Random:
    """A deterministic generator for the harness's ids, choices and injected failures."""
    return random.Random(seed)  # noqa: S311 (test data, not secrets)
