"""Random passwords for the demo users, generated on the machine, never committed.

``python -m demo.passwords FILE`` writes ``DEMO_PASSWORD_<USER>=...`` lines (mode 0600)
if FILE does not exist; ``--show FILE`` prints the users and passwords to log in with.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import yaml

from policies import policy_path


def demo_usernames() -> list[str]:
    catalogue = yaml.safe_load(policy_path("demo.yaml").read_text(encoding="utf-8"))
    return [user["username"] for user in catalogue.get("users", [])]


def write(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"DEMO_PASSWORD_{name.upper()}={secrets.token_urlsafe(12)}\n" for name in demo_usernames()
    ]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.writelines(lines)


def show(path: Path) -> None:
    print(f"\nDemo users (passwords generated on this machine, in {path}):")
    for line in path.read_text().splitlines():
        name, _, password = line.partition("=")
        print(f"  {name.removeprefix('DEMO_PASSWORD_').lower():12} {password}")
    print("\nIdP: http://127.0.0.1:8000  (health: /healthz, readiness: /readyz)\n")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--show"]:
        show(Path(argv[1]))
    else:
        write(Path(argv[0]))


if __name__ == "__main__":
    main(sys.argv[1:])
