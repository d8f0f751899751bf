"""Data, not code: Casbin model files, the catalogue JSON Schema, the demo catalogue."""

from pathlib import Path

POLICIES_DIR = Path(__file__).parent


def policy_path(name: str) -> Path:
    """Absolute path of a file shipped in ``policies/``."""
    return POLICIES_DIR / name
