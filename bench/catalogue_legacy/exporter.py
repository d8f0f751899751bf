"""Export the store as a catalogue, and a normaliser that makes two catalogues comparable.

An export can be imported again and gives the same store. Secrets are never written: the
names of the environment variables are (``password_env``, ``client_secret_env``), the
hashes are not. SAML metadata is written inline (``metadata``), so the export does not
depend on files next to it. With ``cvr`` only that municipality's org units, users,
jobfunktionsroller, assignments (made by it) and serviceaftaler are written; fagsystemer
are global and always written whole, so the export stays importable on its own.

Administrative roles are written as ``admin_roles`` of their users and OIDC clients,
sorted, without the operator role (never in a catalogue). With ``cvr``, a holder's roles
are written only when every one of them is held for that municipality or for a
fagsystem: an export never shows another municipality's roles, and because a holder
named without ``admin_roles`` keeps its roles at import, importing the export changes
nothing either way.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.catalogue_legacy.checks import ADMIN_OPERATOR
from bench.catalogue_legacy.common import DEFAULTS, kind_list
from store.models import (
    AdminRoleAssignment,
    Assignment,
    ConstraintType,
    Fagsystem,
    Group,
    Jobfunktionsrolle,
    Municipality,
    OidcClient,
    OrgUnit,
    SamlServiceProvider,
    Serviceaftale,
    SystemRole,
    User,
)

Item = dict[str, Any]


def export_catalogue(session: Session, cvr: str | None = None) -> Item:
    """The store (or one municipality of it) in the catalogue format, without defaults."""
    users = {user.id: user for user in session.scalars(select(User))}
    held = _admin_roles(session, cvr)
    return {
        "version": 1,
        "municipalities": _municipalities(session, cvr, users),
        "fagsystemer": [
            _fagsystem(session, system, held)
            for system in session.scalars(select(Fagsystem).order_by(Fagsystem.id))
        ],
        "jobfunktionsroller": _jfrs(session, cvr),
        "users": [
            _user(user, held)
            for user in sorted(users.values(), key=_user_order)
            if _local_of(user, cvr)
        ],
        "assignments": _assignments(session, cvr, users),
        "serviceaftaler": _serviceaftaler(session, cvr),
    }


def _user_order(user: User) -> tuple[str, str]:
    return (user.cvr, user.username)


def _local_of(user: User, cvr: str | None) -> bool:
    """Local users of ``cvr`` (or of all); AD users come from the connector, not the file."""
    return user.source == "local" and cvr in (None, user.cvr)


def _strip(kind: str, item: Item) -> Item:
    """Leave out keys that hold their default value, so exports stay short."""
    defaults = DEFAULTS[kind]
    return {
        key: value for key, value in item.items() if key not in defaults or defaults[key] != value
    }


def _municipalities(session: Session, cvr: str | None, users: dict[str, User]) -> list[Item]:
    query = select(Municipality).order_by(Municipality.cvr)
    if cvr is not None:
        query = query.where(Municipality.cvr == cvr)
    result = []
    for municipality in session.scalars(query):
        units = session.scalars(
            select(OrgUnit).where(OrgUnit.cvr == municipality.cvr).order_by(OrgUnit.uuid)
        )
        result.append(
            {
                "cvr": municipality.cvr,
                "name": municipality.name,
                "domain": municipality.domain,
                "org_units": [_org_unit(unit, users) for unit in units],
            }
        )
    return result


def _org_unit(unit: OrgUnit, users: dict[str, User]) -> Item:
    manager = users[unit.manager_user_id].username if unit.manager_user_id in users else None
    item = {"uuid": unit.uuid, "name": unit.name, "parent": unit.parent_uuid, "kle": list(unit.kle)}
    return {**item, **_strip("org_unit", {"manager": manager})}


def _admin_roles(session: Session, cvr: str | None) -> dict[str, list[Item]]:
    """Each holder's exportable administrative roles, sorted (see the module docstring)."""
    held: dict[str, list[Item]] = {}
    for row in session.scalars(
        select(AdminRoleAssignment).where(AdminRoleAssignment.role != ADMIN_OPERATOR)
    ):
        item: Item = {"role": row.role}
        if row.fagsystem_id is not None:
            item["fagsystem"] = row.fagsystem_id
        else:
            item["cvr"] = row.cvr
        held.setdefault(row.holder, []).append(item)
    return {
        holder: sorted(items, key=lambda i: (i["role"], i.get("cvr") or i.get("fagsystem")))
        for holder, items in held.items()
        if cvr is None or all(item.get("cvr") in (None, cvr) for item in items)
    }


