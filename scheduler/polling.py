"""One poll of a batch of sources, as the service runs it: poll, match, log.

``newswatch once`` and every scheduled tick of ``newswatch run`` call :func:`poll_sources`.
The crawler polls the batch (:func:`crawler.poll.poll_batch`: fetch, parse, full text,
store, record), then the rules run over every article not matched yet, and each source
gets its one summary line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from alerts.routing import match_pending
from crawler.models import Source
from crawler.poll import PollContext, SourcePoll, poll_batch
from scheduler.wiring import Runtime

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollSummary:
    """The outcome of polling one source, for the one-line summary."""

    source: str
    fetched: int = 0
    new: int = 0
    matched: int = 0
    error: str | None = None
    not_modified: bool = False
    warning: str | None = None

    @classmethod
    def of(cls, poll: SourcePoll, matched: int) -> PollSummary:
        """The summary of a crawler poll outcome and the matches it led to."""
        return cls(
            poll.source,
            poll.fetched,
            poll.new,
            matched,
            poll.error,
            poll.not_modified,
            poll.warning,
        )

    def line(self) -> str:
        """``name: fetched N, new N, matched N, errors N`` plus what went wrong, if anything."""
        text = (
            f"{self.source}: fetched {self.fetched}, new {self.new}, "
            f"matched {self.matched}, errors {1 if self.error else 0}"
        )
        if self.not_modified:
            text += " (not modified)"
        if self.error:
            text += f" ({self.error})"
        elif self.warning:
            text += f" (warning: {self.warning})"
        return text


def poll_context(runtime: Runtime) -> PollContext:
    """What the crawler's poll needs of the running service."""
    return PollContext(
        db=runtime.db,
        crawls=runtime.crawls,
        interval_of=runtime.interval_of,
        stories=runtime.stories,
        max_bytes=runtime.config.service.max_size,
    )


async def poll_sources(runtime: Runtime, sources: Sequence[Source]) -> list[PollSummary]:
    """Poll ``sources`` (feeds and web sources at once), store new articles, run rules."""
    polls = await poll_batch(poll_context(runtime), sources)
    matched = match_pending(runtime.db, runtime.matcher, runtime.routes, on_match=runtime.on_match)
    summaries = [PollSummary.of(poll, matched.get(poll.source, 0)) for poll in polls]
    for summary in summaries:
        (logger.warning if summary.error else logger.info)("poll %s", summary.line())
    return summaries
