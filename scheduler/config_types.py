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
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, PlainValidator, Strict, ValidationInfo
from pydantic_core import PydanticCustomError

from crawler.db import DatabaseTarget, PostgresUrl, postgres_url
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


class FromEnvironment(str):
    """A string value that ``${VAR}`` expansion produced, wholly or in part.

    Booleans and numbers are validated strictly, so ``port = "8025"`` is an error, not a
    silent conversion. A value read from the environment is always a string, though, so
    ``port = "${SMTP_PORT}"`` may hold a number: only such strings are converted.
    """


def _number_from_environment(kind: type[int] | type[float]) -> Any:
    def convert(value: Any) -> Any:
        if not isinstance(value, FromEnvironment):
            return value
        try:
            return kind(value.strip())
        except ValueError:
            return value  # left for the strict check to report

    return convert


def _bool_from_environment(value: Any) -> Any:
    if isinstance(value, FromEnvironment):
        return {"true": True, "false": False}.get(value.strip().lower(), value)
    return value


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


def _mute_url(value: str) -> str:
    parts = urlsplit(value)
    web = parts.scheme in ("http", "https") and parts.hostname
    mail = parts.scheme == "mailto" and "@" in parts.path
    if not (web or mail) or not value.isascii() or any(c.isspace() or c in "<>" for c in value):
        raise invalid(
            f"invalid address {value!r} (expected an http(s):// or mailto: address,"
            " percent-encoded)",
            'e.g. "mailto:newswatch-admin@example.org?subject=mute%20{rule}"; {rule} becomes'
            " the rule's name",
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
    # Imported here: only html sources have selectors, and parsel is slow to import.
    from cssselect import SelectorError
    from lxml import etree
    from parsel.csstranslator import css2xpath

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
    from email.utils import getaddresses  # the email package is slow to import

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


def _database(value: object) -> DatabaseTarget:
    """A path (an SQLite file) or a ``postgresql://user@host:port/name`` address."""
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        from scheduler.config_problems import describe

        found = describe(value) if value != "" else "an empty string"
        raise invalid(
            f"expected a file path string, found {found} (or a postgresql:// address)",
            'e.g. "newswatch.db" or "postgresql://newswatch:${PGPASSWORD}@db:5432/newswatch"',
        )
    url = postgres_url(value.strip())
    if url is None:
        if "://" in value:
            raise invalid(
                f"unknown database address {value!r}: only postgresql:// addresses and"
                " file paths are understood",
                'e.g. "postgresql://newswatch@127.0.0.1:5432/newswatch"',
            )
        return Path(value)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise invalid(f"invalid PostgreSQL address {url.redacted!r}: {exc}") from None
    if not parts.hostname or not parts.path.strip("/"):
        raise invalid(
            f"the PostgreSQL address {url.redacted!r} needs a host and a database name",
            'e.g. "postgresql://newswatch@127.0.0.1:5432/newswatch"',
        )
    return url


# [service] database: where everything is stored.
DatabaseSetting = Annotated[Path | PostgresUrl, PlainValidator(_database)]


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
        if position is not None and "\n" in text:
            line, column = line_column(text, position)
            message = f"{message} (query line {line}, column {column})"
        hint = _query_hint(text, position)
        own_hint = getattr(exc, "hint", None)
        raise invalid(message, f"{own_hint}; {hint}" if own_hint else hint) from exc
    return text


def _query_hint(text: str, position: int | None) -> str:
    """Quote the query around the error so the spot is easy to find in a long expression."""
    if position is None:
        return 'operators are AND, OR, NOT; group with ( ) and quote phrases with ""'
    # Line breaks are shown as spaces: a multi-line query's hint stays on one line.
    before = " ".join(text[max(0, position - 25) : position].split())
    after = " ".join(text[position : position + 25].split())
    if not before:
        return f"look at the start: '{after}'"
    return f"look at '{after}' after '{before}'"


def line_column(text: str, position: int) -> tuple[int, int]:
    """The 1-based line and column of a 0-based offset into ``text``."""
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


Bool = Annotated[bool, Strict(), BeforeValidator(_bool_from_environment)]
Int = Annotated[int, Strict(), BeforeValidator(_number_from_environment(int))]
Float = Annotated[float, Strict(), BeforeValidator(_number_from_environment(float))]


def _display_name(value: str) -> str:
    text = " ".join(value.split())
    if not text or len(text) > 200 or not text.isprintable():
        raise invalid(
            f"invalid title {value!r} (expected one line of 1 to 200 printable characters)",
            'the outlet\'s name as readers know it, e.g. "Khmer Times"',
        )
    return text


Duration = Annotated[timedelta, BeforeValidator(_duration)]
DisplayName = Annotated[str, AfterValidator(_display_name)]
Size = Annotated[int, BeforeValidator(_size)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
MuteUrl = Annotated[str, AfterValidator(_mute_url)]
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
    "Bool",
    "Float",
    "FromEnvironment",
    "Int",
    "Crontab",
    "DisplayName",
    "ListenAddress",
    "PasswordHash",
    "DatabaseSetting",
    "Duration",
    "EmailAddress",
    "HttpUrl",
    "LanguageCode",
    "MuteUrl",
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
