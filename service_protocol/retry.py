"""Retries with backoff, one implementation for every client of the service.

`Backoff` is exponential with "equal jitter": the n-th wait is between d/2 and d,
d = min(cap, base * 2**n), so clients restarted together spread out yet never hammer the
service. `RetryPolicy` says which failures are worth another try (no answer at all, 502/503/504)
and for how long; a 503 with `Retry-After` waits at least that long (within the cap). Only
idempotent calls should be retried: every call the runner and CLI make is a read or an upsert.
The agent retries in its own loop (a missed heartbeat is re-sent next round), so it passes
`NO_RETRY`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["NO_RETRY", "Backoff", "RetryPolicy"]


@dataclass
class Backoff:
    base: float = 1.0
    cap: float = 60.0
    rng: random.Random | None = None
    attempts: int = 0

    def next_delay(self) -> float:
        d = min(self.cap, self.base * (2**self.attempts))
        self.attempts += 1
        rng = self.rng or random
        return d / 2 + rng.uniform(0, d / 2)

    def reset(self) -> None:
        self.attempts = 0


@dataclass(frozen=True)
class RetryPolicy:
    """Retry unreachable / `statuses` answers for up to `budget_s` seconds in all."""

    budget_s: float = 0.0
    base: float = 0.2
    cap: float = 5.0
    statuses: frozenset[int] = frozenset({502, 503, 504})
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def backoff(self) -> Backoff:
        return Backoff(base=self.base, cap=self.cap)


NO_RETRY = RetryPolicy(budget_s=0.0)
