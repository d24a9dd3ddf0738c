"""The garbage collector around start-up: long-lived objects are set aside once.

Loading a config with thousands of rules, compiling the matcher and importing the crawler
allocate hundreds of thousands of objects that live as long as the process. Left to the
collector, every full collection walks all of them again (a quarter of a re-poll and a
third of loading 10,000 rules went to it). :func:`building` pauses collection while they
are made and then freezes them (``gc.freeze``): later collections skip them.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def building() -> Iterator[None]:
    """Build long-lived state without collections; what it made is frozen afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


# Allocations between young-generation collections while a bulk poll runs (default 700).
BULK_THRESHOLD = 50_000


@contextlib.contextmanager
def bulk() -> Iterator[None]:
    """Collect less often while a big batch is parsed, stored and matched.

    A first poll allocates millions of short-lived objects (feedparser's dictionaries,
    shingles, rows); at the default threshold the collector ran every 700 of them and
    took a tenth of the poll. Reference counting frees almost all of them anyway.
    """
    before = gc.get_threshold()
    gc.set_threshold(BULK_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
