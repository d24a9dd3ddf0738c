"""Webhook formats (json, slack, discord, teams): golden files, hostile text, size limits,
and real receivers answering 200, 400, 401, 429 and not at all."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alerts.channels.webhook import WebhookChannel
from alerts.errors import DeliveryError
from alerts.records import Digest, DigestSection
from alerts.render.formats import FORMATS, build_payload
from alerts.render.notices import render_any
from tests.alertkit import HOSTILE, KHMER_TITLE, make_digest, make_ops, notice_alert
from tests.docsamples import SAMPLES, TIMEZONE, documented_samples
from tests.peers import WebhookReceiver

GOLDEN = Path(__file__).resolve().parent / "data" / "chat"
REGEN = os.environ.get("NEWSWATCH_REGEN_GOLDEN") == "1"
ZONE = ZoneInfo("Asia/Phnom_Penh")
CASES = {
    "alert": notice_alert,
    "hostile": lambda: notice_alert(HOSTILE),
    "digest": make_digest,
    "ops_broken": make_ops,
    "ops_recovered": lambda: make_ops("recovered"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("format", sorted(FORMATS))
def test_chat_format_matches_golden_file(format: str, case: str) -> None:
    payload = build_payload(format, CASES[case](), ZONE)
    rendered = json.dumps(payload, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    path = GOLDEN / f"{format}.{case}.json"
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with NEWSWATCH_REGEN_GOLDEN=1"
    assert rendered == path.read_text(encoding="utf-8")


def strings(value: Any) -> list[str]:
    """Every string inside a JSON document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@pytest.mark.parametrize("format", sorted(FORMATS))
def test_chat_format_hostile_title_cannot_break_lines_or_direction(format: str) -> None:
    payload = build_payload(format, notice_alert(HOSTILE), ZONE)
    for text in strings(payload):
        assert "\r" not in text and "\u202e" not in text


def test_slack_escapes_markup_and_mentions() -> None:
    payload = build_payload("slack", notice_alert(HOSTILE), ZONE)
    header = payload["blocks"][0]["text"]
    assert header["type"] == "plain_text" and "<!channel>" in header["text"]  # shown, not parsed
    mrkdwn = [
        s for block in payload["blocks"][1:] for s in strings(block) if "<" in s or "&" in s
    ] + [payload["text"]]
    assert all("<!channel>" not in s and "<b>" not in s for s in mrkdwn)
    assert "&lt;!channel&gt;" in payload["text"]
    assert "∗bold∗" in payload["text"] and "*bold*" not in payload["text"]


def test_slack_digest_links_only_http_addresses() -> None:
    payload = build_payload("slack", make_digest(), ZONE)
    sections = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    joined = "\n".join(sections)
    assert (
        "<https://www.example.org/news/raid?id=7&lang=en|Police raid compound in Sihanoukville>"
        in joined
    )
    assert "ftp://" not in joined and KHMER_TITLE in joined
    assert "No new matches." in joined


def test_discord_escapes_markdown_and_pings_nobody() -> None:
    payload = build_payload("discord", notice_alert(HOSTILE), ZONE)
    assert payload["allowed_mentions"] == {"parse": []}
    (embed,) = payload["embeds"]
    assert "\\[fake\\](http://evil.example)" in embed["title"]  # no masked link
    assert "\\*bold\\*" in embed["title"] and "\\<!channel>" in embed["title"]
    assert "\\# head" not in embed["title"]  # "#" only makes a heading at a line start


def test_teams_keeps_feed_text_out_of_markdown_blocks() -> None:
    payload = build_payload("teams", notice_alert(HOSTILE), ZONE)
    card = payload["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert all(block["type"] == "RichTextBlock" for block in card["body"])
    runs = [run["text"] for block in card["body"] for run in block["inlines"]]
    assert any("[fake](http://evil.example)" in text for text in runs)
    highlighted = [r for b in card["body"] for r in b["inlines"] if r.get("highlight")]
    assert [r["text"] for r in highlighted] == ["scam compound"]


def discord_total(embed: dict[str, Any]) -> int:
    fields = embed.get("fields", [])
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in fields)
        + len(embed.get("footer", {}).get("text", ""))
    )


titles = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=400)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=14),
    title=titles,
)
def test_discord_digest_stays_within_discord_limits(shape: list[int], title: str) -> None:
    sections = tuple(
        DigestSection(
            f"rule-{index}-" + "x" * 30,
            tuple(notice_alert(f"{title} {n}", key=f"r.{index}.{n}") for n in range(count)),
        )
        for index, count in enumerate(shape)
    )
    digest = Digest("digest.1.hook", "digest", sections, until=datetime(2026, 11, 21, tzinfo=UTC))
    payload = build_payload("discord", digest, ZONE)
    embeds = payload["embeds"]
    assert 1 <= len(embeds) <= 10
    assert all(len(e["title"]) <= 256 and len(e.get("description", "")) <= 4096 for e in embeds)
    assert sum(discord_total(e) for e in embeds) <= 6000
    assert len(payload.get("content", "")) <= 2000


