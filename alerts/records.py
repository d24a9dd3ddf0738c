"""The records alerting passes around: where a rule matched, and the messages channels send.

Hit            one occurrence of a query term in an article field
Alert          one article that matched one rule, for one channel
Digest         several matches in one message, grouped by rule (DigestSection each)
OpsAlert       a source stopped working, or works again
Notification   any of the three messages
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from crawler.models import Article

if TYPE_CHECKING:
    from alerts.rules.snippets import Snippet

# Visible ASCII only: the key travels in HTTP and mail headers, where anything else is
# either forbidden (CR/LF) or mangled (non-ASCII). 256 keeps every header line short.
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,256}")


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a query term; offsets point into the original field text."""

    field: str
    start: int
    end: int
    term: str


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        raise ValueError(
            f"alert key {key!r} is not usable: it must be 1 to 256 visible ASCII "
            "characters (no spaces or control characters)"
        )


@dataclass(frozen=True, slots=True)
class Alert:
    """One article that matched one rule, to be delivered through one channel.

    ``key`` is unique per (rule, article, channel) and stable across re-sends: it becomes
    the e-mail Message-ID and the webhook Idempotency-Key, so receivers can drop
    duplicates. ``id`` is what people use: the ID ``newswatch alerts list`` shows and
    ``newswatch alerts retry`` takes (empty for a test alert). ``source_title`` is the
    outlet's display name (empty: use ``article.source``); ``also_reported_by`` holds
    display names too.
    """

    key: str
    rule: str
    article: Article
    snippets: tuple[Snippet, ...] = ()
    also_reported_by: tuple[str, ...] = ()
    id: str = ""
    source_title: str = ""

    def __post_init__(self) -> None:
        _check_key(self.key)
        # Callers may hand over lists; tuples keep the record hashable and immutable.
        object.__setattr__(self, "snippets", tuple(self.snippets))
        object.__setattr__(self, "also_reported_by", tuple(self.also_reported_by))


@dataclass(frozen=True, slots=True)
class DigestSection:
    """The matches of one rule in a digest, newest first."""

    rule: str
    alerts: tuple[Alert, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "alerts", tuple(self.alerts))


@dataclass(frozen=True, slots=True)
class Digest:
    """Several matches sent as one message, grouped by rule.

    ``kind`` says why they were grouped: ``digest`` (a rule's digest schedule), ``quiet``
    (held during the channel's quiet hours) or ``overflow`` (beyond the channel's hourly
    limit). ``since`` is the start of the period covered, when known; ``until`` its end.
    ``id`` is the ID ``newswatch alerts list`` shows (``n12``).
    """

    key: str
    kind: str
    sections: tuple[DigestSection, ...]
    until: datetime
    since: datetime | None = None
    id: str = ""

    def __post_init__(self) -> None:
        _check_key(self.key)
        object.__setattr__(self, "sections", tuple(self.sections))

    @property
    def count(self) -> int:
        """The number of matches in the digest."""
        return sum(len(section.alerts) for section in self.sections)

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules the digest covers, in order."""
        return tuple(section.rule for section in self.sections)


@dataclass(frozen=True, slots=True)
class OpsAlert:
    """An operations alert: a source stopped working (``broken``) or works again.

    ``id`` is the ID ``newswatch alerts list`` shows (``n13``).
    """

    key: str
    source: str
    status: str
    reason: str
    detected: datetime
    url: str | None = None
    since: datetime | None = None
    last_error: str | None = None
    id: str = ""

    def __post_init__(self) -> None:
        _check_key(self.key)
        if self.status not in ("broken", "recovered"):
            raise ValueError(f"ops alert status {self.status!r} is not 'broken' or 'recovered'")


Notification = Alert | Digest | OpsAlert
