"""No private key is ever committed; keys are generated at run time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = "PRIVATE" + " KEY"  # split so this file does not match itself


def test_repository_holds_no_private_key() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "grep", "-l", MARKER], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, f"files with a private key: {result.stdout}"


def test_key_files_are_ignored_by_git() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("var/keys/abc.pem", "var/secret_key", "var/demo-passwords.env"):
        result = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert result.returncode == 0, f"{path} is not ignored"
