"""The README stays true: every setting and every stsctl command is documented."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from cli import main
from settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_in_the_configuration_table(name: str) -> None:
    assert f"`STS_{name.upper()}`" in README


def _commands(group: click.Group, prefix: str = "stsctl") -> list[str]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix} {name}"))
        else:
            found.append(f"{prefix} {name}")
    return found


@pytest.mark.parametrize("command", _commands(main))
def test_every_command_is_in_the_cli_table(command: str) -> None:
    assert f"`{command}" in README
