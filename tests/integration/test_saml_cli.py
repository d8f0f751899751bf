"""``stsctl saml sp add|list|remove`` and ``stsctl saml metadata``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from settings import Settings
from store.models import SamlServiceProvider
from tests.saml_kit import SpKeys, make_world, sp_metadata

SP = "https://ky.test/sp"


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    make_world(settings)
    return {"STS_DATA_DIR": str(settings.data_dir)}


def test_add_list_update_remove(env: dict[str, str], tmp_path: Path, settings: Settings) -> None:
    keys = SpKeys.generate()
    path = tmp_path / "sp.xml"
    path.write_text(sp_metadata(SP, keys))
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["saml", "sp", "add", str(path), "--fagsystem", "ky", "--require-signed-requests"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "registered https://ky.test/sp (ky)" in result.output
    result = runner.invoke(
        main,
        ["saml", "sp", "add", "-", "--fagsystem", "ksd", "--encrypt-assertion"],
        env=env,
        input=path.read_text(),
    )
    assert "updated" in result.output, result.output
    listed = runner.invoke(main, ["saml", "sp", "list"], env=env).output
    assert "fagsystem=ksd" in listed and "encrypt" in listed and "signed-requests" not in listed
    from store.db import Database

    database = Database(settings.effective_database_url)
    with database.session() as db:
        registration = db.get(SamlServiceProvider, SP)
        assert registration is not None and registration.encrypt_assertion is True
    database.dispose()
    assert runner.invoke(main, ["saml", "sp", "remove", SP], env=env).exit_code == 0
    assert (
        "no SAML service providers" in runner.invoke(main, ["saml", "sp", "list"], env=env).output
    )


def test_bad_metadata_and_unknown_fagsystem_are_clear_errors(
    env: dict[str, str], tmp_path: Path
) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.xml"
    bad.write_text("<not-metadata/>")
    result = runner.invoke(main, ["saml", "sp", "add", str(bad), "--fagsystem", "ky"], env=env)
    assert result.exit_code != 0 and "Error:" in result.output
    good = tmp_path / "good.xml"
    good.write_text(sp_metadata(SP, SpKeys.generate()))
    result = runner.invoke(main, ["saml", "sp", "add", str(good), "--fagsystem", "nope"], env=env)
    assert result.exit_code != 0 and "unknown fagsystem" in result.output
    missing = runner.invoke(
        main, ["saml", "sp", "add", "/nonexistent", "--fagsystem", "ky"], env=env
    )
    assert missing.exit_code != 0 and "cannot read" in missing.output


def test_metadata_command_prints_signed_metadata(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["saml", "metadata"], env=env)
    assert result.exit_code == 0, result.output
    assert "EntityDescriptor" in result.output and "Signature" in result.output
