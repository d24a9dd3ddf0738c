"""docs/configuration.md documents every configuration key, with its real default."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from alerts.render.formats import FORMATS
from crawler.durations import format_duration, format_size
from scheduler.config import (
    GoogleNewsSource,
    HtmlSource,
    RssSource,
    RuleSettings,
    ServiceSettings,
    SitemapSource,
    WebSettings,
)
from scheduler.config_models import CHANNEL_TYPES
from scheduler.config_problems import toml_keys

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
MODELS: dict[str, list[type[BaseModel]]] = {
    "service.": [ServiceSettings],
    "web.": [WebSettings],
    "sources.<name>.": [RssSource, HtmlSource, SitemapSource, GoogleNewsSource],
    "rules.<name>.": [RuleSettings],
    "channels.<name>.": list(CHANNEL_TYPES.values()),
}
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$")


def documented_rows() -> dict[str, list[str]]:
    """Key -> the other cells of its row, from the table in docs/configuration.md."""
    rows: dict[str, list[str]] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is documented twice"
            cells = re.split(r"(?<!\\)\|", match.group(2))  # "\|" is a pipe inside a cell
            rows[match.group(1)] = [cell.strip() for cell in cells]
    return rows


def model_fields() -> list[tuple[str, type[BaseModel], str]]:
    """(documented key, model, attribute name) for every key of every model."""
    found = []
    for prefix, models in MODELS.items():
        for model in models:
            by_key = {f.alias or name: name for name, f in model.model_fields.items()}
            found.extend((prefix + key, model, by_key[key]) for key in toml_keys(model))
    return found


def rendered_default(value: Any, attribute: str) -> str:
    """How the docs are expected to write a model default."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, timedelta):
        return format_duration(value)
    if attribute == "max_size":
        return format_size(value)
    if isinstance(value, tuple | list):
        return "[]" if not value else str(list(value))
    return str(value)


def test_config_docs_table_is_found():
    rows = documented_rows()
    assert len(rows) >= 40
    assert all(len(cells) == 3 and all(cells) for cells in rows.values())


@pytest.mark.parametrize("key, model, attribute", model_fields())
def test_config_docs_documents_key(key, model, attribute):
    assert key in documented_rows(), f"{key} ({model.__name__}) missing from {DOCS.name}"


@pytest.mark.parametrize("key, model, attribute", model_fields())
def test_config_docs_default_matches_model(key, model, attribute):
    _type, default_cell, _help = documented_rows()[key]
    field = model.model_fields[attribute]
    if attribute == "type":
        assert default_cell == "required"  # the type picks the variant, so it has no default
        return
    default = field.get_default(call_default_factory=True)
    if default is PydanticUndefined:
        assert default_cell == "required", key
    else:
        assert rendered_default(default, attribute) in default_cell.replace("`", ""), key


def test_config_docs_has_no_stale_keys():
    known = {key for key, _model, _attribute in model_fields()}
    stale = set(documented_rows()) - known
    assert not stale, f"documented but not configurable: {sorted(stale)}"


@pytest.mark.parametrize(
    "key, names",
    [("channels.<name>.type", list(CHANNEL_TYPES)), ("channels.<name>.format", list(FORMATS))],
)
def test_config_docs_lists_every_choice(key, names):
    type_cell = documented_rows()[key][0]
    listed = type_cell.split(" *(")[0]
    assert listed == " \\| ".join(f"`{name}`" for name in names), key
