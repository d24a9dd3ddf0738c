"""When a failed delivery is tried again, and when it is given up.

Shared by single alerts (the ``outbox`` table) and by digests and operations alerts (the
``notices`` table), so every message backs off the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from crawler.db import to_iso

FIRST_RETRY_SECONDS = 15.0
MAX_RETRY_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to stop retrying a delivery."""

    max_attempts: int = 20
    max_age: timedelta = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class Failure:
    """What one failed attempt changes: the new state, attempt count, next try and error."""

    state: str
    attempts: int
    next_attempt: datetime | None
    error: str

    def columns(self) -> dict[str, object]:
        """The row values to store (the same columns in ``outbox`` and ``notices``)."""
        return {
            "state": self.state,
            "attempts": self.attempts,
            "last_error": self.error,
            "next_attempt": to_iso(self.next_attempt),
        }


def retry_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter: ~15 s, 30 s, 1 min ... capped at one hour.

    ``attempt`` is the number of failed attempts so far (1 after the first failure). A
    server's Retry-After is honoured when it asks for longer.
    """
    base = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempt - 1))
    delay = min(MAX_RETRY_SECONDS, base * random.uniform(0.8, 1.2))
    if retry_after is not None:
        delay = max(delay, min(retry_after, 6 * MAX_RETRY_SECONDS))
    return delay


def judge_failure(
    *,
    attempts_before: int,
    since: datetime,
    error: str,
    permanent: bool,
    retry_after: float | None,
    policy: RetryPolicy,
    now: datetime,
) -> Failure:
    """Decide between ``retrying`` and ``failed`` after one more failed attempt.

    ``since`` is when the message was queued (or queued again by hand); a message older
    than ``policy.max_age`` or tried ``policy.max_attempts`` times is given up.
    """
    attempts = attempts_before + 1
    too_old = now - since > policy.max_age
    give_up = permanent or attempts >= policy.max_attempts or too_old
    if too_old and not permanent:
        error = f"{error} (gave up: undelivered for longer than {policy.max_age})"
    elif attempts >= policy.max_attempts and not permanent:
        error = f"{error} (gave up after {attempts} attempts)"
    if give_up:
        return Failure("failed", attempts, None, error)
    delay = timedelta(seconds=retry_delay(attempts, retry_after))
    return Failure("retrying", attempts, now + delay, error)
