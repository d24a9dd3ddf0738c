"""Human-friendly durations ("90s", "10m", "1h30m") and sizes ("512KB", "10MB").

Durations are parsed exactly, with :class:`~decimal.Decimal`, so that
``parse_duration(format_duration(td)) == td`` for every positive ``td``.
Sizes use binary multiples: 1 KB is 1024 bytes, as in most download limits.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

_MICROS = {
    "w": 7 * 86_400_000_000,
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
}
_NUMBER = r"\d+(?:\.\d+)?"
_PLAIN_NUMBER = re.compile(rf"{_NUMBER}")
_COMPONENT = re.compile(rf"\s*({_NUMBER})\s*([wdhms])\s*")
_MAX_MICROS = (timedelta.max.days + 1) * _MICROS["d"] - 1

DURATION_EXAMPLES = '"90s", "10m", "2h", "1d" or seconds'

_SIZE = re.compile(rf"({_NUMBER})\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
SIZE_EXAMPLES = '"512KB", "10MB", "1GB" or a number of bytes'


def parse_duration(value: str | int | float) -> timedelta:
    """Turn "90s", "10m", "2h", "1d", "1w", "1h30m" or a number of seconds into a timedelta.

    Raises ValueError with a message that quotes the value when it is not a positive duration.
    """
    micros = _duration_micros(value)
    if micros <= 0:
        raise ValueError(f"invalid duration {value!r} (must be more than zero)")
    if micros > _MAX_MICROS:
        raise ValueError(f"invalid duration {value!r} (too large)")
    return timedelta(microseconds=micros)


def _duration_micros(value: str | int | float) -> int:
    """The value in whole microseconds, rounded half-even; ValueError if it is not a duration."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"invalid duration {value!r} (expected a string like {DURATION_EXAMPLES})")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"invalid duration {value!r} (expected a finite number of seconds)")
        # str() of a float is its shortest repr, so 0.1 stays 0.1, not 0.1000000000000000055
        return _to_micros(Decimal(str(value)), "s")
    text = value.strip()
    if _PLAIN_NUMBER.fullmatch(text):
        return _to_micros(Decimal(text), "s")
    total, seen, pos = 0, set(), 0
    for match in _COMPONENT.finditer(text):
        if match.start() != pos or match.group(2) in seen:
            break
        seen.add(match.group(2))
        total += _to_micros(Decimal(match.group(1)), match.group(2))
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"invalid duration {value!r} (expected like {DURATION_EXAMPLES})")
    return total


def _to_micros(number: Decimal, unit: str) -> int:
    """``number`` of ``unit`` in microseconds."""
    try:
        scaled = (number * _MICROS[unit]).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    except InvalidOperation as exc:  # far beyond any real duration
        raise ValueError(f"invalid duration '{number}{unit}' (too large)") from exc
    return int(scaled)


def format_duration(td: timedelta) -> str:
    """Render a timedelta in the shortest form ``parse_duration`` reads back, e.g. "1h30m"."""
    micros = (td.days * 86_400 + td.seconds) * 1_000_000 + td.microseconds
    if micros == 0:
        return "0s"
    if micros < 0:
        return "-" + format_duration(-td)
    parts = []
    for unit in ("w", "d", "h", "m"):
        count, micros = divmod(micros, _MICROS[unit])
        if count:
            parts.append(f"{count}{unit}")
    seconds, fraction = divmod(micros, 1_000_000)
    if fraction:
        parts.append(f"{seconds}.{fraction:06d}".rstrip("0") + "s")
    elif seconds:
        parts.append(f"{seconds}s")
    return "".join(parts)


def parse_size(value: str | int) -> int:
    """Turn "512KB", "10MB", "1GB" (binary multiples) or a number into a positive byte count."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"invalid size {value!r} (expected like {SIZE_EXAMPLES})")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.fullmatch(value.strip())
        if not match:
            raise ValueError(f"invalid size {value!r} (expected like {SIZE_EXAMPLES})")
        multiple = _SIZE_UNITS[match.group(2).lower()]
        size = int(Decimal(match.group(1)) * multiple)
    if size <= 0:
        raise ValueError(f"invalid size {value!r} (must be at least one byte)")
    return size


def format_size(size: int) -> str:
    """Render a byte count with the largest unit that divides it exactly, e.g. "10MB"."""
    for suffix, multiple in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size and size % multiple == 0:
            return f"{size // multiple}{suffix}"
    return f"{size}B"
