"""Quiet hours, hourly limits and mutes, with the clock passed in explicitly."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.channels.mbox import MboxChannel
from alerts.delivery.policy import ChannelPolicy, Policy, RulePolicy
from alerts.delivery.schedule import QuietHours, mute_deadline, parse_mute_until
from alerts.outbox.mutes import active_mutes, clear_mute, set_mute
from tests.alertkit import add_article, add_match, deliver, make_db, read_mbox, states, text_of

ZONE_NAME = "Asia/Phnom_Penh"
ZONE = ZoneInfo(ZONE_NAME)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026, Phnom Penh time, as aware UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=ZONE).astimezone(UTC)


def policy_for(channel: ChannelPolicy, **rule: object) -> Policy:
    return Policy(
        rules={"scam": RulePolicy(channels=("box",), **rule)},  # type: ignore[arg-type]
        channels={"box": channel},
        timezone=ZONE_NAME,
    )


@pytest.fixture
def box(tmp_path):
    return {"box": MboxChannel("box", path=tmp_path / "alerts.mbox", timezone=ZONE_NAME)}


def match_now(db, title: str, when: datetime) -> None:
    add_match(db, "scam", add_article(db, title, published=when), ["box"], when)


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [((21, 59), False), ((22, 0), True), ((23, 30), True), ((3, 0), True), ((7, 0), False)],
)
def test_quiet_hours_over_midnight_contain_the_night(clock, quiet):
    hours = QuietHours.parse("22:00-07:00")
    assert hours.contains(local(23, *clock), ZONE) is quiet


def test_quiet_hours_end_is_the_next_morning():
    hours = QuietHours.parse("22:00-07:00")
    assert hours.ends_after(local(23, 23, 30), ZONE) == local(24, 7)
    assert hours.ends_after(local(24, 3, 0), ZONE) == local(24, 7)
    daytime = QuietHours.parse("12:00-13:30")
    assert daytime.contains(local(23, 13, 29), ZONE)
    assert daytime.ends_after(local(23, 12, 15), ZONE) == local(23, 13, 30)


@pytest.mark.parametrize("text", ["22-07", "22:00", "25:00-07:00", "07:00-07:00", "late"])
def test_quiet_hours_reject_malformed_periods(text):
    with pytest.raises(ValueError, match="quiet hours"):
        QuietHours.parse(text)


def test_mute_deadline_reads_dates_in_the_service_zone():
    assert mute_deadline(parse_mute_until("2026-12-01"), ZONE) == local(30, 0) + timedelta(days=1)
    assert mute_deadline(date(2026, 12, 1), ZONE) == datetime(2026, 11, 30, 17, tzinfo=UTC)
    aware = datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert mute_deadline(aware, ZONE) == aware
    assert parse_mute_until("2026-12-01T08:00").time() == time(8, 0)
    with pytest.raises(ValueError, match="invalid date"):
        parse_mute_until("next week")


def test_quiet_hours_hold_alerts_and_send_one_digest_after(tmp_path, box, backend):
    db = make_db(tmp_path, backend)
    policy = policy_for(ChannelPolicy(quiet_hours=QuietHours.parse("22:00-07:00")))
    match_now(db, "Evening raid", local(23, 21, 30))
    deliver(db, box, policy, now=local(23, 21, 30))
    assert len(read_mbox(tmp_path / "alerts.mbox")) == 1  # before the quiet hours: at once
    for minute, title in ((0, "Night raid one"), (45, "Night raid two")):
        match_now(db, title, local(23, 23, minute))
        deliver(db, box, policy, now=local(23, 23, minute))
    deliver(db, box, policy, now=local(24, 6, 59))
    assert len(read_mbox(tmp_path / "alerts.mbox")) == 1
    assert states(db) == {"sent": 1, "digest": 2}

    deliver(db, box, policy, now=local(24, 7, 0))
    _, morning = read_mbox(tmp_path / "alerts.mbox")
    assert morning["Subject"] == "[newswatch] 2 matches held during quiet hours (scam)"
    body = text_of(morning)
    assert "quiet hours" in body and "Night raid one" in body and "Night raid two" in body
    assert states(db) == {"sent": 3}


def test_quiet_hours_move_a_digest_due_at_night_to_the_morning(tmp_path, box, backend):
    from alerts.delivery.schedule import parse_cron

    db = make_db(tmp_path, backend)
    policy = policy_for(
        ChannelPolicy(quiet_hours=QuietHours.parse("22:00-07:00")),
        digest=parse_cron("0 6 * * *", ZONE),
    )
    match_now(db, "Raid", local(23, 12))
    deliver(db, box, policy, now=local(23, 12))
    deliver(db, box, policy, now=local(24, 6, 1))
    assert read_mbox(tmp_path / "alerts.mbox") == []
    (row,) = db.query("SELECT digest_due FROM outbox")
    assert datetime.fromisoformat(row["digest_due"]) == local(24, 7)  # no busy loop meanwhile
    deliver(db, box, policy, now=local(24, 7))
    (message,) = read_mbox(tmp_path / "alerts.mbox")
    assert message["Subject"] == "[newswatch] Digest: 1 match (scam)"


def test_max_per_hour_folds_the_surplus_into_one_message(tmp_path, box, backend):
    db = make_db(tmp_path, backend)
    policy = policy_for(ChannelPolicy(max_per_hour=2))
    for minute in range(5):
        match_now(db, f"Raid {minute}", local(23, 10, minute))
    outcome = deliver(db, box, policy, now=local(23, 10, 5))
    assert outcome["sent"] == 2
    assert states(db) == {"sent": 2, "digest": 3}
    match_now(db, "Raid late", local(23, 10, 30))
    deliver(db, box, policy, now=local(23, 10, 30))
    assert len(read_mbox(tmp_path / "alerts.mbox")) == 2
    (due,) = {
        row["digest_due"]
        for row in db.query("SELECT digest_due FROM outbox WHERE hold = 'overflow'")
    }
    assert datetime.fromisoformat(due) == local(23, 11, 5)

    deliver(db, box, policy, now=local(23, 11, 5))
    messages = read_mbox(tmp_path / "alerts.mbox")
    assert len(messages) == 3
    assert messages[-1]["Subject"] == "[newswatch] 4 more matches (scam)"
    assert "hourly limit" in text_of(messages[-1])
    assert states(db) == {"sent": 6}  # nothing dropped


def test_max_per_hour_counts_a_digest_as_one_message(tmp_path, box, backend):
    db = make_db(tmp_path, backend)
    policy = policy_for(ChannelPolicy(max_per_hour=3))
    for minute in range(6):
        match_now(db, f"Raid {minute}", local(23, 10, minute))
    deliver(db, box, policy, now=local(23, 10, 6))
    deliver(db, box, policy, now=local(23, 11, 0))  # the window opens again at 11:06
    assert len(read_mbox(tmp_path / "alerts.mbox")) == 3
    deliver(db, box, policy, now=local(23, 11, 6))
    match_now(db, "Raid after", local(23, 11, 7))
    deliver(db, box, policy, now=local(23, 11, 7))
    messages = read_mbox(tmp_path / "alerts.mbox")
    assert [m["Subject"] for m in messages[3:]] == [
        "[newswatch] 3 more matches (scam)",
        "[newswatch] scam: Raid after",
    ]


def test_channel_mute_until_records_matches_as_muted(tmp_path, box, backend):
    db = make_db(tmp_path, backend)
    policy = policy_for(ChannelPolicy(mute_until=local(24, 0)))
    match_now(db, "Raid while muted", local(23, 10))
    deliver(db, box, policy, now=local(23, 10))
    assert read_mbox(tmp_path / "alerts.mbox") == []
    (row,) = db.query("SELECT state, last_error FROM outbox")
    assert (
        row["state"] == "muted"
        and "channel box is muted until 2026-11-24 00:00" in row["last_error"]
    )
    match_now(db, "Raid after the mute", local(24, 1))
    deliver(db, box, policy, now=local(24, 1))
    (message,) = read_mbox(tmp_path / "alerts.mbox")
    assert "Raid after the mute" in message["Subject"]
    assert states(db) == {"muted": 1, "sent": 1}


def test_stored_mute_ends_on_time_and_can_be_lifted(tmp_path, box, backend):
    db = make_db(tmp_path, backend)
    policy = policy_for(ChannelPolicy())
    set_mute(db, "rule", "scam", local(23, 12), now=local(23, 9))
    assert active_mutes(db, local(23, 11)) == {("rule", "scam"): local(23, 12)}
    assert active_mutes(db, local(23, 12)) == {}
    match_now(db, "Muted raid", local(23, 10))
    deliver(db, box, policy, now=local(23, 10))
    match_now(db, "Later raid", local(23, 12, 1))
    deliver(db, box, policy, now=local(23, 12, 1))
    assert states(db) == {"muted": 1, "sent": 1}
    set_mute(db, "channel", "box", local(30, 0), now=local(23, 13))
    assert clear_mute(db, "channel", "box") is True
    assert clear_mute(db, "channel", "box") is False


def test_rule_no_longer_configured_is_sent_at_once(tmp_path, box, backend):
    db = make_db(tmp_path, backend)
    policy = Policy(channels={"box": ChannelPolicy()}, timezone=ZONE_NAME)
    match_now(db, "Raid", local(23, 10))
    assert deliver(db, box, policy, now=local(23, 10))["sent"] == 1