def _with_admin_roles(item: Item, held: dict[str, list[Item]], holder: str) -> Item:
    roles = held.get(holder)
    return {**item, "admin_roles": roles} if roles else item


def _fagsystem(session: Session, system: Fagsystem, held: dict[str, list[Item]]) -> Item:
    owned = {"fagsystem_id": system.id}
    kinds = list(system.kinds)
    item: Item = {
        "id": system.id,
        "name": system.name,
        "entity_id": system.entity_id,
        "kind": kinds[0] if len(kinds) == 1 else kinds,
        "personal_data": system.personal_data,
        "min_loa": system.min_loa,
        "saml": [
            _saml(sp)
            for sp in session.scalars(
                select(SamlServiceProvider)
                .filter_by(**owned)
                .order_by(SamlServiceProvider.entity_id)
            )
        ],
        "oidc_clients": [
            _client(c, held)
            for c in session.scalars(
                select(OidcClient).filter_by(**owned).order_by(OidcClient.client_id)
            )
        ],
        "constraint_types": [
            _ctype(t)
            for t in session.scalars(
                select(ConstraintType).filter_by(**owned).order_by(ConstraintType.uri)
            )
        ],
        "roles": [
            _role(r)
            for r in session.scalars(select(SystemRole).filter_by(**owned).order_by(SystemRole.id))
        ],
    }
    return {key: item[key] for key in ("id", "name", "kind")} | _strip("fagsystem", item)


def _saml(sp: SamlServiceProvider) -> Item:
    flags = {key: getattr(sp, key) for key in DEFAULTS["saml_sp"]}
    return {"metadata": sp.metadata_xml, **_strip("saml_sp", flags)}


def _client(client: OidcClient, held: dict[str, list[Item]]) -> Item:
    values = {key: getattr(client, key) for key in DEFAULTS["oidc_client"]}
    item = {"client_id": client.client_id, **_strip("oidc_client", values)}
    return _with_admin_roles(item, held, f"client:{client.client_id}")


def _ctype(ctype: ConstraintType) -> Item:
    item = {"id": ctype.uri, "name": ctype.name, "kind": ctype.kind}
    return item | _strip("constraint_type", {"values": ctype.values, "regex": ctype.regex})


def _role(role: SystemRole) -> Item:
    values = {"description": role.description, "constraints": list(role.constraint_uris)}
    return {"id": role.id, "name": role.name, **_strip("system_role", values)}


def _jfrs(session: Session, cvr: str | None) -> list[Item]:
    query = select(Jobfunktionsrolle).order_by(Jobfunktionsrolle.id)
    if cvr is not None:
        query = query.where(Jobfunktionsrolle.cvr == cvr)
    result = []
    for jfr in session.scalars(query):
        grants = [
            {"role": grant.role_id, **_strip("grant", {"constraints": dict(grant.constraints)})}
            for grant in jfr.grants
        ]
        values = {
            "description": jfr.description,
            "delegated_to": list(jfr.delegated_to),
            "grants": grants,
        }
        result.append(
            {"id": jfr.id, "cvr": jfr.cvr, "name": jfr.name, **_strip("jobfunktionsrolle", values)}
        )
    return result


def _user(user: User, held: dict[str, list[Item]]) -> Item:
    values = {
        "name": user.name,
        "given_name": user.given_name,
        "surname": user.surname,
        "email": user.email,
        "org_unit": user.org_unit_uuid,
        "kle": list(user.kle),
        "password_env": user.password_env,
        "disabled": user.disabled,
    }
    item = {"username": user.username, "cvr": user.cvr, "uuid": user.id, **_strip("user", values)}
    return _with_admin_roles(item, held, f"user:{user.id}")


