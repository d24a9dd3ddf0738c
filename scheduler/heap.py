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
