"""Measure how late the event loop runs its callbacks.

A task sleeps ``interval`` seconds again and again; whatever it oversleeps is time the loop
spent on something else (a blocking call, a long parse on the loop thread). The monitor keeps
the recent samples, logs p50 / p99 / max once per ``report_every``, and remembers when it
last ran, which tells a health probe in another thread whether the loop still turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# A lag this long is something an operator should see without -v.
WARN_LAG_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class LagSnapshot:
    """Lag figures over the recent window, in seconds."""

    samples: int
    p50: float
    p99: float
    max: float
    last_tick: float | None  # time.monotonic() of the last sample

    def seconds_since_tick(self, now: float | None = None) -> float | None:
        """How long ago the loop last ran the sampler (``None`` before the first sample)."""
        if self.last_tick is None:
            return None
        return (time.monotonic() if now is None else now) - self.last_tick


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (0.0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


class LoopLagMonitor:
    """``monitor.start()`` inside the loop; ``await monitor.stop()`` on shutdown."""

    def __init__(
        self, interval: float = 0.25, window: float = 60.0, report_every: float = 60.0
    ) -> None:
        self.interval = interval
        self.report_every = report_every
        self._samples: deque[float] = deque(maxlen=max(1, int(window / interval)))
        self._lock = threading.Lock()
        self._last_tick: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop sampling, logging the last window's figures."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            if self._samples:
                self._report()

    def add_sample(self, lag: float, at: float | None = None) -> None:
        """Record one lag measurement (the sampler calls this; exposed for tests)."""
        with self._lock:
            self._samples.append(max(0.0, lag))
            self._last_tick = time.monotonic() if at is None else at

    def snapshot(self) -> LagSnapshot:
        """The current figures; safe to call from any thread."""
        with self._lock:
            values = list(self._samples)
            last = self._last_tick
        return LagSnapshot(
            samples=len(values),
            p50=percentile(values, 0.50),
            p99=percentile(values, 0.99),
            max=max(values, default=0.0),
            last_tick=last,
        )

    async def _run(self) -> None:
        next_report = time.monotonic() + self.report_every
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self.add_sample(now - started - self.interval, at=now)
            if now >= next_report:
                next_report = now + self.report_every
                self._report()

    def _report(self) -> None:
        snap = self.snapshot()
        level = logging.WARNING if snap.p99 >= WARN_LAG_SECONDS else logging.DEBUG
        logger.log(
            level,
            "event loop lag p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d samples",
            snap.p50 * 1000,
            snap.p99 * 1000,
            snap.max * 1000,
            snap.samples,
        )
