"""Digests: grouping by rule, schedules in the service's zone, durability, empty digests.

Time is controlled by passing ``now`` into the delivery round; channels are real (mbox
files, and a real webhook receiver for the retry and exactly-once cases).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.channels.mbox import MboxChannel
from alerts.channels.webhook import WebhookChannel
from alerts.delivery.policy import ChannelPolicy, Policy, RulePolicy
from alerts.delivery.schedule import next_fire, parse_cron
from alerts.outbox.mutes import set_mute
from alerts.outbox.retry import RetryPolicy
from tests.alertkit import add_article, add_match, deliver, make_db, read_mbox, states, text_of
from tests.peers import WebhookReceiver

ZONE = "Asia/Phnom_Penh"  # UTC+7, no DST
DAILY_8 = parse_cron("0 8 * * *", ZONE)
# 2026-11-23 is a Monday. 08:00 in Phnom Penh is 01:00 UTC.
MON_0800 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
TUE_0800 = MON_0800 + timedelta(days=1)


def digest_policy(**rule_options: object) -> Policy:
    rules = {
        name: RulePolicy(channels=("box",), digest=DAILY_8, **rule_options)  # type: ignore[arg-type]
        for name in ("scam", "gambling")
    }
    return Policy(rules=rules, channels={"box": ChannelPolicy()}, timezone=ZONE)


def mbox_channel(tmp_path: Path) -> dict[str, MboxChannel]:
    return {"box": MboxChannel("box", path=tmp_path / "alerts.mbox", timezone=ZONE)}


def test_parse_cron_keeps_crontab_weekday_numbers():
    weekdays = parse_cron("30 7 * * 1-5", ZONE)
    saturday = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    # Saturday and Sunday are skipped: the next firing is Monday 07:30 local (00:30 UTC).
    assert next_fire(weekdays, saturday) == datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    sunday = parse_cron("0 9 * * 0", ZONE)
    assert next_fire(sunday, saturday).astimezone(UTC).weekday() == 6
    assert next_fire(parse_cron("0 9 * * 7", ZONE), saturday) == next_fire(sunday, saturday)


@pytest.mark.parametrize(
    ("expr", "problem"),
    [("0 8 * *", "expected 5 fields"), ("61 8 * * *", "61"), ("0 8 * * 9", "0-7")],
)
def test_parse_cron_rejects_bad_lines(expr, problem):
    with pytest.raises(ValueError, match=problem):
        parse_cron(expr)


def test_digest_groups_matches_by_rule_newest_first(tmp_path, backend):
    db = make_db(tmp_path, backend)
    channels = mbox_channel(tmp_path)
    policy = digest_policy()
    day = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    older = add_article(db, "Older raid in Bavet", published=day)
    newer = add_article(db, "Newer raid in Poipet", published=day + timedelta(hours=5))
    casino = add_article(db, "Casino shut in Sihanoukville", published=day + timedelta(hours=1))
    for rule, article in (("scam", older), ("scam", newer), ("gambling", casino)):
        add_match(db, rule, article, ["box"], when=day + timedelta(hours=6))

    assert deliver(db, channels, policy, now=day + timedelta(hours=6))["sent"] == 0
    assert states(db) == {"digest": 3}
    assert read_mbox(tmp_path / "alerts.mbox") == []

    outcome = deliver(db, channels, policy, now=MON_0800 + timedelta(seconds=5))
    assert outcome["sent"] == 1
    (message,) = read_mbox(tmp_path / "alerts.mbox")
    assert message["Subject"] == "[newswatch] Digest: 3 matches (gambling, scam)"
    assert message["X-Newswatch-Kind"] == "digest"
    body = text_of(message)
    assert body.index("== gambling: 1 match ==") < body.index("== scam: 2 matches ==")
    assert body.index("Newer raid in Poipet") < body.index("Older raid in Bavet")
    assert "**scam compound**" in body
    assert states(db) == {"sent": 3}

    # Nothing more to send, now or at the next firing.
    assert deliver(db, channels, policy, now=TUE_0800 + timedelta(seconds=5))["sent"] == 0
    assert len(read_mbox(tmp_path / "alerts.mbox")) == 1


def test_digest_match_after_the_firing_waits_for_the_next_one(tmp_path, backend):
    db = make_db(tmp_path, backend)
    channels = mbox_channel(tmp_path)
    policy = digest_policy()
    first = add_article(db, "Raid one", published=MON_0800 - timedelta(hours=2))
    add_match(db, "scam", first, ["box"], when=MON_0800 - timedelta(hours=1))
    deliver(db, channels, policy, now=MON_0800 - timedelta(hours=1))
    second = add_article(db, "Raid two", published=MON_0800 + timedelta(minutes=1))
    add_match(db, "scam", second, ["box"], when=MON_0800 + timedelta(minutes=2))
    deliver(db, channels, policy, now=MON_0800 + timedelta(minutes=2))
    (monday,) = read_mbox(tmp_path / "alerts.mbox")
    assert "Raid one" in text_of(monday) and "Raid two" not in text_of(monday)
    deliver(db, channels, policy, now=TUE_0800)
    _, tuesday = read_mbox(tmp_path / "alerts.mbox")
    assert "Raid two" in text_of(tuesday) and "Raid one" not in text_of(tuesday)


def test_digest_run_long_after_several_firings_sends_one_message(tmp_path, backend):
    db = make_db(tmp_path, backend)
    channels = mbox_channel(tmp_path)
    hourly = parse_cron("0 * * * *", ZONE)
    policy = Policy(
        rules={"scam": RulePolicy(channels=("box",), digest=hourly)},
        channels={"box": ChannelPolicy()},
        timezone=ZONE,
    )
    start = MON_0800 + timedelta(minutes=10)
    for offset in (0, 2, 4):
        when = start + timedelta(hours=offset)
        add_match(db, "scam", add_article(db, f"Raid {offset}", published=when), ["box"], when)
    # Matches due at 09:00, 11:00 and 13:00; nothing ran until 17:00 (e.g. cron-driven `once`).
    deliver(db, channels, policy, now=start + timedelta(hours=9))
    (message,) = read_mbox(tmp_path / "alerts.mbox")
    assert message["Subject"] == "[newswatch] Digest: 3 matches (scam)"


def test_digest_empty_is_not_sent_without_send_empty(tmp_path, backend):
    db = make_db(tmp_path, backend)
    channels = mbox_channel(tmp_path)
    policy = digest_policy()
    deliver(db, channels, policy, now=MON_0800 - timedelta(hours=1))
    deliver(db, channels, policy, now=MON_0800 + timedelta(seconds=1))
    assert read_mbox(tmp_path / "alerts.mbox") == []


def test_digest_send_empty_says_no_new_matches_once_per_firing(tmp_path, backend):
    db = make_db(tmp_path, backend)
    channels = mbox_channel(tmp_path)
    policy = digest_policy(send_empty=True)
    deliver(db, channels, policy, now=MON_0800 - timedelta(hours=1))  # first sight
    deliver(db, channels, policy, now=MON_0800 - timedelta(minutes=1))
    assert read_mbox(tmp_path / "alerts.mbox") == []
    for later in (timedelta(seconds=1), timedelta(minutes=5), timedelta(hours=3)):
        deliver(db, channels, policy, now=MON_0800 + later)
    (message,) = read_mbox(tmp_path / "alerts.mbox")
    assert message["Subject"] == "[newswatch] Digest: no new matches (gambling, scam)"
    assert text_of(message).count("No new matches.") == 2
    deliver(db, channels, policy, now=TUE_0800 + timedelta(seconds=1))
    assert len(read_mbox(tmp_path / "alerts.mbox")) == 2


def test_digest_muted_rule_is_recorded_not_sent(tmp_path, backend):
    db = make_db(tmp_path, backend)
    channels = mbox_channel(tmp_path)
    policy = digest_policy()
    set_mute(db, "rule", "scam", MON_0800 + timedelta(days=2), now=MON_0800 - timedelta(hours=3))
    article = add_article(db, "Raid while muted", published=MON_0800 - timedelta(hours=2))
    add_match(db, "scam", article, ["box"], when=MON_0800 - timedelta(hours=2))
    casino = add_article(db, "Casino raid", published=MON_0800 - timedelta(hours=2))
    add_match(db, "gambling", casino, ["box"], when=MON_0800 - timedelta(hours=2))
    deliver(db, channels, policy, now=MON_0800 - timedelta(hours=2))
    deliver(db, channels, policy, now=MON_0800 + timedelta(seconds=1))
    (message,) = read_mbox(tmp_path / "alerts.mbox")
    assert "Casino raid" in text_of(message) and "Raid while muted" not in text_of(message)
    assert states(db) == {"muted": 1, "sent": 1}
    (row,) = db.query("SELECT last_error FROM outbox WHERE state = 'muted'")
    assert row["last_error"].startswith("muted: rule scam is muted until 2026-11-25 08:00")


def hook_channels(receiver: WebhookReceiver) -> dict[str, WebhookChannel]:
    return {"box": WebhookChannel("box", url=receiver.url, timeout=5, secret="s3cret")}


def test_digest_is_delivered_exactly_once_across_restarts(tmp_path, webhook_receiver, backend):
    db_path = tmp_path / "newswatch.db"
    db = make_db(tmp_path, backend)
    policy = digest_policy()
    for index in range(3):
        article = add_article(db, f"Raid {index}", published=MON_0800 - timedelta(hours=index + 1))
        add_match(db, "scam", article, ["box"], when=MON_0800 - timedelta(hours=1))
    webhook_receiver.respond(503, headers={"Retry-After": "120"})
    outcome = deliver(db, hook_channels(webhook_receiver), policy, now=MON_0800)
    assert outcome["retrying"] == 1
    assert states(db) == {"bundled": 3}
    (notice,) = db.query("SELECT * FROM notices")
    assert notice["state"] == "retrying" and "503" in notice["last_error"]
    db.close()

    # A new process: same database, fresh channel objects.
    db = make_db(tmp_path, backend)
    if not backend.startswith("postgresql"):
        assert db_path.exists()
    retry_at = datetime.fromisoformat(notice["next_attempt"])
    assert retry_at - MON_0800 >= timedelta(seconds=120)
    assert (
        deliver(db, hook_channels(webhook_receiver), policy, now=retry_at - timedelta(seconds=1))
        == {}
    )
    assert deliver(db, hook_channels(webhook_receiver), policy, now=retry_at)["sent"] == 1
    assert deliver(db, hook_channels(webhook_receiver), policy, now=TUE_0800)["sent"] == 0
    first, second = webhook_receiver.wait_for(2)
    assert len(webhook_receiver.requests) == 2
    assert first.body == second.body
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == notice["key"]
    document = second.json()
    assert document["type"] == "digest" and document["count"] == 3
    assert [m["article"]["title"] for m in document["sections"][0]["matches"]] == [
        "Raid 0",
        "Raid 1",
        "Raid 2",
    ]
    assert states(db) == {"sent": 3}


def test_digest_failing_for_good_keeps_its_matches_for_a_retry(tmp_path, webhook_receiver, backend):
    db = make_db(tmp_path, backend)
    policy = Policy(
        retry=RetryPolicy(max_attempts=1),
        rules=digest_policy().rules,
        channels={"box": ChannelPolicy()},
        timezone=ZONE,
    )
    article = add_article(db, "Raid", published=MON_0800 - timedelta(hours=1))
    add_match(db, "scam", article, ["box"], when=MON_0800 - timedelta(hours=1))
    webhook_receiver.respond(404)
    assert deliver(db, hook_channels(webhook_receiver), policy, now=MON_0800)["failed"] == 1
    (notice,) = db.query("SELECT state, last_error FROM notices")
    assert notice["state"] == "failed" and "404" in notice["last_error"]
    assert states(db) == {"bundled": 1}
