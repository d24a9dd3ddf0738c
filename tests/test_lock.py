"""One running instance per database."""

from __future__ import annotations

import pytest

from scheduler.errors import AlreadyRunningError
from scheduler.lock import InstanceLock


def test_lock_second_holder_is_refused_with_the_pid(tmp_path):
    db = tmp_path / "n.db"
    with InstanceLock(db):
        with pytest.raises(AlreadyRunningError) as info, InstanceLock(db):
            pass
        assert "already running" in str(info.value)
    # Released: can be taken again.
    with InstanceLock(db):
        pass
