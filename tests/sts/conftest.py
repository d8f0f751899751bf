"""Fixtures for the KOMBIT STS tests; helpers and constants live in tests/sts/kit.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sts.kit import Pki, StsWorld, build_template, make_world, pki


@pytest.fixture(scope="session")
def sts_pki() -> Pki:
    return pki()


@pytest.fixture(scope="session")
def sts_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded data directory (SQLite, keys, CA and CRL files), built once per session."""
    path = tmp_path_factory.mktemp("sts") / "template"
    build_template(path)
    return path


@pytest.fixture
def sts_world(sts_template: Path, tmp_path: Path) -> StsWorld:
    """A fresh app on a copy of the template (SQLite, in-process state)."""
    return make_world(sts_template, tmp_path / "var")
