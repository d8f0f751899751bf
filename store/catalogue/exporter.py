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
import json.encoder
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TextIO

import yaml
from sqlalchemy import Result, Select, Text, cast, func, select
from sqlalchemy.orm import Session

from store.catalogue.certificates import exported as exported_certificates
from store.catalogue.checks import ADMIN_OPERATOR
from store.catalogue.common import DEFAULTS, kind_list
from store.catalogue.progress import QUIET, Progress, tracked
from store.models import (
    AdminRoleAssignment,
    Assignment,
    ConstraintType,
    Fagsystem,
    Group,
    JfrGrant,
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


SECTIONS = (
    "municipalities",
    "fagsystemer",
    "jobfunktionsroller",
    "users",
    "assignments",
    "serviceaftaler",
)
STREAM_ROWS = 5_000
WRITE_ITEMS = 1_000  # JSON items encoded before one write

# The defaults that _users and _assignments leave out inline, key by key in this order
# (as _strip would, but they run once per row). They must be DEFAULTS': checked here.
_INLINE_DEFAULTS: dict[str, Item] = {
    "user": {
        "name": "",
        "given_name": None,
        "surname": None,
        "email": None,
        "org_unit": None,
        "kle": [],
        "password_env": None,
        "disabled": False,
    },
    "assignment": {
        "valid_from": None,
        "valid_to": None,
        "case_number": None,
        "inherit": False,
        "except_users": [],
        "constraints": {},
    },
}
if any(list(DEFAULTS[k].items()) != list(v.items()) for k, v in _INLINE_DEFAULTS.items()):
    raise RuntimeError("store.catalogue.exporter: update _users and _assignments to DEFAULTS")


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False)``, with its per-call set-up done once.

    ``json.dumps`` with any option builds a new encoder for every value; at two million
    items that costs more than the encoding. This is the same C encoder, made once.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, check_circular=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the plain encoder, made once
        return encoder.encode
    try:
        encode = make(
            None, encoder.default, json.encoder.encode_basestring, None, ": ", ", ",
            False, False, True,
        )  # fmt: skip
        fast: Callable[[Any], str] = lambda value: "".join(encode(value, 0))  # noqa: E731
        sample = {"a": ["æ", 1, 2.5, None, True], "b": {"c": '"\n'}}
        if fast(sample) == json.dumps(sample, ensure_ascii=False):
            return fast
    except (TypeError, ValueError):  # a Python whose private C encoder takes other arguments
        pass
    return encoder.encode


_dumps = _json_encoder()


def export_catalogue(session: Session, cvr: str | None = None) -> Item:
    """The store (or one municipality of it) in the catalogue format, without defaults."""
    exported: Item = {"version": 1}
    for section, items in iter_catalogue(session, cvr):
        exported[section] = list(items)
    return exported


def iter_catalogue(
    session: Session, cvr: str | None = None, progress: Progress = QUIET
) -> Iterator[tuple[str, Iterable[Item]]]:
    """Each section with its items, read from the store as they are consumed.

    Users and assignments are streamed (server-side cursor on PostgreSQL), so memory does
    not grow with them beyond a map from user id to username. Consume each section's
    items before asking for the next section.
    """
    names = _usernames(session)
    held = _admin_roles(session, cvr)
    yield "municipalities", _municipalities(session, cvr, names)
    yield (
        "fagsystemer",
        [
            _fagsystem(session, system, held)
            for system in session.scalars(select(Fagsystem).order_by(Fagsystem.id))
        ],
    )
    yield "jobfunktionsroller", _jfrs(session, cvr)
    progress.phase = "exporting"
    yield (
        "users",
        tracked(
            _Counted(session, _users_query(cvr), _users(session, cvr, held)), "users", progress
        ),
    )
    yield (
        "assignments",
        tracked(
            _Counted(session, _assignments_query(cvr), _assignments(session, cvr, names)),
            "assignments",
            progress,
        ),
    )
    yield "serviceaftaler", _serviceaftaler(session, cvr)


def write_catalogue(
    session: Session,
    out: TextIO,
    cvr: str | None = None,
    output_format: str = "yaml",
    progress: Progress = QUIET,
) -> None:
    """Write the catalogue to ``out`` as YAML or JSON, item by item (bounded memory).

    JSON is written one item per line inside the usual structure; YAML in chunks of items.
    """
    sections = iter_catalogue(session, cvr, progress)
    if output_format == "json":
        out.write('{\n  "version": 1')
        for section, items in sections:
            out.write(f',\n  "{section}": [')
            encoded = map(_dumps, items)
            separator = "\n    "
            while lines := list(islice(encoded, WRITE_ITEMS)):
                out.write(separator + ",\n    ".join(lines))
                separator = ",\n    "
            out.write("\n  ]" if separator != "\n    " else "]")
        out.write("\n}\n")
        return
    out.write("version: 1\n")
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    for section, items in sections:
        chunk: list[Item] = []
        wrote = False
        for item in items:
            chunk.append(item)
            if len(chunk) == 1000:
                out.write("" if wrote else f"{section}:\n")
                out.write(yaml.dump(chunk, Dumper=dumper, allow_unicode=True, sort_keys=False))
                chunk, wrote = [], True
        if chunk:
            out.write("" if wrote else f"{section}:\n")
            out.write(yaml.dump(chunk, Dumper=dumper, allow_unicode=True, sort_keys=False))
        elif not wrote:
            out.write(f"{section}: []\n")


