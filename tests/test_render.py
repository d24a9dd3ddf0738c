"""Rendering of alerts: golden files, hostile feed text, e-mail headers, webhook JSON."""

from __future__ import annotations

import email
import email.policy
import os
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.errors import RenderError
from alerts.render.message import (
    build_email,
    message_id,
    normalize_highlights,
    render_message,
    webhook_payload,
)
from alerts.rules.snippets import Snippet
from tests.alertkit import URDU_TITLE, make_alert, snip
from tests.corpus import CORPUS

GOLDEN = Path(__file__).resolve().parent / "data" / "render"
REGEN = os.environ.get("NEWSWATCH_REGEN_GOLDEN") == "1"

KHMER_TITLE = "ប៉ូលិសវាយឆ្មក់​ទីតាំង​បោកប្រាស់​តាម​អនឡាញ​នៅ​ក្រុង​ព្រះសីហនុ"
URDU_TEXT = (
    "پولیس نے سیہانوک ویل میں آن لائن فراڈ کے ایک مرکز پر چھاپہ مار کر"
    " سینکڑوں پاکستانیوں کو بازیاب کرایا"
)


ENGLISH_TEXT = (
    "Police on Friday raided a suspected online scam compound in Sihanoukville, freeing "
    "more than 200 workers who said they had been trafficked and held against their will."
)

FEED_SUMMARY = (
    "Police in Preah Sihanouk province on Tuesday rescued 40 Indonesian nationals who said"
    " they had been trafficked from Indonesia and forced to work for an online scam operation"
    " in Ochheuteal commune."
)

