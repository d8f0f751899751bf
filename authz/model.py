"""Result types: privilege groups that explain themselves.

A :class:`PrivilegeResult` is what the front doors put into a token (through
:mod:`authz.bpp` or :mod:`authz.priv`) and what ``stsctl privileges --explain`` prints.
Everything is immutable and hashable, and round-trips through JSON (the shared cache
stores it that way).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SCOPE_PREFIX = "urn:dk:gov:saml:cvrNumberIdentifier:"


def cvr_scope(cvr: str) -> str:
    """``urn:dk:gov:saml:cvrNumberIdentifier:<cvr>``: the Scope of a privilege group."""
    return SCOPE_PREFIX + cvr


@dataclass(frozen=True)
class Constraint:
    """One data constraint: type URI and its values (written comma-joined in tokens)."""

    name: str
    values: tuple[str, ...]

    @property
    def value(self) -> str:
        return ",".join(self.values)


@dataclass(frozen=True)
class Source:
    """Why a group is there: one assignment of one JFR, and how it reached the user."""

    assignment_id: str
    jfr_id: str
    jfr_name: str
    subject_type: str  # user | group | org_unit
    subject_id: str
    via: str  # "direct", "group A > B", "org unit X (inherited)"
    case_number: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None

    def describe(self) -> str:
        dates = ""
        if self.valid_from or self.valid_to:
            dates = f" [{self.valid_from or '…'} – {self.valid_to or '…'}]"
        case = f" sag {self.case_number}" if self.case_number else ""
        where = f"via {self.via}{dates}{case}"
        return f"{self.jfr_name} <{self.jfr_id}> {where} (assignment {self.assignment_id})"


@dataclass(frozen=True)
class PrivilegeGroup:
    """One ``PrivilegeGroup`` of OIO-BPP: one system role, one scope, its constraints.

    ``sources`` is explanation only: it is not part of the token and not compared by
    :meth:`token_key`.
    """

    privilege: str
    scope: str
    constraints: tuple[Constraint, ...] = ()
    sources: tuple[Source, ...] = ()

    @property
    def cvr(self) -> str | None:
        return (
            self.scope.removeprefix(SCOPE_PREFIX) if self.scope.startswith(SCOPE_PREFIX) else None
        )

    def constraint(self, name: str) -> Constraint | None:
        for item in self.constraints:
            if item.name == name:
                return item
        return None

    def token_key(self) -> tuple[str, str, tuple[tuple[str, tuple[str, ...]], ...]]:
        """What a token carries: (privilege, scope, constraints), without the explanation."""
        return (self.privilege, self.scope, tuple((c.name, c.values) for c in self.constraints))

    def bare(self) -> PrivilegeGroup:
        """The same group without sources (what a decoder can give back)."""
        return PrivilegeGroup(self.privilege, self.scope, self.constraints)


@dataclass(frozen=True)
class PrivilegeResult:
    """The privileges of one user, for one municipality and one fagsystem, on one day."""

    user_id: str
    username: str
    cvr: str
    fagsystem_id: str
    on: dt.date
    groups: tuple[PrivilegeGroup, ...]
    notes: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.groups

    def token_groups(self) -> tuple[PrivilegeGroup, ...]:
        return tuple(group.bare() for group in self.groups)

    def explain(self) -> str:
        lines = [
            f"user {self.username} ({self.user_id}), CVR {self.cvr}, fagsystem "
            f"{self.fagsystem_id}, {self.on.isoformat()} (Europe/Copenhagen)",
        ]
        if not self.groups:
            lines.append("  no privilege groups")
        for index, group in enumerate(self.groups, 1):
            lines.append(f"  [{index}] {group.privilege}  scope {group.scope}")
            for constraint in group.constraints:
                lines.append(f"      {constraint.name} = {constraint.value}")
            for source in group.sources:
                lines.append(f"      from {source.describe()}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)

    # -- JSON (the shared cache and `stsctl privileges --json`) -------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "username": self.username,
            "cvr": self.cvr,
            "fagsystem": self.fagsystem_id,
            "on": self.on.isoformat(),
            "groups": [
                {
                    "privilege": g.privilege,
                    "scope": g.scope,
                    "constraints": [
                        {"name": c.name, "values": list(c.values)} for c in g.constraints
                    ],
                    "sources": [s.__dict__ for s in g.sources],
                }
                for g in self.groups
            ],
            "notes": list(self.notes),
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrivilegeResult:
        return cls(
            user_id=data["user_id"],
            username=data["username"],
            cvr=data["cvr"],
            fagsystem_id=data["fagsystem"],
            on=dt.date.fromisoformat(data["on"]),
            groups=tuple(
                PrivilegeGroup(
                    privilege=g["privilege"],
                    scope=g["scope"],
                    constraints=tuple(
                        Constraint(c["name"], tuple(c["values"])) for c in g["constraints"]
                    ),
                    sources=tuple(Source(**s) for s in g["sources"]),
                )
                for g in data["groups"]
            ),
            notes=tuple(data["notes"]),
        )

    @classmethod
    def from_json(cls, raw: bytes) -> PrivilegeResult:
        return cls.from_dict(json.loads(raw))


def bare_groups(groups: Iterable[PrivilegeGroup]) -> list[PrivilegeGroup]:
    return [group.bare() for group in groups]
