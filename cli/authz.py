"""Placeholder until `stsctl privileges` lands (being written now)."""

COMMANDS: list = []