@settings(max_examples=40, deadline=None)
@example(title="𝔘" * 400, alerts=400, rules=1)
@example(title="ក" * 400, alerts=400, rules=40)
@given(title=titles, alerts=st.integers(min_value=0, max_value=400), rules=st.integers(1, 40))
def test_slack_and_teams_digests_stay_within_limits(title: str, alerts: int, rules: int) -> None:
    sections = tuple(
        DigestSection(
            f"rule-{r}",
            tuple(notice_alert(title, key=f"r.{r}.{n}") for n in range(alerts // rules)),
        )
        for r in range(rules)
    )
    digest = Digest("digest.1.hook", "digest", sections, until=datetime(2026, 11, 21, tzinfo=UTC))
    slack = build_payload("slack", digest, ZONE)
    assert len(slack["blocks"]) <= 50
    for block in slack["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    teams = build_payload("teams", digest, ZONE)
    # as the webhook channel sends it
    sent = json.dumps(teams, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert len(sent) < 28_000


def channel_for(receiver: WebhookReceiver, format: str, **options: Any) -> WebhookChannel:
    return WebhookChannel(
        "team-chat",
        url=receiver.url,
        format=format,
        timeout=options.pop("timeout", 5.0),
        timezone="Asia/Phnom_Penh",
        **options,
    )


@pytest.mark.parametrize("format", ["slack", "discord", "teams"])
def test_chat_channel_posts_its_format(webhook_receiver: WebhookReceiver, format: str) -> None:
    webhook_receiver.respond(204 if format == "discord" else 200)
    asyncio.run(channel_for(webhook_receiver, format, secret="k").send(make_digest()))
    (request,) = webhook_receiver.wait_for(1)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "digest.3.hook"
    assert request.json() == build_payload(format, make_digest(), ZONE)


def test_chat_channel_429_retry_after_is_honoured(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(429, headers={"Retry-After": "12"}, body='{"retry_after": 12.0}')
    with pytest.raises(DeliveryError) as info:
        asyncio.run(channel_for(webhook_receiver, "discord").send(notice_alert()))
    assert not info.value.permanent and info.value.retry_after == 12.0


def test_chat_channel_400_names_the_format(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(400, body="invalid_blocks")
    with pytest.raises(DeliveryError) as info:
        asyncio.run(channel_for(webhook_receiver, "slack").send(notice_alert()))
    assert info.value.permanent
    assert "invalid_blocks" in info.value.message
    assert "slack webhook address" in (info.value.hint or "")


def test_chat_channel_401_is_permanent(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond(401)
    with pytest.raises(DeliveryError) as info:
        asyncio.run(channel_for(webhook_receiver, "teams").send(make_ops()))
    assert info.value.permanent and "401" in info.value.message


def test_chat_channel_hanging_receiver_times_out(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.hang()
    with pytest.raises(DeliveryError) as info:
        asyncio.run(channel_for(webhook_receiver, "slack", timeout=0.5).send(notice_alert()))
    assert not info.value.permanent and "timed out" in info.value.message


def test_json_digest_and_source_documents_are_versioned() -> None:
    digest = build_payload("json", make_digest(), ZONE)
    assert digest["version"] == 1 and digest["type"] == "digest" and digest["count"] == 3
    assert digest["since"] == "2026-11-20T01:00:00+00:00"  # always UTC
    assert [s["rule"] for s in digest["sections"]] == ["gambling", "scam", "quiet"]
    assert digest["sections"][1]["matches"][0]["id"] == "scam.9.hook"
    source = build_payload("json", make_ops(), ZONE)
    assert source["type"] == "source" and source["status"] == "broken"
    assert source["source"] == {"name": "khmer-times", "url": "https://www.khmertimeskh.com/feed/"}
    assert datetime.fromisoformat(source["detected"]) - datetime(
        2026, 11, 21, 2, tzinfo=UTC
    ) == timedelta(0)


def test_docs_show_every_format_and_message_kind() -> None:
    shown = {(fmt, name) for fmt, name, _ in documented_samples()}
    assert set(FORMATS) <= {fmt for fmt, _ in shown}
    assert {("slack", "alert"), ("discord", "digest"), ("teams", "alert")} <= shown
    assert {("json", "digest"), ("json", "ops"), ("email", "digest"), ("email", "ops")} <= shown


@pytest.mark.parametrize(("fmt", "name", "block"), documented_samples())
def test_docs_samples_are_what_newswatch_sends(fmt: str, name: str, block: str) -> None:
    item = SAMPLES[name]
    if fmt == "email":
        rendered = render_any(item, timezone=TIMEZONE)
        assert block == f"Subject: {rendered.subject}\n\n{rendered.text}"
    else:
        assert json.loads(block) == build_payload(fmt, item, ZoneInfo(TIMEZONE))