GOLDEN_CASES = {
    "english": (
        make_alert(
            snippets=(snip(ENGLISH_TEXT, "scam compound", "trafficked"),),
            also=("Phnom Penh Post", "VOD English"),
        ),
        "Asia/Phnom_Penh",
    ),
    "khmer": (
        make_alert(
            KHMER_TITLE,
            language="km",
            source="Khmer news",
            snippets=(snip(KHMER_TITLE + " ប៉ូលិស​បាន​ជួយ​សង្គ្រោះ​ជនរងគ្រោះ", "បោកប្រាស់"),),
        ),
        "Asia/Phnom_Penh",
    ),
    "urdu": (
        make_alert(
            URDU_TITLE,
            language="ur",
            source="BBC Urdu",
            snippets=(snip(URDU_TEXT, "فراڈ"),),
            also=("Dawn",),
        ),
        "Asia/Karachi",
    ),
    "hostile": (
        make_alert(
            '<script>alert("x")</script> Raid\r\nBcc: evil@x \u202eyticilpmoc',
            url="javascript:alert(1)",
            source="<b>Evil</b> & Co",
            snippets=(snip("a <img src=x onerror=alert(1)> scam\x00 compound", "scam"),),
            also=("<i>Other</i>",),
        ),
        "UTC",
    ),
    "undated": (make_alert(published=None, also=()), "Europe/London"),
    # Issue 11: a 180-character feed summary, a title hit, a source with a display name.
    "feed_summary": (
        make_alert(
            "Police rescue 40 Indonesians from Sihanoukville compound",
            summary=FEED_SUMMARY,
            snippets=(snip(FEED_SUMMARY, "trafficked", "scam"),),
            source="local-wire",
            source_title="Khmer Times",
            also=("Cambodia News Gazette",),
            alert_id="4",
            key="scam-compounds.5.mail",
        ),
        "Asia/Phnom_Penh",
    ),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_render_matches_golden_files(case: str) -> None:
    alert, zone = GOLDEN_CASES[case]
    rendered = render_message(alert, timezone=zone)
    outputs = {
        f"{case}.subject.txt": rendered.subject + "\n",
        f"{case}.txt": rendered.text,
        f"{case}.html": rendered.html,
    }
    if REGEN:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, content in outputs.items():
            (GOLDEN / name).write_text(content, encoding="utf-8")
        pytest.skip("golden files regenerated")
    for name, content in outputs.items():
        path = GOLDEN / name
        assert path.exists(), f"{path} missing; run with NEWSWATCH_REGEN_GOLDEN=1"
        assert content == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_render_escapes_feed_markup_in_html() -> None:
    alert, _ = GOLDEN_CASES["hostile"]
    html = render_message(alert).html
    assert "<script" not in html
    assert "<img" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in html


def test_render_never_links_non_http_urls() -> None:
    alert, _ = GOLDEN_CASES["hostile"]
    html = render_message(alert).html
    assert "href=" not in html
    assert "javascript:alert(1)" in html  # shown as text so the reader sees what it was


def test_render_subject_is_one_clean_line() -> None:
    title = "Raid\r\nBcc: evil@x\x00\x1b[31m\u2028next\u202eevil\tend"
    subject = render_message(make_alert(title)).subject
    assert subject == "[newswatch] scam-crackdown: Raid Bcc: evil@x [31m nextevil end"
    assert not any(unicodedata.category(c) == "Cc" for c in subject)


def test_render_truncates_very_long_titles_at_a_word() -> None:
    title = " ".join(["compound"] * 300)
    rendered = render_message(make_alert(title))
    shown = rendered.subject.removeprefix("[newswatch] scam-crackdown: ")
    assert len(shown) <= 120
    assert shown.endswith("compound…")
    first_line = rendered.text.splitlines()[0]
    assert 400 < len(first_line) <= 500 and first_line.endswith("…")


def test_render_truncation_never_leaves_a_dangling_khmer_mark() -> None:
    title = KHMER_TITLE * 10
    shown = render_message(make_alert(title)).subject.removeprefix("[newswatch] scam-crackdown: ")
    assert shown.endswith("…")
    assert not unicodedata.category(shown[-2]).startswith("M")
    assert title.startswith(shown[:-1])


def test_render_marks_highlighted_terms_in_text_and_html() -> None:
    rendered = render_message(make_alert(snippets=(snip(ENGLISH_TEXT, "scam compound"),)))
    assert "**scam compound**" in rendered.text
    assert re.search(r"<strong style=\"[^\"]+\">scam compound</strong>", rendered.html)


def test_render_keeps_spaces_outside_text_markers() -> None:
    rendered = render_message(make_alert(snippets=(Snippet("a raid here", ((1, 7),)),)))
    assert "a **raid** here" in rendered.text


def test_normalize_highlights_clamps_sorts_and_merges() -> None:
    spans = ((8, 14), (5, 10), (-3, 2), (100, 200), (3, 3), ("x", 4), (12, 15))
    assert normalize_highlights(Snippet("0123456789abcdef", spans)) == [(0, 2), (5, 15)]


def test_render_shows_the_headline_once_and_the_short_summary_whole() -> None:
    # Issue 11: the headline came again as the first snippet; the summary was cut at 160.
    rendered = render_message(GOLDEN_CASES["feed_summary"][0])
    assert rendered.text.count("Police rescue 40 Indonesians") == 1
    assert "Ochheuteal commune." in rendered.text
    assert "…" not in rendered.text.split("-- ")[0]
    assert rendered.html.count("Police rescue 40 Indonesians") == 2  # <title>, headline


def test_render_shows_the_sources_display_name() -> None:
    rendered = render_message(GOLDEN_CASES["feed_summary"][0])
    assert "Source:     Khmer Times" in rendered.text
    assert "local-wire" not in rendered.text and "local-wire" not in rendered.html


def test_render_footer_names_the_alert_id_and_how_to_mute() -> None:
    rendered = render_message(GOLDEN_CASES["feed_summary"][0])
    footer = rendered.text.split("\n-- \n")[1]
    assert footer.startswith('newswatch alert 4, rule "scam-crackdown"')
    assert "scam-compounds.5.mail" not in rendered.text + rendered.html
    assert "newswatch mute scam-crackdown --for 7d" in footer
    assert "newswatch mute scam-crackdown --for 7d" in rendered.html


def test_render_drops_a_summary_that_only_repeats_the_headline() -> None:
    title = "Police rescue 40 Indonesians from Sihanoukville compound - Khmer Times"
    echo = "Police rescue 40 Indonesians from Sihanoukville compound\u00a0\u00a0Khmer Times"
    for alert in (
        make_alert(title, summary=echo),
        make_alert(title, summary=echo, snippets=(snip(echo, "Police"),)),
    ):
        assert render_message(alert).text.count("Police rescue 40") == 1


def test_render_hides_no_text() -> None:
    # Invisible preheaders score in spam filters (FONT_INVIS_*, HTML_FONT_LOW_CONTRAST).
    for alert, zone in GOLDEN_CASES.values():
        html = render_message(alert, timezone=zone).html
        assert "display:none" not in html.replace(" ", "")
        assert "max-height:0" not in html.replace(" ", "")


def test_render_summary_stands_in_when_there_are_no_snippets() -> None:
    rendered = render_message(make_alert(summary="Officers\n\nraided a compound."))
    assert "Officers raided a compound." in rendered.text
    assert "Officers raided a compound." in rendered.html


def test_render_template_dir_overrides_package_templates(tmp_path: Path) -> None:
    (tmp_path / "subject.txt.j2").write_text("ALERT {{ rule }} / {{ source }}\n")
    rendered = render_message(make_alert(), template_dir=tmp_path)
    assert rendered.subject == "ALERT scam-crackdown / Khmer Times"
    assert "Police raid compound in Sihanoukville" in rendered.text  # package template


def test_render_user_html_templates_are_autoescaped(tmp_path: Path) -> None:
    (tmp_path / "body.html.j2").write_text("<p>{{ title }}</p>")
    html = render_message(make_alert("<b>x</b>"), template_dir=tmp_path).html
    assert html == "<p>&lt;b&gt;x&lt;/b&gt;</p>"


def test_render_reports_template_syntax_errors_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "body.txt.j2").write_text("line one\n{% if title %}\nno endif\n")
    with pytest.raises(RenderError, match=r"body\.txt\.j2, line \d"):
        render_message(make_alert(), template_dir=tmp_path)


