"""The project's exception hierarchy; this module holds its base and the crawler's errors.

    NewswatchError            base of everything newswatch raises on purpose
    ├── FetchError            a source could not be fetched (network, HTTP status, size cap)
    ├── ParseError            a fetched body could not be turned into articles
    ├── StoreError            the database refused an operation
    ├── QueryError            (alerts.errors) a rule query is malformed; carries the position
    ├── RenderError           (alerts.errors) a message template is missing or malformed
    ├── DeliveryError         (alerts.errors) a channel could not deliver; says if retrying helps
    ├── ConfigError           (scheduler.errors) the configuration is invalid; lists every problem
    ├── ConfigEditError       (scheduler.errors) a change to config.toml was not made
    ├── OpmlError             (scheduler.errors) an OPML subscription list cannot be read
    ├── AlreadyRunningError   (scheduler.errors) another process already uses the database
    └── BrowseUnavailableError (scheduler.errors) Datasette is not installed

Each package keeps its errors in one module (crawler/errors.py, alerts/errors.py,
scheduler/errors.py) whose docstring draws its part of this tree. Each error carries the
name of what failed (source, URL, SMTP host...) and, where one helps, a hint naming the
setting to check. A poll turns whatever one source's fetch, parse or store raises into
that stage's error for that source alone (:mod:`crawler.poll`); :func:`describe` words an
exception nobody expected.
"""

from __future__ import annotations


class NewswatchError(Exception):
    """Base class for every error newswatch raises deliberately."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class FetchError(NewswatchError):
    """A source could not be fetched."""


class ParseError(NewswatchError):
    """A fetched body could not be parsed into articles."""


class StoreError(NewswatchError):
    """The database could not complete an operation."""


def describe(exc: BaseException) -> str:
    """An exception as ``Type: text`` (just ``Type`` when it has no text), for messages."""
    if isinstance(exc, NewswatchError):
        return exc.message
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