def _assignments(session: Session, cvr: str | None, users: dict[str, User]) -> list[Item]:
    query = select(Assignment)
    if cvr is not None:
        query = query.where(Assignment.cvr == cvr)
    groups = {group.id: group for group in session.scalars(select(Group))}
    items = [_assignment(obj, users, groups) for obj in session.scalars(query)]
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _assignment(obj: Assignment, users: dict[str, User], groups: dict[str, Group]) -> Item:
    if obj.user_id:
        subject: Item = {"user": users[obj.user_id].username}
    elif obj.group_id:
        group = groups[obj.group_id]
        subject = {"group": group.object_guid or group.dn}
    else:
        subject = {"org_unit": obj.org_unit_uuid}
    values = {
        "valid_from": obj.valid_from.isoformat() if obj.valid_from else None,
        "valid_to": obj.valid_to.isoformat() if obj.valid_to else None,
        "case_number": obj.case_number,
        "inherit": obj.inherit,
        "except_users": [users[uid].username for uid in obj.excepted_user_ids if uid in users],
        "constraints": dict(obj.constraints),
    }
    return {**subject, "cvr": obj.cvr, "role": obj.jfr_id, **_strip("assignment", values)}


def _serviceaftaler(session: Session, cvr: str | None) -> list[Item]:
    query = select(Serviceaftale).order_by(Serviceaftale.id)
    if cvr is not None:
        query = query.where(Serviceaftale.cvr == cvr)
    result = []
    for aftale in session.scalars(query):
        item = {
            "id": aftale.id,
            "cvr": aftale.cvr,
            "anvendersystem": aftale.anvendersystem_id,
            "service": aftale.service_id,
        }
        values = {
            "roles": list(aftale.roles),
            "constraints": dict(aftale.constraints),
            "on_behalf_of": aftale.on_behalf_of,
            "status": aftale.status,
        }
        result.append(item | _strip("serviceaftale", values))
    return result


# -- normalising, for comparing catalogues ---------------------------------------------

_SORT_KEYS = {
    "municipalities": "cvr",
    "org_units": "uuid",
    "fagsystemer": "id",
    "constraint_types": "id",
    "roles": "id",
    "oidc_clients": "client_id",
    "jobfunktionsroller": "id",
}
_KINDS = {
    "org_units": "org_unit",
    "fagsystemer": "fagsystem",
    "saml": "saml_sp",
    "oidc_clients": "oidc_client",
    "constraint_types": "constraint_type",
    "roles": "system_role",
    "jobfunktionsroller": "jobfunktionsrolle",
    "grants": "grant",
    "users": "user",
    "assignments": "assignment",
    "serviceaftaler": "serviceaftale",
}


def normalise(data: Item) -> Item:
    """A canonical form: defaults dropped, lists sorted, ``kind`` a list, metadata inline only.

    Two catalogues that import to the same store normalise to equal values (given the same
    user uuids; a uuid generated at import is not in the file).
    """
    result: Item = {"version": data.get("version")}
    for section in (
        "municipalities",
        "fagsystemer",
        "jobfunktionsroller",
        "users",
        "assignments",
        "serviceaftaler",
    ):
        items = data.get(section) or []
        if items:
            result[section] = _normalise_list(section, items)
    return result


def _normalise_list(key: str, items: list[Any]) -> list[Any]:
    kind = _KINDS.get(key)
    normalised = [_normalise_item(kind, item) if isinstance(item, dict) else item for item in items]
    sort_key = _SORT_KEYS.get(key)
    if sort_key and all(isinstance(item, dict) for item in normalised):
        return sorted(normalised, key=lambda item: str(item.get(sort_key)))
    if key == "grants":
        return normalised  # order is meaningful: it is kept as the grants' position
    return sorted(normalised, key=lambda item: json.dumps(item, sort_keys=True))


def _normalise_item(kind: str | None, item: Item) -> Item:
    item = dict(item)
    if kind == "fagsystem":
        item["kind"] = kind_list(item["kind"])
    if kind == "saml_sp" and "metadata" in item:
        item.pop("metadata_file", None)
        item.pop("metadata_url", None)
    if kind is not None:
        item = _strip(kind, {**DEFAULTS[kind], **item})
    return {
        key: _normalise_list(key, value) if isinstance(value, list) else value
        for key, value in sorted(item.items())
    }