def test_render_reports_unknown_template_variables(tmp_path: Path) -> None:
    (tmp_path / "subject.txt.j2").write_text("{{ headline }}")
    with pytest.raises(RenderError, match="headline") as info:
        render_message(make_alert(), template_dir=tmp_path)
    assert "short_title" in str(info.value)  # the hint lists what is available


def test_render_rejects_unknown_timezone() -> None:
    with pytest.raises(ValueError, match="Asia/Phnom_Phen"):
        render_message(make_alert(), timezone="Asia/Phnom_Phen")


def test_render_shows_published_time_in_the_given_zone() -> None:
    text = render_message(make_alert(), timezone="Asia/Phnom_Penh").text
    assert "Published:  2024-05-03 14:05 UTC+07:00 (Asia/Phnom_Penh)" in text
    assert "Published:  2024-05-03 07:05 UTC\n" in render_message(make_alert()).text


def _parse(msg: email.message.EmailMessage) -> email.message.EmailMessage:
    return email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)


def test_build_email_is_multipart_alternative_text_then_html() -> None:
    msg = _parse(build_email(make_alert(), sender="nw@example.org", to=["a@example.org"]))
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["To"] == "a@example.org"


def test_build_email_message_id_is_stable_and_derived_from_key() -> None:
    alert = make_alert()
    first = build_email(alert, sender="nw@example.org", to=["a@example.org"])
    second = build_email(alert, sender="nw@example.org", to=["b@example.org"])
    assert (
        first["Message-ID"] == second["Message-ID"] == "<scam-crackdown.42.team-mail@example.org>"
    )
    assert _parse(first)["X-Newswatch-Key"] == "scam-crackdown.42.team-mail"


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("Newswatch <newswatch@Alerts.Example.org>", "alerts.example.org"),
        ("nw@bücher.de", "xn--bcher-kva.de"),
        ("nw@localhost", "localhost"),
        ("nw@[192.0.2.1]", "newswatch.invalid"),
    ],
)
def test_build_email_message_id_domain_is_the_senders(sender: str, domain: str) -> None:
    # Spam filters score a Message-ID whose domain has nothing to do with the sender.
    msg = build_email(make_alert(), sender=sender, to=["a@example.org"])
    assert msg["Message-ID"] == f"<scam-crackdown.42.team-mail@{domain}>"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("rule.7.mail", "<rule.7.mail@newswatch.invalid>"),
        ("rule:7<x>", "<rule=3A7=3Cx=3E@newswatch.invalid>"),
        ("a=b", "<a=3Db@newswatch.invalid>"),
        (".a..b.", "<=2Ea=2E=2Eb=2E@newswatch.invalid>"),
    ],
)
def test_message_id_escapes_characters_a_msg_id_forbids(key: str, expected: str) -> None:
    assert message_id(key) == expected


def test_message_id_hashes_keys_that_would_be_too_long() -> None:
    long_id = message_id(":" * 200)
    assert re.fullmatch(r"<[0-9a-f]{64}@newswatch\.invalid>", long_id)
    assert long_id == message_id(":" * 200) != message_id(":" * 199)


