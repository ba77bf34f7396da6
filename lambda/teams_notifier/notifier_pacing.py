"""Posts to one webhook at most `rate` per second, and none before a 429's Retry-After has passed.

Each channel's queue is FIFO with a single message group, so Lambda runs at most one batch per
channel at a time and the pacer of the execution environment that runs it sees every post of the
channel. A batch that lands on another environment starts with a fresh pacer; the webhook's 429 and
Retry-After (honoured by notifier_delivery) cover that seam.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Pacer:
    """Spaces the attempts of each channel by 1/rate seconds (tests pass a virtual clock and sleep)."""

    rate_for: Callable[[str], float]
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: dict[str, float] = field(default_factory=dict)

    def wait(self, channel: str) -> float:
        """Sleep until the channel's next slot and take it; returns the seconds waited."""
        now = self.monotonic()
        slot = max(now, self._next.get(channel, now))
        waited = slot - now
        if waited > 0:
            self.sleep(waited)
        self._next[channel] = slot + 1.0 / self.rate_for(channel)
        return waited

    def hold(self, channel: str, seconds: float) -> None:
        """The webhook asked for `seconds` of quiet (429 Retry-After): no slot before then."""
        until = self.monotonic() + max(0.0, seconds)
        self._next[channel] = max(self._next.get(channel, until), until)
