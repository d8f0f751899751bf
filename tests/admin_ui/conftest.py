"""Fixtures of the admin UI tests: the world of tests/admin_ui/kit.py, on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.admin_ui.kit import UiWorld, build_template, make_world


@pytest.fixture(scope="session")
def ui_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("admin-ui-template") / "data"
    build_template(path)
    return path


@pytest.fixture
def ui(ui_template: Path, tmp_path: Path) -> Iterator[UiWorld]:
    world = make_world(ui_template, tmp_path / "data")
    yield world
    world.database.dispose()
