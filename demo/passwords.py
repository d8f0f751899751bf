"""Random passwords for the demo users, generated on the machine, never committed.

``python -m demo.passwords FILE`` writes ``DEMO_PASSWORD_<USER>=...`` lines (mode 0600)
if FILE does not exist; ``--show FILE`` prints the users and passwords to log in with.
:func:`write_secrets` does the same for the demo OIDC client's secret
(``SAPA_WEB_SECRET``).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import yaml

from policies import policy_path

ADMINS = Path(__file__).with_name("admins.yaml")


def demo_usernames() -> list[str]:
    """The demo catalogue's users, then the demo administrators (``demo/admins.yaml``)."""
    names = []
    for path in (policy_path("demo.yaml"), ADMINS):
        catalogue = yaml.safe_load(path.read_text(encoding="utf-8"))
        names += [user["username"] for user in catalogue.get("users", [])]
    return names


def _write_private(path: Path, lines: list[str]) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.writelines(lines)


def write(path: Path) -> None:
    """Passwords for every demo user; users added since the file was made get theirs too."""
    known = read_env(path) if path.exists() else {}
    lines = [
        f"DEMO_PASSWORD_{name.upper()}={secrets.token_urlsafe(12)}\n"
        for name in demo_usernames()
        if f"DEMO_PASSWORD_{name.upper()}" not in known
    ]
    if not path.exists():
        _write_private(path, lines)
    elif lines:
        with path.open("a", encoding="utf-8") as handle:
            handle.writelines(lines)


def write_secrets(path: Path) -> None:
    """Client secrets of the demo catalogue's OIDC clients (``client_secret_env``)."""
    _write_private(path, [f"SAPA_WEB_SECRET={secrets.token_urlsafe(32)}\n"])


def read_env(path: Path) -> dict[str, str]:
    """``NAME=value`` lines as a dict."""
    pairs = (line.partition("=") for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, _, value in pairs}


def show(path: Path) -> None:
    print(f"Demo users (passwords generated on this machine, in {path}):")
    for name, password in read_env(path).items():
        print(f"  {name.removeprefix('DEMO_PASSWORD_').lower():12} {password}")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--show"]:
        show(Path(argv[1]))
    else:
        write(Path(argv[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
