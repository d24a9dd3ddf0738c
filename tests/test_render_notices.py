"""Digest and operations e-mails: golden files, hostile text, user templates."""

from __future__ import annotations

import email
import email.policy
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.errors import RenderError
from alerts.records import Digest, DigestSection
from alerts.render.message import check_templates
from alerts.render.notices import email_for, render_any, render_digest
from tests.alertkit import HOSTILE, make_digest, make_ops, notice_alert

GOLDEN = Path(__file__).resolve().parent / "data" / "render"
REGEN = os.environ.get("NEWSWATCH_REGEN_GOLDEN") == "1"

CASES = {
    "digest": make_digest,
    "ops_broken": make_ops,
    "ops_recovered": lambda: make_ops("recovered"),
    "overflow": lambda: Digest(
        "overflow.5.mail",
        "overflow",
        (DigestSection("scam", (notice_alert(HOSTILE),)),),
        until=datetime(2026, 11, 21, 4, tzinfo=UTC),
        since=datetime(2026, 11, 21, 3, tzinfo=UTC),
        id="n5",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_notice_matches_golden_files(case: str) -> None:
    rendered = render_any(CASES[case](), timezone="Asia/Phnom_Penh")
    for suffix, content in (
        ("subject.txt", rendered.subject + "\n"),
        ("txt", rendered.text),
        ("html", rendered.html),
    ):
        path = GOLDEN / f"{case}.{suffix}"
        if REGEN:
            path.write_text(content, encoding="utf-8")
        assert path.exists(), f"missing golden file {path}; run with NEWSWATCH_REGEN_GOLDEN=1"
        assert content == path.read_text(encoding="utf-8"), path.name


def test_render_digest_escapes_hostile_titles_in_html() -> None:
    html = render_any(CASES["overflow"](), timezone="UTC").html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "\u202e" not in html
    text = render_any(CASES["overflow"](), timezone="UTC").text
    (title_line,) = [line for line in text.splitlines() if line.startswith("* Raid")]
    assert "# head Bcc: x@y" in title_line  # the CR/LF did not start a new line


def test_render_digest_subjects_say_why_matches_were_grouped() -> None:
    subject = render_any(CASES["overflow"]()).subject
    assert subject == "[newswatch] 1 more match (scam)"
    quiet = Digest(
        "quiet.6.mail",
        "quiet",
        (DigestSection("scam", (notice_alert(),) * 2),),
        until=datetime(2026, 11, 21, tzinfo=UTC),
    )
    assert render_digest(quiet).subject == "[newswatch] 2 matches held during quiet hours (scam)"


def test_render_digest_caps_each_rule_and_counts_the_rest() -> None:
    alerts = tuple(notice_alert(f"Raid {n}", key=f"scam.{n}.mail") for n in range(205))
    digest = Digest(
        "digest.8.mail",
        "digest",
        (DigestSection("scam", alerts),),
        until=datetime(2026, 11, 21, tzinfo=UTC),
    )
    text = render_digest(digest).text
    assert text.count("\n* ") == 200
    assert "... and 5 more matches for this rule" in text


def test_email_for_digest_has_stable_id_and_kind_headers() -> None:
    msg = email_for(make_digest(), sender="nw@example.org", to=["a@example.org"])
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == "<digest.3.hook@example.org>"
    assert parsed["X-Newswatch-Kind"] == "digest"
    assert parsed["X-Newswatch-Rule"] == "gambling, scam, quiet"
    ops = email_for(make_ops(), sender="nw@example.org", to=["a@example.org"])
    assert ops["X-Newswatch-Kind"] == "ops" and ops["X-Newswatch-Source"] == "khmer-times"


def test_user_template_replaces_the_digest_subject(tmp_path: Path) -> None:
    (tmp_path / "digest_subject.txt.j2").write_text(
        "DIGEST {{ count }} / {{ rules | join('+') }}\n"
    )
    rendered = render_digest(make_digest(), template_dir=tmp_path)
    assert rendered.subject == "DIGEST 3 / gambling+scam+quiet"
    assert "Second raid in Poipet" in rendered.text  # packaged body still used


def test_check_templates_reports_syntax_errors_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "ops.txt.j2").write_text("fine {{ source }}\n")
    (tmp_path / "digest.html.j2").write_text("<p>\n{% for x in sections %}\n")
    (problem,) = check_templates(tmp_path)
    assert re.match(r"template digest\.html\.j2, line \d+: ", problem)
    with pytest.raises(RenderError, match="digest.html.j2"):
        render_digest(make_digest(), template_dir=tmp_path)
