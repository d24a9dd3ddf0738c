"""Load ``config.toml`` once into frozen, typed models, or fail with every problem at once.

    config = load_config("config.toml")           # or $NEWSWATCH_CONFIG, else ./config.toml
    config.sources["khmer-times"].to_source()     # crawler.models.Source
    config.rules["scam-crackdown"].channels       # ("team-mail", "team-hook")

``${VAR}`` in any string value is read from the environment at load (``$${`` is a literal
``${``); after loading nothing reads the environment or the raw TOML again. Relative paths
are relative to the config file's folder. See docs/configuration.md for every key.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from difflib import get_close_matches
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from scheduler.config_models import (
    CHANNEL_TYPES,
    DEFAULT_SMTP_PORTS,
    DEFAULT_USER_AGENT,
    SOURCE_TYPES,
    ChannelSettings,
    Config,
    EmailChannelSettings,
    GoogleNewsSource,
    HtmlSource,
    MboxChannelSettings,
    RssSource,
    RuleSettings,
    ServiceSettings,
    SitemapSource,
    SourceSettings,
    WebhookChannelSettings,
    WebSettings,
)
from scheduler.config_problems import Problem, describe, dotted, translate
from scheduler.config_types import FromEnvironment
from scheduler.errors import ConfigError

logger = logging.getLogger(__name__)

CONFIG_ENV_VAR = "NEWSWATCH_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.toml")
SECTIONS = ("service", "web", "sources", "rules", "channels")

# "$${" escapes, "${NAME}" expands, and any other "${" is a mistake worth reporting.
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{[^}]*\}?")
_TOML_HINTS = {
    "Invalid value": 'strings need quotes, e.g. interval = "10m"',
    "Expected newline": 'one key per line, and strings need quotes, e.g. interval = "10m"',
    "Cannot overwrite": "a key or table is defined twice",
    "Cannot declare": "a table is defined twice",
}
_TYPE_HINTS = {
    "atom": 'Atom and RDF feeds use type = "rss"',
    "rdf": 'Atom and RDF feeds use type = "rss"',
    "feed": 'feeds use type = "rss"',
    "smtp": 'use type = "email"',
    "mail": 'use type = "email"',
}

M = TypeVar("M", bound=BaseModel)

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_SMTP_PORTS",
    "DEFAULT_USER_AGENT",
    "ChannelSettings",
    "Config",
    "EmailChannelSettings",
    "HtmlSource",
    "MboxChannelSettings",
    "Problem",
    "GoogleNewsSource",
    "RssSource",
    "RuleSettings",
    "ServiceSettings",
    "SitemapSource",
    "SourceSettings",
    "WebSettings",
    "WebhookChannelSettings",
    "load_config",
]


def load_config(
    path: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    text: str | None = None,
) -> Config:
    """Read and validate the configuration; raise ConfigError listing every problem found.

    ``path`` defaults to ``$NEWSWATCH_CONFIG``, else ``./config.toml``. ``environ`` (default
    ``os.environ``) is the only place environment variables are read from. ``text``
    validates that content as if it were the file at ``path`` (before saving an edit).
    """
    env = os.environ if environ is None else environ
    given = path if path is not None else env.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH
    file = Path(os.path.abspath(given))
    raw = _read_toml(file, given, text)
    problems: list[Problem] = []
    data = _expand(raw, [], env, problems)
    config = _build(data, file, env, problems)
    if problems or config is None:
        raise ConfigError(problems, path=given)
    logger.debug(
        "loaded %s: %d sources, %d rules, %d channels",
        file,
        len(config.sources),
        len(config.rules),
        len(config.channels),
    )
    return config


def _read_toml(file: Path, shown: Path | str, text: str | None = None) -> dict[str, Any]:
    """Parse the file (or ``text``); a missing file, unreadable file or syntax error is a
    ConfigError."""

    def fail(message: str, hint: str | None = None) -> ConfigError:
        return ConfigError([Problem("", message, hint)], path=shown)

    try:
        if text is None:
            text = file.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        hint = (
            f"pass the path of your config file with --config or set {CONFIG_ENV_VAR}, "
            "or write a commented starter config with: newswatch init"
        )
        raise fail(f"file not found ({file})", hint) from exc
    except OSError as exc:
        raise fail(f"cannot read the file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text (bad byte at offset {exc.start})", "save as UTF-8") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        syntax_hint = next((h for key, h in _TOML_HINTS.items() if str(exc).startswith(key)), None)
        raise fail(f"invalid TOML: {exc}", syntax_hint) from exc


def _expand(
    value: Any, loc: list[str | int], env: Mapping[str, str], problems: list[Problem]
) -> Any:
    """Return ``value`` with ``${VAR}`` expanded in every string, however deeply nested."""
    if isinstance(value, str):
        return _expand_string(value, loc, env, problems)
    if isinstance(value, list):
        return [_expand(item, [*loc, i], env, problems) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _expand(item, [*loc, key], env, problems) for key, item in value.items()}
    return value


def _expand_string(
    text: str, loc: list[str | int], env: Mapping[str, str], problems: list[Problem]
) -> str:
    expanded = False

    def replace(match: re.Match[str]) -> str:
        nonlocal expanded
        if match.group(0) == "$${":
            return "${"
        name = match.group(1)
        if name is None:
            problems.append(
                Problem(
                    dotted(loc),
                    f"invalid variable reference {match.group(0)!r} (expected ${{NAME}})",
                    "names use letters, digits and '_'; write $${ for a literal ${",
                )
            )
            return ""
        if name not in env:
            problems.append(
                Problem(
                    dotted(loc),
                    f"environment variable {name} is not set",
                    f"set {name} where newswatch runs; write $${{ for a literal ${{",
                )
            )
            return ""
        expanded = True
        return env[name]

    result = _REFERENCE.sub(replace, text)
    # Marked so that a number or boolean read from the environment can be converted.
    return FromEnvironment(result) if expanded else result


def _build(
    data: dict[str, Any], file: Path, env: Mapping[str, str], problems: list[Problem]
) -> Config | None:
    """Validate every section, collecting problems; the Config only when there are none."""
    reported = {problem.path for problem in problems}
    found: list[Problem] = []
    for key in data:
        if key not in SECTIONS:
            close = get_close_matches(key, SECTIONS, n=1)
            message = f"unknown key (did you mean {close[0]!r}?)" if close else "unknown key"
            found.append(Problem(dotted([key]), message, f"sections are: {', '.join(SECTIONS)}"))
    context = {"folder": file.parent, "environ": env}
    service = _validate(ServiceSettings, data.get("service", {}), ["service"], context, found)
    web = _validate(WebSettings, data.get("web", {}), ["web"], context, found)
    sources = {
        name: model
        for name, table in _tables(data, "sources", found)
        if (model := _validate_source(name, table, context, found)) is not None
    }
    rules = {
        name: rule
        for name, table in _tables(data, "rules", found)
        if (rule := _validate(RuleSettings, table, ["rules", name], context, found)) is not None
    }
    channels = {
        name: channel
        for name, table in _tables(data, "channels", found)
        if (channel := _validate_variant("channel", name, table, context, found)) is not None
    }
    found.extend(_cross_references(data))
    # A missing variable already explains any complaint about the value it left behind.
    problems.extend(p for p in found if not any(_under(p.path, r) for r in reported))
    if problems or service is None or web is None:
        return None
    return Config(
        service=service,
        web=web,
        sources=sources,
        rules=rules,
        channels=channels,
        path=file,
        folder=file.parent,
    )


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith((f"{parent}.", f"{parent}["))


def _tables(
    data: dict[str, Any], section: str, problems: list[Problem]
) -> Iterator[tuple[str, Any]]:
    """The ``[section.NAME]`` tables, in file order; the section must itself be a table."""
    entries = data.get(section, {})
    if not isinstance(entries, dict):
        problems.append(
            Problem(
                section, f"expected a table, found {describe(entries)}", f"write [{section}.NAME]"
            )
        )
        return
    yield from entries.items()


def _validate(
    model: type[M],
    table: Any,
    loc: list[str | int],
    context: dict[str, Any],
    problems: list[Problem],
    family: Mapping[str, type[BaseModel]] | None = None,
) -> M | None:
    """Validate one table against ``model``; on failure record its problems and return None."""
    try:
        return model.model_validate(table, context=context)
    except ValidationError as exc:
        problems.extend(translate(exc.errors(include_url=False), loc, model, family))
        return None


def _validate_variant(
    kind: str, name: str, table: Any, context: dict[str, Any], problems: list[Problem]
) -> Any:
    """Pick the model for a source or channel table by its ``type`` key, then validate it."""
    family: Mapping[str, type[BaseModel]] = SOURCE_TYPES if kind == "source" else CHANNEL_TYPES
    loc: list[str | int] = [f"{kind}s", name]
    if not isinstance(table, dict):
        message = f"expected a table, found {describe(table)}"
        problems.append(Problem(dotted(loc), message, f"write [{kind}s.{name}] and its keys"))
        return None
    type_name = table.get("type")
    expected = f"(expected one of: {', '.join(family)})"
    if type_name is None:
        problems.append(Problem(dotted([*loc, "type"]), f"required key is missing {expected}"))
        return None
    if not isinstance(type_name, str) or type_name not in family:
        shown = repr(type_name) if isinstance(type_name, str) else describe(type_name)
        close = get_close_matches(str(type_name), family, n=1)
        hint = _type_hint(kind, str(type_name).lower()) or (
            f"did you mean {close[0]!r}?" if close else None
        )
        message = f"unknown {kind} type {shown} {expected}"
        problems.append(Problem(dotted([*loc, "type"]), message, hint))
        return None
    return _validate(family[type_name], table, loc, context, problems, family)


def _type_hint(kind: str, type_name: str) -> str | None:
    """The right ``type`` for a common wrong one, such as a webhook format as a channel type."""
    from alerts.render.formats import FORMATS

    if kind == "channel" and type_name in FORMATS:
        return f'use type = "webhook" with format = "{type_name}"'
    return _TYPE_HINTS.get(type_name)


def _validate_source(
    name: str, table: Any, context: dict[str, Any], problems: list[Problem]
) -> SourceSettings | None:
    """Validate a source table; its ``name`` is the table key, not a key inside it."""
    if isinstance(table, dict) and "name" in table:
        problems.append(
            Problem(
                dotted(["sources", name, "name"]),
                "unknown key (a source's name is its table key)",
                f"rename the table instead: [sources.{name}]",
            )
        )
        table = {key: value for key, value in table.items() if key != "name"}
    if isinstance(table, dict):
        table = {**table, "name": name}
    found: list[Problem] = []
    model = _validate_variant("source", name, table, context, found)
    # The name check reports at the table itself: the name *is* the table key.
    name_path = dotted(["sources", name, "name"])
    problems.extend(
        Problem(dotted(["sources", name]), p.message, p.hint) if p.path == name_path else p
        for p in found
    )
    return model


def _cross_references(data: dict[str, Any]) -> list[Problem]:
    """Rules and ops_channels must name channels and sources that are defined."""
    problems: list[Problem] = []
    defined = {
        section: set(data[section]) if isinstance(data.get(section), dict) else set()
        for section in ("sources", "channels")
    }
    service = data.get("service")
    if isinstance(service, dict):
        _check_names(service.get("ops_channels"), ["service", "ops_channels"], defined, problems)
        web = data.get("web")
        if "health" in service and isinstance(web, dict) and "listen" in web:
            problems.append(
                Problem(
                    "service.health",
                    "[web] listen replaces this key; both are set",
                    "remove service.health: [web] listen serves /healthz and /metrics too",
                )
            )
    rules = data.get("rules")
    for name, rule in rules.items() if isinstance(rules, dict) else ():
        if isinstance(rule, dict):
            for section in ("channels", "sources"):
                _check_names(rule.get(section), ["rules", name, section], defined, problems)
    return problems


def _check_names(
    names: Any, loc: list[str | int], defined: dict[str, set[str]], problems: list[Problem]
) -> None:
    section = str(loc[-1]).replace("ops_", "")
    known = defined[section]
    kind = section.removesuffix("s")
    for index, name in enumerate(names if isinstance(names, list) else ()):
        if not isinstance(name, str) or name in known:
            continue
        listing = (
            f"defined {section}: {', '.join(sorted(known))}"
            if known
            else f"no {section} are defined"
        )
        close = get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"add a [{section}.{name}] table"
        problems.append(
            Problem(dotted([*loc, index]), f"unknown {kind} {name!r} ({listing})", hint)
        )
