"""Durations ("90s", "1h30m") and sizes ("10MB") as written in config.toml."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.durations import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1h 30m 15s", timedelta(hours=1, minutes=30, seconds=15)),
        ("  10m  ", timedelta(minutes=10)),
        ("1.5h", timedelta(minutes=90)),
        ("0.25s", timedelta(milliseconds=250)),
        ("90", timedelta(seconds=90)),
        ("2.5", timedelta(seconds=2.5)),
    ],
)
def test_parse_duration_reads_text(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "number, expected",
    [(90, timedelta(seconds=90)), (0.1, timedelta(milliseconds=100)), (3600.0, timedelta(hours=1))],
)
def test_parse_duration_reads_numbers_as_seconds(number, expected):
    assert parse_duration(number) == expected


@pytest.mark.parametrize(
    "value",
    ["15 minutes", "", "  ", "h", "1.h", "10M", "1h1h", "-5m", "5x", "1h-30m", "m10"],
)
def test_parse_duration_rejects_malformed_text(value):
    with pytest.raises(ValueError, match="invalid duration") as caught:
        parse_duration(value)
    assert repr(value) in str(caught.value)
    assert '"90s", "10m", "2h", "1d"' in str(caught.value)


@pytest.mark.parametrize("value", ["0s", "0", 0, 0.0, -5, "0.0000001s"])
def test_parse_duration_rejects_zero_and_negative(value):
    with pytest.raises(ValueError, match=r"must be more than zero"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, None, [10], float("nan"), float("inf")])
def test_parse_duration_rejects_other_types(value):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)


def test_parse_duration_rejects_overflow():
    with pytest.raises(ValueError, match="too large"):
        parse_duration("99999999999d")
    with pytest.raises(ValueError, match="too large"):
        parse_duration("9" * 40 + "w")


@pytest.mark.parametrize(
    "td, text",
    [
        (timedelta(seconds=90), "1m30s"),
        (timedelta(minutes=15), "15m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=2), "2d"),
        (timedelta(days=15), "2w1d"),
        (timedelta(milliseconds=1500), "1.5s"),
        (timedelta(microseconds=1), "0.000001s"),
        (timedelta(0), "0s"),
        (-timedelta(hours=2), "-2h"),
    ],
)
def test_format_duration_is_short(td, text):
    assert format_duration(td) == text


@given(st.timedeltas(min_value=timedelta(microseconds=1)))
def test_format_duration_round_trips(td):
    text = format_duration(td)
    assert re.fullmatch(r"(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+(\.\d+)?s)?", text)
    assert parse_duration(text) == td


@given(st.integers(min_value=1, max_value=10**9))
def test_parse_duration_plain_seconds_match_timedelta(seconds):
    assert parse_duration(str(seconds)) == parse_duration(seconds) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("10MB", 10 * 1024 * 1024),
        ("512KB", 512 * 1024),
        ("1GB", 1024**3),
        ("10 MiB", 10 * 1024 * 1024),
        ("64k", 64 * 1024),
        ("1.5KB", 1536),
        ("100B", 100),
        ("100", 100),
        (4096, 4096),
    ],
)
def test_parse_size_reads_units(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["10 parsecs", "", "MB", "-1MB", "1e6", 0, -1, "0KB", True, 1.5])
def test_parse_size_rejects_bad_values(value):
    with pytest.raises(ValueError, match="invalid size") as caught:
        parse_size(value)
    assert repr(value) in str(caught.value)


@given(st.integers(min_value=1, max_value=2**50))
def test_format_size_round_trips(size):
    assert parse_size(format_size(size)) == size


def test_format_size_uses_largest_exact_unit():
    assert format_size(10 * 1024 * 1024) == "10MB"
    assert format_size(1536) == "1536B"
    assert format_size(3 * 1024**3) == "3GB"