def test_build_email_cannot_be_header_injected() -> None:
    alert = make_alert("Raid\r\nBcc: evil@x\r\n\r\n<html>body")
    msg = build_email(alert, sender="nw@example.org", to=["a@example.org"])
    raw = msg.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"^Bcc:", head, re.MULTILINE | re.IGNORECASE)
    parsed = _parse(msg)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "[newswatch] scam-crackdown: Raid Bcc: evil@x <html>body"


@pytest.mark.parametrize(
    "title",
    [KHMER_TITLE, URDU_TITLE, KHMER_TITLE * 4, "word " * 60, "x" * 119, "=?utf-8?q?fake?= title"],
)
def test_build_email_subject_survives_encoding_and_folding(title: str) -> None:
    alert = make_alert(title)
    msg = build_email(alert, sender="nw@example.org", to=["a@example.org"])
    head = msg.as_bytes().split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # non-ASCII travels as RFC 2047 encoded words
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert _parse(msg)["Subject"] == render_message(alert).subject


@settings(max_examples=150, deadline=None)
@given(title=st.text(max_size=300))
def test_build_email_any_title_round_trips_without_new_headers(title: str) -> None:
    alert = make_alert(title)
    parsed = _parse(build_email(alert, sender="nw@example.org", to=["a@example.org"]))
    assert parsed["Subject"] == render_message(alert).subject
    assert set(parsed.keys()) == {
        "Subject",
        "From",
        "To",
        "Date",
        "Message-ID",
        "X-Newswatch-Key",
        "X-Newswatch-Rule",
        "Auto-Submitted",
        "MIME-Version",
        "Content-Type",
    }


def _corpus_titles() -> list[str]:
    feed = CORPUS / "feeds" / "real" / "miniflux__urdu_UTF8.xml"
    khmer = CORPUS / "khmer" / "km" / "khmer-nltk__samples_input.txt"
    if not feed.exists() or not khmer.exists():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    titles = [t.text or "" for t in ET.parse(feed).getroot().iter("title")]
    titles += khmer.read_text(encoding="utf-8").splitlines()
    return [t for t in titles if t.strip()]


def test_build_email_real_urdu_and_khmer_titles_survive() -> None:
    titles = _corpus_titles()
    assert len(titles) > 20
    for title in titles:
        alert = make_alert(title)
        msg = _parse(build_email(alert, sender="nw@example.org", to=["a@example.org"]))
        rendered = render_message(alert)
        assert msg["Subject"] == rendered.subject
        # MIME bodies travel with CRLF line ends.
        html = msg.get_body(("html",)).get_content().replace("\r\n", "\n")
        assert html == rendered.html
        text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert text == rendered.text


def test_webhook_payload_has_the_v1_shape() -> None:
    alert = make_alert(snippets=(Snippet("scam compound raid", ((0, 4), (5, 13))),), also=("VOD",))
    assert webhook_payload(alert, timezone="Asia/Phnom_Penh") == {
        "version": 1,
        "type": "match",
        "id": "scam-crackdown.42.team-mail",
        "alert_id": "57",
        "rule": "scam-crackdown",
        "article": {
            "url": "https://www.example.org/news/police-raid-compound?id=7&lang=en",
            "title": "Police raid compound in Sihanoukville",
            "source": "Khmer Times",
            "source_title": "Khmer Times",
            "published": "2024-05-03T14:05:00+07:00",
            "fetched": "2024-05-03T15:00:00+07:00",
            "summary": "Officers raided a compound in Sihanoukville on Friday.",
            "guid": "urn:example:7",
        },
        "snippets": [{"text": "scam compound raid", "highlights": [[0, 4], [5, 13]]}],
        "also_reported_by": ["VOD"],
    }


def test_webhook_payload_undated_article_has_null_published() -> None:
    assert webhook_payload(make_alert(published=None))["article"]["published"] is None


@pytest.mark.parametrize("key", ["", "has space", "line\nbreak", "ключ", "x" * 257])
def test_alert_rejects_keys_unfit_for_headers(key: str) -> None:
    with pytest.raises(ValueError, match="alert key"):
        make_alert(key=key)


@pytest.mark.parametrize("words", range(4, 20))
def test_build_email_long_ascii_subject_has_no_leading_space(words: int) -> None:
    alert = make_alert(" ".join(["Test alert: police raid"] * words))
    msg = build_email(alert, sender="nw@example.org", to=["a@example.org"])
    head = msg.as_bytes().split(b"\r\n\r\n", 1)[0]
    assert not head.startswith(b"Subject:\r\n")
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert _parse(msg)["Subject"] == render_message(alert).subject
