"""The errors the service raises; all derive from crawler.errors.NewswatchError.

NewswatchError                 (crawler.errors)
├── ConfigError                the configuration cannot be used; lists every problem found
├── ConfigEditError            a change to config.toml was not made (name taken, file
│                              changed meanwhile, not writable); an invalid result is a
│                              ConfigError instead
├── OpmlError                  an OPML file cannot be read: not OPML, ill-formed, hostile
├── AlreadyRunningError        another newswatch process already writes to the database
└── BrowseUnavailableError     ``browse`` needs Datasette, an optional extra not installed
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.errors import NewswatchError

if TYPE_CHECKING:
    from scheduler.config_problems import Problem


class ConfigError(NewswatchError):
    """The configuration cannot be used; ``problems`` lists everything that is wrong."""

    def __init__(self, problems: Sequence[Problem], *, path: Path | str | None = None) -> None:
        self.problems = list(problems)
        self.path = path
        count = len(self.problems)
        header = f"{path or 'configuration'}: {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([header, *(f"  {problem}" for problem in self.problems)]))


class ConfigEditError(NewswatchError):
    """A change to ``config.toml`` was not made: the name is taken, the file changed since
    it was read, or it cannot be written. (An edit that would make the configuration
    invalid raises :class:`ConfigError` instead.)"""


class OpmlError(NewswatchError):
    """An OPML subscription list cannot be read: not XML, not OPML, or declaring entities."""


class AlreadyRunningError(NewswatchError):
    """Another newswatch process already writes to this database."""


class BrowseUnavailableError(NewswatchError):
    """``newswatch browse`` needs Datasette (``pip install 'newswatch[browse]'``)."""
