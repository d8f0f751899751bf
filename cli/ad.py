"""Placeholder until `stsctl ad sync` lands (being written now)."""

COMMANDS: list = []
