"""One poll of a batch of sources, as the service runs it: poll, match, log.

``newswatch once`` and every scheduled tick of ``newswatch run`` call :func:`poll_sources`.
The crawler polls the batch (:func:`crawler.poll.poll_batch`: fetch, parse, full text,
store, record); as each source is stored, the rules run over every article not matched
yet, and the source gets its one summary line.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
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


def poll_context(runtime: Runtime, *, in_order: bool = True) -> PollContext:
    """What the crawler's poll needs of the running service (``in_order``: see
    :class:`crawler.poll.PollContext`)."""
    return PollContext(
        db=runtime.db,
        crawls=runtime.crawls,
        interval_of=runtime.interval_of,
        stories=runtime.stories,
        max_bytes=runtime.config.service.max_size,
        in_order=in_order,
    )


async def poll_sources(
    runtime: Runtime,
    sources: Sequence[Source],
    on_done: Callable[[PollSummary], None] | None = None,
    *,
    in_order: bool = True,
) -> list[PollSummary]:
    """Poll ``sources`` (feeds and web sources at once), store new articles, run rules.

    Each source's new articles are matched as soon as they are stored, and ``on_done``
    sees its summary then. Sources are stored in the order given (``once``: which outlet's
    copy of a story comes first does not depend on which feed answered first), or, with
    ``in_order=False`` (the service), each as soon as it is ready, so a slow source of the
    batch holds up no other.
    """
    matched: Counter[str] = Counter()
    summaries: dict[str, PollSummary] = {}

    def match(what: str) -> None:
        try:
            matched.update(
                match_pending(
                    runtime.db, runtime.matcher, runtime.routes, on_match=runtime.on_match
                )
            )
        except Exception:  # matched later: the articles stay flagged as not matched
            logger.exception("matching the new articles of %s failed", what)

    # Articles stored but not matched before (a crash, a failed match) go first.
    match("earlier polls")

    def settled(poll: SourcePoll) -> None:
        if poll.new:
            match(poll.source)
        summary = summaries[poll.source] = PollSummary.of(poll, matched.get(poll.source, 0))
        (logger.warning if summary.error else logger.info)("poll %s", summary.line())
        if on_done is not None:
            on_done(summary)

    polls = await poll_batch(poll_context(runtime, in_order=in_order), sources, on_settled=settled)
    return [summaries[poll.source] for poll in polls]
