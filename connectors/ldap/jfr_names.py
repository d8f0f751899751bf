"""Jobfunktionsroller encoded in AD group names: a configurable parser, off by default.

Assignments normally refer to groups by objectGUID or DN (``assignments: - group:``).
Some municipalities instead encode the role in the group's name with one of several
schemes; this parser turns such names into (role name, CVR) pairs when an operator
configures a pattern for their scheme. Names never *match* groups: they only produce
role names that an administrator maps deliberately.

A pattern is a regular expression with a named group ``role`` and optionally ``cvr``,
for example ``^JFR_(?P<role>[^#]+)#(?P<cvr>\\d{8})$`` for ``JFR_Sagsbehandler#29189846``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

PRESETS = {
    # <prefix><role>#<cvr>
    "prefix-hash-cvr": r"^{prefix}(?P<role>[^#]+)#(?P<cvr>\d{{8}})$",
    # <prefix><role> (the directory's own CVR)
    "prefix": r"^{prefix}(?P<role>.+)$",
    # <prefix><cvr>_<role>
    "prefix-cvr-underscore": r"^{prefix}(?P<cvr>\d{{8}})_(?P<role>.+)$",
}


@dataclass(frozen=True)
class ParsedRole:
    role: str
    cvr: str
    group: str


class GroupNameJfrParser:
    """Extract JFR names from group names; ``None`` from :meth:`from_config` means off."""

    def __init__(self, pattern: str, default_cvr: str) -> None:
        self.pattern = re.compile(pattern)
        if "role" not in self.pattern.groupindex:
            raise ValueError("the pattern needs a named group (?P<role>...)")
        self.default_cvr = default_cvr

    @classmethod
    def preset(cls, name: str, prefix: str, default_cvr: str) -> GroupNameJfrParser:
        if name not in PRESETS:
            raise ValueError(f"unknown scheme {name!r}; known: {', '.join(sorted(PRESETS))}")
        return cls(PRESETS[name].format(prefix=re.escape(prefix)), default_cvr)

    @classmethod
    def from_config(cls, pattern: str | None, default_cvr: str) -> GroupNameJfrParser | None:
        return cls(pattern, default_cvr) if pattern else None

    def parse(self, name: str) -> ParsedRole | None:
        match = self.pattern.match(name)
        if match is None:
            return None
        role = match.group("role").strip()
        if not role:
            return None
        cvr = match.groupdict().get("cvr") or self.default_cvr
        return ParsedRole(role=role, cvr=cvr, group=name)

    def parse_all(self, names: Iterable[str]) -> list[ParsedRole]:
        return [parsed for name in names if (parsed := self.parse(name)) is not None]
