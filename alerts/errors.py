"""The errors alerting raises; all derive from crawler.errors.NewswatchError.

NewswatchError                 (crawler.errors)
├── QueryError                 a rule query is malformed; carries the query and position
├── RenderError                a message template is missing, malformed or wrong
└── DeliveryError              a channel could not deliver; says if retrying can help
"""

from __future__ import annotations

from crawler.errors import NewswatchError


class QueryError(NewswatchError):
    """A rule query is malformed; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, *, query: str, position: int, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.query = query
        self.position = position


class RenderError(NewswatchError):
    """A message template is missing, malformed or uses an unknown variable."""


class DeliveryError(NewswatchError):
    """A channel could not deliver an alert.

    ``permanent`` says that retrying the same alert cannot help (bad credentials, a
    rejected recipient, a 404 webhook); ``retry_after`` is the delay in seconds the peer
    asked for, when it asked for one.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: str,
        permanent: bool = False,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.channel = channel
        self.permanent = permanent
        self.retry_after = retry_after
