"""Editing config.toml from a program: comments and layout kept, invalid results never written."""

from __future__ import annotations

import os
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.config_edit import (
    config_version,
    edit_config,
    put_table,
    raw_table,
    read_config_text,
    remove_table,
    set_enabled,
)
from scheduler.errors import ConfigEditError, ConfigError
from tests.webkit import CONFIG


@pytest.fixture
def path(tmp_path):
    file = tmp_path / "config.toml"
    file.write_text(CONFIG, encoding="utf-8")
    return file


def lines_kept(before: str, after: str) -> bool:
    """Every comment line of ``before`` is still in ``after``."""
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    return all(line in after.splitlines() for line in comments)


def test_config_edit_updates_a_rule_in_place(path):
    edit_config(path, lambda doc: put_table(doc, "rules", "scam", {"query": "scam"}, create=False))
    text = path.read_text()
    assert 'query = "scam"   # raids on scam compounds' in text
    assert text.replace('query = "scam"   #', 'query = "scam AND raid"   #') == CONFIG


def test_config_edit_adds_a_rule_after_the_others(path):
    saved = edit_config(
        path,
        lambda doc: put_table(
            doc, "rules", "arrests", {"query": "arrest*", "channels": ["box"]}, create=True
        ),
    )
    text = path.read_text()
    assert lines_kept(CONFIG, text)
    assert text.index("[rules.casino]") < text.index("[rules.arrests]") < text.index("[channels")
    assert "\n\n[channels.box]" in text  # a blank line before the next table
    assert saved.config.rules["arrests"].query == "arrest*"
    assert saved.version == config_version(text)


def test_config_edit_new_key_goes_before_the_comments_of_the_next_table(path):
    edit_config(path, lambda doc: set_enabled(doc, "sources", "pp", False))
    text = path.read_text()
    assert 'url = "http://127.0.0.1:9/pp"\nenabled = false\n\n# --- Rules ---' in text
    edit_config(path, lambda doc: set_enabled(doc, "sources", "pp", True))
    assert path.read_text() == CONFIG


def test_config_edit_remove_keeps_the_comment_about_what_follows(path):
    edit_config(path, lambda doc: remove_table(doc, "sources", "pp"))
    text = path.read_text()
    assert "[sources.pp]" not in text and "# The Phnom Penh Post" not in text
    assert 'url = "http://127.0.0.1:9/kt"\n\n# --- Rules ---\n[rules.scam]' in text


def test_config_edit_invalid_result_is_not_written(path):
    before = path.read_bytes()
    with pytest.raises(ConfigError) as caught:
        edit_config(path, lambda doc: put_table(doc, "rules", "scam", {"query": "("}, create=False))
    assert caught.value.problems[0].path == "rules.scam.query"
    with pytest.raises(ConfigError, match="unknown source"):
        edit_config(
            path,
            lambda doc: put_table(doc, "rules", "scam", {"sources": ["nowhere"]}, create=False),
        )
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_config_edit_refuses_taken_or_bad_names(path):
    values = {"query": "x", "channels": ["box"]}
    with pytest.raises(ConfigEditError, match="already exists"):
        edit_config(path, lambda doc: put_table(doc, "rules", "scam", values, create=True))
    with pytest.raises(ConfigEditError, match="invalid rule name"):
        edit_config(path, lambda doc: put_table(doc, "rules", "a b", values, create=True))
    with pytest.raises(ConfigEditError, match="no source named"):
        edit_config(path, lambda doc: set_enabled(doc, "sources", "nope", False))


def test_config_edit_refuses_a_file_changed_since_it_was_read(path):
    _, version = read_config_text(path)
    path.write_text(CONFIG + "\n# changed by hand\n")
    with pytest.raises(ConfigEditError, match="changed by someone else"):
        edit_config(
            path, lambda doc: set_enabled(doc, "rules", "scam", False), expected_version=version
        )


def test_config_edit_keeps_the_file_mode(path):
    os.chmod(path, 0o640)
    edit_config(path, lambda doc: set_enabled(doc, "rules", "scam", False))
    assert path.stat().st_mode & 0o777 == 0o640


def test_config_edit_writes_in_place_when_the_folder_is_read_only(path):
    inode = path.stat().st_ino
    os.chmod(path.parent, 0o555)
    try:
        if os.access(path.parent, os.W_OK):
            pytest.skip("running as root: a read-only folder is still writable")
        edit_config(path, lambda doc: set_enabled(doc, "rules", "scam", False))
    finally:
        os.chmod(path.parent, 0o755)
    assert path.stat().st_ino == inode and "enabled = false" in path.read_text()


def test_config_edit_raw_table_does_not_expand_variables(path):
    path.write_text(CONFIG.replace('query = "casino"', 'query = "casino ${NOT_EXPANDED}"'))
    assert raw_table(path, "rules", "casino")["query"] == "casino ${NOT_EXPANDED}"
    assert raw_table(path, "rules", "nope") is None


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x7f")
        | st.sampled_from(['"', "'", "\\", "\n", "\t", "$"]),
        min_size=1,
        max_size=40,
    )
)
def test_config_edit_any_text_round_trips_through_toml(text):
    from tomlkit import dumps, parse

    document = parse(CONFIG)
    put_table(document, "rules", "scam", {"query": text}, create=False)
    assert tomllib.loads(dumps(document))["rules"]["scam"]["query"] == text
