"""Small catalogue worlds for the authorization tests.

Each test case is a catalogue document (CATALOGUE.md) built from :func:`catalogue`, plus
AD groups (which are not part of the catalogue: they come from directory sync, so the
tests write Group / GroupMember / GroupNesting rows directly). :func:`load` imports it
with the real importer.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select

from authz.model import PrivilegeGroup
from store.catalogue import import_catalogue
from store.db import Database
from store.models import Group, GroupMember, GroupNesting, Municipality, User

CVR = "29189846"
CVR_B = "11111111"
KLE = "http://sts.kombit.dk/constraints/KLE/1"
ORG = "http://sts.kombit.dk/constraints/orgenhed/1"
SENS = "http://ky.test/constraints/sensitivity/1"
CASE = "http://ky.test/constraints/sagstype/1"

KY_ROLES = {
    "laes": [KLE],
    "opret": [KLE, ORG],
    "udbetal": [],
    "sens": [SENS],
    "org": [ORG],
    "sag": [CASE],
}


def role(name: str, system: str = "ky") -> str:
    return f"http://{system}.test/roles/usersystemrole/{name}/1"


def jfr_id(name: str, cvr: str = CVR) -> str:
    domain = "demo.kommune.dk" if cvr == CVR else "b.kommune.dk"
    return f"http://{domain}/roles/jobrole/{name}/1"


def unit(n: int, cvr: str = CVR) -> str:
    prefix = "6a1e5d2c" if cvr == CVR else "7b2f6e3d"
    return f"{prefix}-0000-4000-8000-{n:012d}"


# The org tree of the demo municipality (levels in brackets):
#   1 Kommune [1]
#   ├── 2 Social [2]
#   │   ├── 3 Jobcenter [3]          kle 32.*, 15.02
#   │   │   ├── 4 Team Nord [4]      kle 32.01
#   │   │   │   └── 6 Gruppe N1 [5]
#   │   │   │       └── 7 Celle N1a [6]
#   │   │   └── 5 Team Syd [4]
#   │   └── 8 Ældre [3]
#   └── 9 Teknik [2]
TREE: list[tuple[int, int | None, str, list[str]]] = [
    (1, None, "Kommune", []),
    (2, 1, "Social", []),
    (3, 2, "Jobcenter", ["32.*", "15.02"]),
    (4, 3, "Team Nord", ["32.01"]),
    (5, 3, "Team Syd", []),
    (6, 4, "Gruppe N1", []),
    (7, 6, "Celle N1a", []),
    (8, 2, "Ældre", []),
    (9, 1, "Teknik", []),
]


def catalogue() -> dict[str, Any]:
    """Two municipalities, the KY and KSD fagsystemer, no JFRs, users or assignments yet."""
    units = [
        {"uuid": unit(n), "name": name, "parent": unit(p) if p else None, "kle": kle}
        for n, p, name, kle in TREE
    ]
    return {
        "version": 1,
        "municipalities": [
            {"cvr": CVR, "name": "Demo Kommune", "domain": "demo.kommune.dk", "org_units": units},
            {
                "cvr": CVR_B,
                "name": "B Kommune",
                "domain": "b.kommune.dk",
                "org_units": [{"uuid": unit(1, CVR_B), "name": "B", "parent": None, "kle": []}],
            },
        ],
        "fagsystemer": [
            {
                "id": "KY",
                "name": "Kommunernes Ydelsessystem",
                "entity_id": "https://ky.test",
                "kind": "brugervendt",
                "constraint_types": [
                    {"id": KLE, "name": "KLE", "kind": "kle"},
                    {"id": ORG, "name": "Organisation", "kind": "orgenhed"},
                    {
                        "id": SENS,
                        "name": "Følsomhed",
                        "kind": "values",
                        "values": ["Normal", "Fortrolig", "Følsom"],
                    },
                    {"id": CASE, "name": "Sagstype", "kind": "text", "regex": "^[A-Z]{2}[0-9]{2}$"},
                ],
                "roles": [
                    {"id": role(name), "name": name, "constraints": list(types)}
                    for name, types in KY_ROLES.items()
                ],
            },
            {
                "id": "KSD",
                "name": "Kommunernes Sygedagpengesystem",
                "entity_id": "https://ksd.test",
                "kind": "brugervendt",
                "constraint_types": [{"id": KLE, "name": "KLE", "kind": "kle"}],
                "roles": [
                    {"id": role("laes", "ksd"), "name": "Læs", "constraints": [KLE]},
                ],
            },
        ],
        "jobfunktionsroller": [],
        "users": [],
        "assignments": [],
    }


def fixed(*values: str) -> dict[str, Any]:
    return {"fixed": list(values)}


def dynamic(name: str) -> dict[str, Any]:
    return {"dynamic": name}


POSTPONED = {"postponed": True}


def add_jfr(
    data: dict[str, Any],
    name: str,
    grants: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    cvr: str = CVR,
    delegated_to: Sequence[str] = (),
) -> str:
    """Add a JFR granting ``(role uri, {constraint uri: spec})`` pairs; returns its id."""
    identifier = jfr_id(name, cvr)
    data["jobfunktionsroller"].append(
        {
            "id": identifier,
            "cvr": cvr,
            "name": name,
            "delegated_to": list(delegated_to),
            "grants": [{"role": r, "constraints": dict(c)} for r, c in grants],
        }
    )
    return identifier


def add_user(
    data: dict[str, Any],
    username: str,
    *,
    org_unit: int | None = 4,
    kle: Sequence[str] = (),
    cvr: str = CVR,
) -> None:
    user: dict[str, Any] = {
        "username": username,
        "cvr": cvr,
        "name": username.title(),
        "kle": list(kle),
    }
    if org_unit is not None:
        user["org_unit"] = unit(org_unit, cvr)
    data["users"].append(user)


def assign(data: dict[str, Any], role_id: str, cvr: str = CVR, **subject: Any) -> None:
    """``assign(data, jfr, user="karen", valid_to="2026-01-31")`` and the like."""
    data["assignments"].append({"cvr": cvr, "role": role_id, **subject})


def set_manager(data: dict[str, Any], n: int, username: str) -> None:
    for item in data["municipalities"][0]["org_units"]:
        if item["uuid"] == unit(n):
            item["manager"] = username


GroupSpec = tuple[str, Sequence[str], Sequence[str]]  # (dn, member usernames, parent dns)


def load(db: Database, data: dict[str, Any], groups: Iterable[GroupSpec] = ()) -> None:
    """Import ``data``; groups are written first (after the municipalities exist)."""
    groups = list(groups)
    if groups:
        bare = copy.deepcopy(data)
        for section in ("jobfunktionsroller", "users", "assignments"):
            bare[section] = []
        import_catalogue(db, bare)
        users_only = copy.deepcopy(bare)
        users_only["users"] = data["users"]
        import_catalogue(db, users_only)
        with db.session() as session:
            ids: dict[str, str] = {}
            for dn, _, _ in groups:
                group = Group(cvr=CVR, dn=dn, name=dn.split(",")[0].removeprefix("CN="))
                session.add(group)
                session.flush()
                ids[dn] = group.id
            for dn, members, parents in groups:
                for username in members:
                    session.add(
                        GroupMember(group_id=ids[dn], member_user_id=user_id(session, username))
                    )
                for parent in parents:
                    session.add(GroupNesting(parent_id=ids[parent], child_id=ids[dn]))
    import_catalogue(db, data)


def user_id(db_or_session: Any, username: str, cvr: str = CVR) -> str:
    if isinstance(db_or_session, Database):
        with db_or_session.session() as session:
            return user_id(session, username, cvr)
    found = db_or_session.execute(
        select(User.id).where(User.username == username, User.cvr == cvr)
    ).scalar_one()
    return str(found)


def municipality_exists(db: Database, cvr: str) -> bool:
    with db.session() as session:
        return session.get(Municipality, cvr) is not None


Expected = tuple[str, str, dict[str, str]]  # (role uri, scope CVR, {constraint uri: "a,b"})


def shape(groups: Iterable[PrivilegeGroup]) -> list[Expected]:
    """Groups as comparable (role, CVR, {constraint: comma-joined values}) triples."""
    return sorted(
        ((g.privilege, g.cvr or g.scope, {c.name: c.value for c in g.constraints}) for g in groups),
        key=repr,
    )


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)
