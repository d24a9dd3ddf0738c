"""Every command documents itself (its docstring is its --help)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from scheduler.cli import main


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found += all_commands(command, path)
    return found


@pytest.mark.parametrize("path", all_commands(main), ids=" ".join)
def test_cli_every_command_has_help(path):
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert command.help and len(command.help.strip()) > 10
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    first_line = " ".join(command.help.split("\n\n")[0].split())
    assert first_line in " ".join(result.output.split())


def test_cli_has_the_core_commands():
    assert {"run", "once", "check"} <= set(main.commands)
