"""MboxChannel writes real mbox files that mailbox.mbox (and mail readers) can read."""

from __future__ import annotations

import asyncio
import mailbox
import os
from functools import partial
from pathlib import Path

import pytest

from alerts.channels.mbox import MboxChannel
from alerts.errors import DeliveryError
from tests import alertkit
from tests.alertkit import URDU_TITLE, read_mbox, snip

make_alert = partial(
    alertkit.make_alert,
    key="r.1.box",
    summary="From the compound, officers led out 200 workers.",
    snippets=(snip("From a scam compound", "scam compound"),),
)


def test_mbox_channel_appends_readable_messages(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folders" / "alerts.mbox"
    channel = MboxChannel("archive", path=path, timezone="Asia/Phnom_Penh")
    asyncio.run(channel.send(make_alert()))
    asyncio.run(channel.send(make_alert(URDU_TITLE, key="r.2.box")))
    first, second = read_mbox(path)
    assert first["Subject"] == "[newswatch] scam-crackdown: Police raid compound in Sihanoukville"
    assert first["Message-ID"] == "<r.1.box@newswatch.invalid>"
    assert first["X-Newswatch-Key"] == "r.1.box"
    assert first["From"] == "newswatch <newswatch@newswatch.invalid>"
    assert first.get_content_type() == "multipart/alternative"
    assert "2024-05-03 14:05 UTC+07:00" in first.get_body(("plain",)).get_content()
    assert second["Subject"] == f"[newswatch] scam-crackdown: {URDU_TITLE}"
    assert second["Message-ID"] == "<r.2.box@newswatch.invalid>"


def test_mbox_channel_writes_mbox_from_lines_and_lf_endings(tmp_path: Path) -> None:
    path = tmp_path / "alerts.mbox"
    asyncio.run(MboxChannel("archive", path=path).send(make_alert()))
    raw = path.read_bytes()
    assert raw.startswith(b"From newswatch@newswatch.invalid ")
    assert b"\r\n" not in raw
    box = mailbox.mbox(path)
    try:
        (message,) = box
        assert message.get_from().startswith("newswatch@newswatch.invalid ")
    finally:
        box.close()


def test_mbox_channel_concurrent_sends_all_land(tmp_path: Path) -> None:
    path = tmp_path / "alerts.mbox"
    channel = MboxChannel("archive", path=path)

    async def send_all() -> None:
        await asyncio.gather(*(channel.send(make_alert(key=f"r.{i}.box")) for i in range(20)))

    asyncio.run(send_all())
    keys = sorted(m["X-Newswatch-Key"] for m in read_mbox(path))
    assert keys == sorted(f"r.{i}.box" for i in range(20))


def test_mbox_channel_locked_by_another_program_is_retryable(tmp_path: Path) -> None:
    path = tmp_path / "alerts.mbox"
    other = mailbox.mbox(path, create=True)
    other.lock()
    try:
        with pytest.raises(DeliveryError) as info:
            asyncio.run(MboxChannel("archive", path=path).send(make_alert()))
    finally:
        other.unlock()
        other.close()
    assert not info.value.permanent
    assert "locked" in info.value.message and str(path) in info.value.message
    assert f"{path}.lock" in (info.value.hint or "")
    assert read_mbox(path) == []


def test_mbox_channel_directory_path_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError) as info:
        asyncio.run(MboxChannel("archive", path=tmp_path).send(make_alert()))
    assert info.value.permanent
    assert info.value.channel == "archive"
    assert str(tmp_path) in info.value.message


def test_mbox_channel_parent_that_is_a_file_is_permanent(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("a file, not a folder")
    with pytest.raises(DeliveryError) as info:
        asyncio.run(MboxChannel("archive", path=tmp_path / "notes" / "a.mbox").send(make_alert()))
    assert info.value.permanent
    assert "permissions" in (info.value.hint or "")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_mbox_channel_unwritable_folder_is_permanent(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(DeliveryError) as info:
            asyncio.run(MboxChannel("archive", path=folder / "a.mbox").send(make_alert()))
    finally:
        folder.chmod(0o700)
    assert info.value.permanent
    assert "permissions" in (info.value.hint or "")
