"""Install check: the fagsystem SDK runs with nothing but its own dependencies.

In a fresh virtual environment: ``pip install ./verifier`` (the SDK's own distribution,
``verifier/pyproject.toml``) and pytest, exactly as a fagsystem would install it. None of
the server's dependencies may be there, its requirements must match the server's
``verifier`` extra, and the verifier's unit tests must pass there
(``--noconftest``: the suite's conftest needs the server). The Flask helpers' tests are
left out: ``verifier.flask`` needs Flask, which a fagsystem brings itself.

Needs PyPI (pip); without a network it skips locally and fails in CI.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from tests.conftest import service_missing

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = ("flask", "sqlalchemy", "pysaml2", "authlib", "casbin", "ldap3", "redis")
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
    "node_modules", "bench", "docs",
)  # fmt: skip
# Demo fagsystemer may import these besides the standard library: a fagsystem needs
# nothing of the server to use the verifier.
DEMO_ALLOWED_IMPORTS = {"verifier", "demo", "flask", "werkzeug", "cryptography", "lxml"}
DEMO_APPS = ("cases", "web", "saml_sp", "ky", "ksd", "sapa")


def verifier_requirements() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    lines = parser["options.extras_require"]["verifier"].splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_the_sdk_distribution_and_the_verifier_extra_agree() -> None:
    with (ROOT / "verifier" / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    assert sorted(project["dependencies"]) == sorted(verifier_requirements())


def pypi_reachable() -> None:
    """Ask pip itself whether the package index answers (whatever index pip is set up with)."""
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "hatchling"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        service_missing("the package index", f"pip cannot reach it: {probe.stderr.strip()[:300]}")


def run(command: list[str], cwd: Path | None = None, timeout: float = 120) -> str:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_verifier_installs_and_passes_its_tests_without_the_server(tmp_path: Path) -> None:
    pypi_reachable()
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORE)
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    python = str(environment / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check", "--quiet"]

    run([*pip, "install", str(source / "verifier"), "pytest"], timeout=300)

    installed = {
        re.split(r"==| @ ", line)[0].strip().lower().replace("_", "-")
        for line in run([*pip, "freeze", "--all"]).splitlines()
    }
    assert "sts-verifier" in installed and "sts-adgangsstyring" not in installed
    assert not installed & {name.lower() for name in SERVER_ONLY}, sorted(installed)

    # The tests run from a directory of their own, so `verifier` is the installed one.
    tests = tmp_path / "run" / "tests"
    (tests / "unit").mkdir(parents=True)
    for name in ("__init__.py", "verifier_factory.py", "unit/__init__.py"):
        shutil.copy(ROOT / "tests" / name, tests / name)
    for path in (ROOT / "tests" / "unit").glob("test_verifier_*.py"):
        if path.name != "test_verifier_flask.py":
            shutil.copy(path, tests / "unit" / path.name)
    where = run([python, "-c", "import verifier; print(verifier.__file__)"], cwd=tmp_path / "run")
    assert "site-packages" in where
    output = run(
        [python, "-m", "pytest", "-q", "--noconftest", "-p", "no:cacheprovider", "tests/unit"],
        cwd=tmp_path / "run",
        timeout=180,
    )
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 100 and "failed" not in output, output


def _imports(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("app", DEMO_APPS)
def test_demo_fagsystemer_are_built_on_the_verifier_only(app: str) -> None:
    used = _imports(ROOT / "demo" / f"{app}.py") - set(sys.stdlib_module_names)
    assert used <= DEMO_ALLOWED_IMPORTS, f"demo/{app}.py imports {used - DEMO_ALLOWED_IMPORTS}"