class _Counted:
    """Items of a section with their number (for a progress bar), counted in the store."""

    def __init__(self, session: Session, query: Select[Any], items: Iterable[Item]) -> None:
        self.session = session
        self.query = query
        self.items = items

    def __len__(self) -> int:
        count = self.session.scalar(select(func.count()).select_from(self.query.subquery()))
        return int(count or 0)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)


def _rows(
    session: Session, query: Select[*tuple[Any, ...]], stream: bool = False
) -> Result[*tuple[Any, ...]]:
    """Plain rows of ``query`` (Core, without the ORM's per-row work), streamed if asked.

    Streaming uses a server-side cursor on PostgreSQL, read ``STREAM_ROWS`` at a time.
    Pending changes in the session are flushed first, as the ORM's autoflush would.
    """
    if session.autoflush:
        session.flush()
    options = {"yield_per": STREAM_ROWS} if stream else {}
    return session.connection().execute(query, execution_options=options)


def _json_text(column: Any) -> Any:
    """A JSON column as its text: empty lists and objects then cost no decoding."""
    return cast(column, Text)


def _json_list(text: str) -> list[Any]:
    return [] if text == "[]" else list(json.loads(text))


def _json_dict(text: str) -> dict[str, Any]:
    return {} if text == "{}" else dict(json.loads(text))


def _usernames(session: Session) -> dict[str, str]:
    """Every user's username by id (managers, subjects and exceptions are written by name)."""
    rows = _rows(session, select(User.id, User.username))
    return {user_id: username for user_id, username in rows}


def _strip(kind: str, item: Item) -> Item:
    """Leave out keys that hold their default value, so exports stay short."""
    defaults = DEFAULTS[kind]
    return {
        key: value for key, value in item.items() if key not in defaults or defaults[key] != value
    }


def _municipalities(session: Session, cvr: str | None, names: dict[str, str]) -> list[Item]:
    query = select(Municipality).order_by(Municipality.cvr)
    unit_query = select(
        OrgUnit.cvr,
        OrgUnit.uuid,
        OrgUnit.name,
        OrgUnit.parent_uuid,
        OrgUnit.kle,
        OrgUnit.manager_user_id,
    ).order_by(OrgUnit.cvr, OrgUnit.uuid)
    if cvr is not None:
        query = query.where(Municipality.cvr == cvr)
        unit_query = unit_query.where(OrgUnit.cvr == cvr)
    units: dict[str, list[Item]] = {}
    for owner, uuid, name, parent, kle, manager_id in _rows(session, unit_query):
        item = {"uuid": uuid, "name": name, "parent": parent, "kle": list(kle)}
        manager = names.get(manager_id) if manager_id else None
        units.setdefault(owner, []).append({**item, **_strip("org_unit", {"manager": manager})})
    return [
        {
            "cvr": municipality.cvr,
            "name": municipality.name,
            "domain": municipality.domain,
            "org_units": units.get(municipality.cvr, []),
        }
        for municipality in session.scalars(query)
    ]


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
    result = {key: item[key] for key in ("id", "name", "kind")} | _strip("fagsystem", item)
    return result | exported_certificates(session, system.id)  # KOMBIT STS certificates


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
    """Jobfunktionsroller with their grants: two queries."""
    query = select(
        Jobfunktionsrolle.id,
        Jobfunktionsrolle.cvr,
        Jobfunktionsrolle.name,
        Jobfunktionsrolle.description,
        Jobfunktionsrolle.delegated_to,
    ).order_by(Jobfunktionsrolle.id)
    grant_query = select(JfrGrant.jfr_id, JfrGrant.role_id, JfrGrant.constraints).order_by(
        JfrGrant.jfr_id, JfrGrant.position, JfrGrant.id
    )
    if cvr is not None:
        query = query.where(Jobfunktionsrolle.cvr == cvr)
        grant_query = grant_query.join(Jobfunktionsrolle).where(Jobfunktionsrolle.cvr == cvr)
    grants: dict[str, list[Item]] = {}
    for jfr_id, role_id, constraints in _rows(session, grant_query):
        grants.setdefault(jfr_id, []).append(
            {"role": role_id, **_strip("grant", {"constraints": dict(constraints)})}
        )
    result = []
    for jfr_id, owner, name, description, delegated_to in _rows(session, query):
        values = {
            "description": description,
            "delegated_to": list(delegated_to),
            "grants": grants.get(jfr_id, []),
        }
        result.append(
            {"id": jfr_id, "cvr": owner, "name": name, **_strip("jobfunktionsrolle", values)}
        )
    return result


