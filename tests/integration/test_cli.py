"""`stsctl`: init, keys, serve; every command has --help."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import main


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"STS_DATA_DIR": str(tmp_path / "var")}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("path", all_commands(main), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_init_creates_database_and_keys_then_is_idempotent(env: dict[str, str]) -> None:
    code, output = run(env, "init")
    assert code == 0 and "created signing keys" in output
    code, output = run(env, "init")
    assert code == 0 and "none created" in output


def test_keys_list_before_init_says_what_to_do(env: dict[str, str]) -> None:
    from settings import load_settings
    from store import migrate

    settings = load_settings(env)
    settings.data_dir.mkdir(parents=True)
    migrate.upgrade(settings.effective_database_url)
    result = CliRunner().invoke(main, ["keys", "list"], env=env)
    assert result.exit_code == 1
    assert "stsctl init" in result.output


def test_keys_rotate_shows_the_new_active_key_in_the_list(env: dict[str, str]) -> None:
    run(env, "init")
    code, output = run(env, "keys", "rotate", "--type", "RSA")
    assert code == 0
    activated = output.split("active now ")[1].strip()
    _, listing = run(env, "keys", "list")
    line = next(row for row in listing.splitlines() if row.startswith(activated))
    assert " active " in line
    assert sum(" retired " in row for row in listing.splitlines()) == 1


def test_invalid_configuration_is_reported_with_the_variable(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["init"], env={**env, "STS_RSA_KEY_BITS": "1000"})
    assert result.exit_code == 1
    assert "STS_RSA_KEY_BITS" in result.output


def test_serve_refuses_several_workers_without_redis(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["serve", "--workers", "3"], env=env)
    assert result.exit_code == 1
    assert "Refusing to start 3 workers without Redis" in result.output
    assert "STS_REDIS_URL" in result.output


def test_serve_rejects_a_malformed_bind_address(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["serve", "--bind", "localhost"], env=env)
    assert result.exit_code == 2
    assert "HOST:PORT" in result.output
