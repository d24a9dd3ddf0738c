"""Field types for the configuration models: durations, sizes, URLs, regexes, selectors...

Each check runs once, when the configuration is loaded, so a bad value is reported with its
key instead of failing later inside a job. Checks raise :func:`invalid`, whose message and
hint the loader turns into a :class:`scheduler.config_problems.Problem`.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import zoneinfo
from datetime import timedelta
from difflib import get_close_matches
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from cssselect import SelectorError
from lxml import etree
from parsel.csstranslator import css2xpath
from pydantic import AfterValidator, BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from crawler.durations import parse_duration, parse_size

logger = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_LANGUAGE = re.compile(r"[a-z]{2}")
_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")


def invalid(
    message: str, hint: str | None = None, *, key: str | None = None
) -> PydanticCustomError:
    """A validation error whose text is used verbatim as the problem message.

    ``key`` names the offending key when a check on a whole table raises it, so the problem
    points at ``channels.x.password`` rather than at ``channels.x``.
    """
    context = {"reason": message, "hint": hint, "key": key}
    return PydanticCustomError("newswatch", "{reason}", context)


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise invalid(f"invalid duration '{value}' (must be more than zero)")
        return value
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise invalid(str(exc)) from exc


def _size(value: Any) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise invalid(str(exc), "KB, MB and GB are multiples of 1024 bytes") from exc


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise invalid(
            f"invalid URL {value!r} (expected an http:// or https:// address)",
            "write the full address, e.g. https://www.khmertimeskh.com/feed/",
        )
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise invalid(
            f"invalid regular expression {value!r}: {exc}",
            r"patterns are Python regexes; escape literal dots and brackets, e.g. \.html$",
        ) from exc
    return value


def _selector(value: str) -> str:
    try:
        css2xpath(value)
        return value
    except SelectorError:
        pass
    try:
        etree.XPath(value)
        return value
    except etree.XPathError:
        pass
    raise invalid(
        f'invalid selector {value!r} (expected a CSS selector like "h2 a" '
        'or an XPath expression like "//h2/a")'
    )


def _language(value: str) -> str:
    code = value.strip().lower()
    if not _LANGUAGE.fullmatch(code):
        raise invalid(
            f"invalid language code {value!r} (expected a 2-letter ISO 639-1 code)",
            'e.g. "en" for English, "km" for Khmer, "zh" for Chinese',
        )
    return code


def _email_address(value: str) -> str:
    found = getaddresses([value])
    # A line break would let the address add headers to every message.
    if len(found) != 1 or not _ADDRESS.fullmatch(found[0][1]) or any(c in value for c in "\r\n"):
        several = "list several recipients as separate strings in an array"
        raise invalid(
            f"invalid email address {value!r} (expected one address like "
            '"analyst@example.org" or "Analyst <analyst@example.org>")',
            several if len(found) > 1 else None,
        )
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        close = get_close_matches(value, zoneinfo.available_timezones(), n=1)
        hint = f"did you mean {close[0]!r}?" if close else None
        raise invalid(
            f'unknown time zone {value!r} (expected an IANA name like "Asia/Phnom_Penh")',
            hint,
        ) from exc
    return value


def _crontab(value: str) -> str:
    from alerts.delivery.schedule import CRON_EXAMPLE, parse_cron

    try:
        parse_cron(value)
    except ValueError as exc:
        hint = f"five fields: minute hour day month weekday, e.g. {CRON_EXAMPLE}"
        raise invalid(str(exc), hint) from None
    return value


def split_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8787"`` / ``"[::1]:8787"`` / ``":8787"`` (localhost) as (host, port);
    ValueError if it is not HOST:PORT."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f'invalid address {text!r} (expected HOST:PORT like "127.0.0.1:8787")')
    return host.strip("[]") or "127.0.0.1", int(port_text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything


def _listen_address(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise invalid(f"invalid address {value!r} (expected HOST:PORT, e.g. '127.0.0.1:8787')")
    return value


def _password_hash(value: str) -> str:
    from scheduler.web.passwords import hash_problem

    problem = hash_problem(value)
    if problem:
        raise invalid(problem, "paste the whole line `newswatch hash-password` prints")
    return value


def _name(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise invalid(
            f"invalid name {value!r} (expected letters, digits, '_', '.' or '-', "
            "starting with a letter or digit)"
        )
    return value


def resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Make ``value`` absolute, relative to the config file's folder when loading one.

    ``~`` is the home folder; while loading, it comes from the ``HOME`` of the environment
    handed to the loader, so nothing else reads the process environment.
    """
    context = info.context if isinstance(info.context, dict) else {}
    folder = Path(context.get("folder") or Path.cwd())
    if value.parts and value.parts[0] == "~":
        if "environ" not in context:
            value = value.expanduser()
        elif context["environ"].get("HOME"):
            value = Path(context["environ"]["HOME"], *value.parts[1:])
        else:
            raise invalid(f"cannot expand '~' in '{value}': HOME is not set")
    return (folder / value).resolve()


def check_query(text: str) -> str:
    """Parse a rule query with ``alerts.rules.query`` so a syntax error is reported at load time."""
    try:
        from alerts.errors import QueryError
        from alerts.rules.query import parse_query
    except ModuleNotFoundError as exc:
        if exc.name not in ("alerts", "alerts.rules.query"):
            raise
        logger.debug("alerts.rules.query is not installed; rule queries are not checked")
        return text
    try:
        parse_query(text)
    except QueryError as exc:
        message = str(getattr(exc, "message", exc))
        position = getattr(exc, "position", None)
        if position is not None and "position" not in message:
            message = f"{message} at position {position}"
        hint = _query_hint(text, position)
        own_hint = getattr(exc, "hint", None)
        raise invalid(message, f"{own_hint}; {hint}" if own_hint else hint) from exc
    return text


def _query_hint(text: str, position: int | None) -> str:
    """Quote the query around the error so the spot is easy to find in a long expression."""
    if position is None:
        return 'operators are AND, OR, NOT; group with ( ) and quote phrases with ""'
    before = text[max(0, position - 25) : position]
    after = text[position : position + 25]
    if not before:
        return f"look at the start: {after!r}"
    return f"look at {after!r} after {before!r}"


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Size = Annotated[int, BeforeValidator(_size)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Regex = Annotated[str, AfterValidator(_regex)]
Selector = Annotated[str, AfterValidator(_selector)]
LanguageCode = Annotated[str, AfterValidator(_language)]
EmailAddress = Annotated[str, AfterValidator(_email_address)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
Name = Annotated[str, AfterValidator(_name)]
Query = Annotated[str, AfterValidator(check_query)]
Crontab = Annotated[str, AfterValidator(_crontab)]
ListenAddress = Annotated[str, AfterValidator(_listen_address)]
PasswordHash = Annotated[str, AfterValidator(_password_hash)]

__all__ = [
    "NAME_PATTERN",
    "Crontab",
    "ListenAddress",
    "PasswordHash",
    "Duration",
    "EmailAddress",
    "HttpUrl",
    "LanguageCode",
    "Name",
    "Query",
    "Regex",
    "Selector",
    "Size",
    "TimeZoneName",
    "check_query",
    "invalid",
    "is_loopback",
    "resolve_path",
    "split_address",
]