def _users_query(cvr: str | None) -> Select[Any]:
    query: Any = select(
        User.id,
        User.username,
        User.cvr,
        User.name,
        User.given_name,
        User.surname,
        User.email,
        User.org_unit_uuid,
        _json_text(User.kle),
        User.password_env,
        User.disabled,
    ).where(User.source == "local")
    if cvr is not None:
        query = query.where(User.cvr == cvr)
    return query


def _users(session: Session, cvr: str | None, held: dict[str, list[Item]]) -> Iterator[Item]:
    """Local users of ``cvr`` (or of all); AD users come from the connector, not the file.

    Items are built key by key, leaving out what holds its default (as :func:`_strip`
    does, in the same order): this runs once per user, so it avoids the intermediate dicts.
    """
    query = _users_query(cvr).order_by(User.cvr, User.username)
    for (
        user_id,
        username,
        owner,
        name,
        given_name,
        surname,
        email,
        org_unit,
        kle,
        password_env,
        disabled,
    ) in _rows(session, query, stream=True):
        item: Item = {"username": username, "cvr": owner, "uuid": user_id}
        if name != "":
            item["name"] = name
        if given_name is not None:
            item["given_name"] = given_name
        if surname is not None:
            item["surname"] = surname
        if email is not None:
            item["email"] = email
        if org_unit is not None:
            item["org_unit"] = org_unit
        if kle != "[]" and (codes := _json_list(kle)):
            item["kle"] = codes
        if password_env is not None:
            item["password_env"] = password_env
        if disabled:
            item["disabled"] = disabled
        roles = held.get(f"user:{user_id}")
        if roles:
            item["admin_roles"] = roles
        yield item


def _assignments_query(cvr: str | None) -> Select[Any]:
    query: Any = select(Assignment.id)
    if cvr is not None:
        query = query.where(Assignment.cvr == cvr)
    return query


def _assignments(session: Session, cvr: str | None, names: dict[str, str]) -> Iterator[Item]:
    """Assignments in a stable order: CVR, role, subject, case number.

    Items are built key by key, leaving out what holds its default (as :func:`_strip`
    does, in the same order); the JSON columns are read as text, so the usual empty ones
    are not decoded.
    """
    subject = func.coalesce(User.username, Group.object_guid, Group.dn, Assignment.org_unit_uuid)
    query = (
        select(
            Assignment.cvr,
            Assignment.jfr_id,
            Assignment.subject_type,
            User.username,
            Group.object_guid,
            Group.dn,
            Assignment.org_unit_uuid,
            Assignment.valid_from,
            Assignment.valid_to,
            Assignment.case_number,
            Assignment.inherit,
            _json_text(Assignment.excepted_user_ids),
            _json_text(Assignment.constraints),
        )
        .outerjoin(User, User.id == Assignment.user_id)
        .outerjoin(Group, Group.id == Assignment.group_id)
        .order_by(
            Assignment.cvr,
            Assignment.jfr_id,
            Assignment.subject_type,
            subject,
            Assignment.case_number,
            Assignment.id,
        )
    )
    if cvr is not None:
        query = query.where(Assignment.cvr == cvr)
    for (
        owner,
        role,
        subject_type,
        username,
        object_guid,
        dn,
        org_unit,
        valid_from,
        valid_to,
        case_number,
        inherit,
        excepted,
        constraints,
    ) in _rows(session, query, stream=True):
        if subject_type == "user":
            item: Item = {"user": username}
        elif subject_type == "group":
            item = {"group": object_guid or dn}
        else:
            item = {"org_unit": org_unit}
        item["cvr"] = owner
        item["role"] = role
        if valid_from is not None:
            item["valid_from"] = valid_from.isoformat()
        if valid_to is not None:
            item["valid_to"] = valid_to.isoformat()
        if case_number is not None:
            item["case_number"] = case_number
        if inherit:
            item["inherit"] = inherit
        if excepted != "[]":
            excepted_names = [names[uid] for uid in _json_list(excepted) if uid in names]
            if excepted_names:
                item["except_users"] = excepted_names
        if constraints != "{}" and (values := _json_dict(constraints)):
            item["constraints"] = values
        yield item


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
