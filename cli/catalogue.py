"""Placeholder until the catalogue commands land (being written now)."""

COMMANDS: list = []
