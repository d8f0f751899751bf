"""Idempotent import of a validated catalogue: one transaction, one audit event.

Objects are matched by the catalogue's identifiers and a value is only assigned when it
differs, so importing the same file twice reports nothing created, updated or deleted.

``prune`` removes, for the municipalities the file names and only for them, the org
units, local users, jobfunktionsroller, assignments and serviceaftaler that the file no
longer names. Fagsystemer (with their constraint types, roles, OIDC clients and SAML
SPs) are shared by all municipalities, so one municipality's file cannot prove that
another municipality no longer needs them: prune leaves them alone, and removing a
fagsystem is a separate, deliberate operation. Users synchronised from AD and org units
with an ``external_id`` belong to their connector and are never pruned either. A JFR
that is pruned takes its assignments with it, including delegated ones made by another
municipality; those are counted as deleted assignments.

Administrative roles: a user or OIDC client named with ``admin_roles`` ends up holding
exactly those roles (created and deleted are counted as ``admin_role``); named without
the key, its roles are left alone, with or without ``prune``. The operator role is never
in a catalogue and never touched by an import. A pruned user's roles go with it.

Secrets: a user's ``password_env`` / a client's ``client_secret_env`` names an
environment variable read at import time and stored as an argon2 hash. When the
variable is not set, no new hash is made: an existing hash for the same variable name is
kept (so importing from a shell without the secret does not lock people out), otherwise
none is stored. Removing the variable name from the file removes the hash.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bench.catalogue_legacy.checks import ADMIN_FAGSYSTEM_ROLE, ADMIN_OPERATOR
from bench.catalogue_legacy.common import DEFAULTS, CatalogueInvalid, kind_list, parse_date
from bench.catalogue_legacy.loading import metadata_entity_id
from bench.catalogue_legacy.prune import Pruner
from bench.catalogue_legacy.report import ImportReport
from bench.catalogue_legacy.validation import validate
from store import audit
from store.db import Database
from store.models import (
    AdminRoleAssignment,
    Assignment,
    Base,
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
    ServiceaftaleStatus,
    SystemRole,
    User,
)

Item = dict[str, Any]
M = TypeVar("M", bound=Base)
AssignmentKey = tuple[str, str, str, str, str | None]


def import_catalogue(
    db_or_session: Database | Session, data: Item, *, prune: bool = False, actor: str = "stsctl"
) -> ImportReport:
    """Validate ``data`` and upsert it; raise CatalogueInvalid (changing nothing) on any error."""
    if isinstance(db_or_session, Database):
        with db_or_session.session() as session:
            return _import(session, data, prune=prune, actor=actor)
    return _import(db_or_session, data, prune=prune, actor=actor)


def _import(session: Session, data: Item, *, prune: bool, actor: str) -> ImportReport:
    errors = validate(session, data, prune=prune)
    if errors:
        raise CatalogueInvalid(errors)
    importer = _Importer(session, actor)
    importer.run(data, prune=prune)
    named = sorted(m["cvr"] for m in data.get("municipalities", []))
    audit.record(
        session,
        actor=actor,
        action="catalogue.import",
        object_type="catalogue",
        cvr=named[0] if len(named) == 1 else None,
        details={**importer.report.as_dict(), "prune": prune, "municipalities": named},
    )
    return importer.report


def apply_validated(session: Session, data: Item, *, actor: str) -> ImportReport:
    """Upsert an already validated catalogue fragment without an import audit event.

    For callers that validate with :func:`validate` and record their own audit event in
    the same transaction (the admin service layer). Never prunes.
    """
    importer = _Importer(session, actor)
    importer.run(data, prune=False)
    return importer.report


def resolve_subject(session: Session, assignment: Item) -> tuple[str, str]:
    """(subject type, stored id) of a validated catalogue assignment's user, group or unit."""
    return _Importer(session, "-").resolve_subject(assignment)


def user_ids(session: Session, cvr: str, usernames: list[str]) -> list[str]:
    """The stored ids of validated usernames of municipality ``cvr``, in order."""
    importer = _Importer(session, "-")
    return [importer.user_id(cvr, name) for name in usernames]


def _with_defaults(kind: str, item: Item) -> Item:
    """``item`` with the documented default for every key it leaves out."""
    return {**DEFAULTS[kind], **item}


def _admin_scope(item: Item) -> str:
    """The stored ``scope`` of a (validated) catalogue administrative role."""
    if item["role"] == ADMIN_FAGSYSTEM_ROLE:
        return f"fagsystem:{item['fagsystem']}"
    return str(item["cvr"])


def _assign(obj: Base, values: Item) -> bool:
    """Set attributes that differ; return whether any did (unchanged values are not touched)."""
    changed = False
    for attribute, value in values.items():
        if getattr(obj, attribute) != value:
            setattr(obj, attribute, value)
            changed = True
    return changed


class _Importer:
    """Applies one catalogue to one session, counting what changes."""

    def __init__(self, session: Session, actor: str) -> None:
        self.session = session
        self.actor = actor
        self.report = ImportReport()
        self.hasher = PasswordHasher()
        self.new_units: set[str] = set()

    def upsert(self, kind: str, model: type[M], key: Any, values: Item, keys: Item) -> M:
        """Create ``model`` at primary key ``key`` or update it; count the outcome."""
        obj = self.session.get(model, key)
        if obj is None:
            obj = model(**keys, **values)
            self.session.add(obj)
            self.report.created[kind] += 1
        elif _assign(obj, values):
            self.report.updated[kind] += 1
        return obj

    def run(self, data: Item, *, prune: bool) -> None:
        municipalities = data.get("municipalities", [])
        self.import_municipalities(municipalities)
        self.import_users(data.get("users", []))
        self.import_managers(municipalities)
        for system in data.get("fagsystemer", []):
            self.import_fagsystem(_with_defaults("fagsystem", system))
        self.session.flush()
        self.import_admin_roles(data)
        for jfr in data.get("jobfunktionsroller", []):
            self.import_jfr(_with_defaults("jobfunktionsrolle", jfr))
        self.session.flush()
        kept_assignments = self.import_assignments(data.get("assignments", []))
        for aftale in data.get("serviceaftaler", []):
            self.import_serviceaftale(_with_defaults("serviceaftale", aftale))
        self.session.flush()
        if prune:
            Pruner(self.session, self.report, data, kept_assignments).run()

    # -- municipalities, org units, users ------------------------------------------------

    def import_municipalities(self, municipalities: list[Item]) -> None:
        """Municipalities, then their units without parents, then the parents (FK-safe order)."""
        new_units = self.new_units
        for municipality in municipalities:
            cvr = municipality["cvr"]
            values = {"name": municipality["name"], "domain": municipality["domain"]}
            self.upsert("municipality", Municipality, cvr, values, {"cvr": cvr})
            self.session.flush()
            for unit in municipality.get("org_units", []):
                unit = _with_defaults("org_unit", unit)
                if self.session.get(OrgUnit, unit["uuid"]) is None:
                    new_units.add(unit["uuid"])
                values = {"cvr": cvr, "name": unit["name"], "kle": list(unit["kle"])}
                self.upsert("org_unit", OrgUnit, unit["uuid"], values, {"uuid": unit["uuid"]})
        self.session.flush()
        for municipality in municipalities:
            for unit in municipality.get("org_units", []):
                obj = self.session.get_one(OrgUnit, unit["uuid"])
                changed = _assign(obj, {"parent_uuid": unit.get("parent")})
                if changed and unit["uuid"] not in new_units:
                    self.report.updated["org_unit"] += 1
        self.session.flush()

    def import_managers(self, municipalities: list[Item]) -> None:
        """Set org-unit managers once the users exist."""
        for municipality in municipalities:
            for unit in municipality.get("org_units", []):
                manager = unit.get("manager")
                manager_id = self.user_id(municipality["cvr"], manager) if manager else None
                obj = self.session.get_one(OrgUnit, unit["uuid"])
                changed = _assign(obj, {"manager_user_id": manager_id})
                if changed and unit["uuid"] not in self.new_units:
                    self.report.updated["org_unit"] += 1
        self.session.flush()

    def user_id(self, cvr: str, username: str) -> str:
        """The id of the (validated, so existing) user ``username`` of ``cvr``."""
        return self.session.execute(
            select(User.id).where(User.cvr == cvr, User.username == username)
        ).scalar_one()

    def import_users(self, users: list[Item]) -> None:
        for user in users:
            user = _with_defaults("user", user)
            obj = self.session.scalar(
                select(User).where(User.cvr == user["cvr"], User.username == user["username"])
            )
            values = {
                "name": user["name"],
                "given_name": user["given_name"],
                "surname": user["surname"],
                "email": user["email"],
                "org_unit_uuid": user["org_unit"],
                "kle": list(user["kle"]),
                "password_env": user["password_env"],
                "disabled": user["disabled"],
                "source": "local",
            }
            values["password_hash"] = self.secret_hash(
                user["password_env"],
                obj.password_env if obj else None,
                obj.password_hash if obj else None,
            )
            if obj is None:
                keys = {"cvr": user["cvr"], "username": user["username"]}
                if user.get("uuid"):
                    keys["id"] = user["uuid"]
                self.session.add(User(**keys, **values))
                self.report.created["user"] += 1
            elif _assign(obj, values):
                self.report.updated["user"] += 1
        self.session.flush()

    def secret_hash(self, env: str | None, old_env: str | None, old_hash: str | None) -> str | None:
        """Argon2 hash of the secret in variable ``env``; the old hash is kept if it still fits."""
        if env is None:
            return None
        secret = os.environ.get(env)
        if secret is None:
            return old_hash if env == old_env else None
        if old_hash and env == old_env:
            try:
                if self.hasher.verify(old_hash, secret) and not self.hasher.check_needs_rehash(
                    old_hash
                ):
                    return old_hash
            except (VerificationError, InvalidHashError):
                pass
        return self.hasher.hash(secret)

    # -- fagsystemer -------------------------------------------------------------------

    def import_fagsystem(self, system: Item) -> None:
        system_id = system["id"]
        values = {
            "name": system["name"],
            "entity_id": system["entity_id"],
            "kinds": kind_list(system["kind"]),
            "personal_data": system["personal_data"],
            "min_loa": system["min_loa"],
        }
        self.upsert("fagsystem", Fagsystem, system_id, values, {"id": system_id})
        self.session.flush()
        owner = {"fagsystem_id": system_id}
        for ctype in system["constraint_types"]:
            ctype = _with_defaults("constraint_type", ctype)
            values = {
                "name": ctype["name"],
                "kind": ctype["kind"],
                "values": ctype["values"],
                "regex": ctype["regex"],
            }
            keys = {**owner, "uri": ctype["id"]}
            self.upsert("constraint_type", ConstraintType, (system_id, ctype["id"]), values, keys)
        for role in system["roles"]:
            role = _with_defaults("system_role", role)
            values = {
                **owner,
                "name": role["name"],
                "description": role["description"],
                "constraint_uris": list(role["constraints"]),
            }
            self.upsert("system_role", SystemRole, role["id"], values, {"id": role["id"]})
        for client in system["oidc_clients"]:
            self.import_client(system_id, _with_defaults("oidc_client", client))
        for sp in system["saml"]:
            self.import_saml(system_id, _with_defaults("saml_sp", sp))

    def import_client(self, system_id: str, client: Item) -> None:
        existing = self.session.get(OidcClient, client["client_id"])
        values = {key: client[key] for key in DEFAULTS["oidc_client"]}
        values["fagsystem_id"] = system_id
        values["client_secret_hash"] = self.secret_hash(
            client["client_secret_env"],
            existing.client_secret_env if existing else None,
            existing.client_secret_hash if existing else None,
        )
        self.upsert(
            "oidc_client",
            OidcClient,
            client["client_id"],
            values,
            {"client_id": client["client_id"]},
        )

    def import_saml(self, system_id: str, sp: Item) -> None:
        entity_id = metadata_entity_id(sp["metadata"])
        values = {key: sp[key] for key in DEFAULTS["saml_sp"]}
        values.update(
            fagsystem_id=system_id,
            metadata_xml=sp["metadata"],
            metadata_source=sp.get("metadata_url") or sp.get("metadata_file"),
        )
        self.upsert("saml_sp", SamlServiceProvider, entity_id, values, {"entity_id": entity_id})

    # -- administrative roles ----------------------------------------------------------

    def import_admin_roles(self, data: Item) -> None:
        """A user or client named with ``admin_roles`` ends up holding exactly those.

        Named without the key, its roles are left alone; the operator role is never
        touched (it is not in catalogues: ``stsctl admin grant`` gives it).
        """
        for user in data.get("users", []):
            if "admin_roles" in user:
                user_id = self.user_id(user["cvr"], user["username"])
                self.replace_admin_roles(f"user:{user_id}", {"user_id": user_id}, user)
        for system in data.get("fagsystemer", []):
            for client in system.get("oidc_clients", []):
                if "admin_roles" in client:
                    client_id = client["client_id"]
                    holder = {"client_id": client_id}
                    self.replace_admin_roles(f"client:{client_id}", holder, client)
        self.session.flush()

    def replace_admin_roles(self, holder: str, keys: Item, named: Item) -> None:
        wanted = {(item["role"], _admin_scope(item)): item for item in named["admin_roles"]}
        stored = {
            (row.role, row.scope): row
            for row in self.session.scalars(
                select(AdminRoleAssignment).where(
                    AdminRoleAssignment.holder == holder,
                    AdminRoleAssignment.role != ADMIN_OPERATOR,
                )
            )
        }
        for key, row in stored.items():
            if key not in wanted:
                self.session.delete(row)
                self.report.deleted["admin_role"] += 1
        for key, item in wanted.items():
            if key not in stored:
                self.session.add(
                    AdminRoleAssignment(
                        **keys,
                        role=item["role"],
                        cvr=item.get("cvr"),
                        fagsystem_id=item.get("fagsystem"),
                        holder=holder,
                        scope=key[1],
                        granted_by=self.actor,
                    )
                )
                self.report.created["admin_role"] += 1

    # -- jobfunktionsroller, assignments, serviceaftaler -----------------------------------

    def import_jfr(self, jfr: Item) -> None:
        """Upsert a JFR; its grants are replaced as a whole when any of them differs."""
        values = {
            "cvr": jfr["cvr"],
            "name": jfr["name"],
            "description": jfr["description"],
            "delegated_to": list(jfr["delegated_to"]),
        }
        obj = self.session.get(Jobfunktionsrolle, jfr["id"])
        created = obj is None
        if obj is None:
            obj = Jobfunktionsrolle(id=jfr["id"], **values)
            self.session.add(obj)
            self.report.created["jobfunktionsrolle"] += 1
        changed = not created and _assign(obj, values)
        wanted = [(grant["role"], grant.get("constraints", {})) for grant in jfr["grants"]]
        if [(grant.role_id, grant.constraints) for grant in obj.grants] != wanted:
            obj.grants = [
                JfrGrant(position=position, role_id=role_id, constraints=constraints)
                for position, (role_id, constraints) in enumerate(wanted)
            ]
            changed = changed or not created
        if changed:
            self.report.updated["jobfunktionsrolle"] += 1

    def import_assignments(self, assignments: list[Item]) -> set[str]:
        """Upsert assignments by natural key; return the ids of the ones the file names."""
        existing = self.stored_assignments()
        kept: set[str] = set()
        for assignment in assignments:
            assignment = _with_defaults("assignment", assignment)
            subject_type, subject_id = self.resolve_subject(assignment)
            key = (
                subject_type,
                subject_id,
                assignment["cvr"],
                assignment["role"],
                assignment["case_number"],
            )
            values = {
                "valid_from": parse_date(assignment["valid_from"]),
                "valid_to": parse_date(assignment["valid_to"]),
                "inherit": assignment["inherit"],
                "constraints": dict(assignment["constraints"]),
                "excepted_user_ids": [
                    self.user_id(assignment["cvr"], name) for name in assignment["except_users"]
                ],
            }
            obj = existing.get(key)
            if obj is None:
                obj = Assignment(
                    cvr=assignment["cvr"],
                    jfr_id=assignment["role"],
                    subject_type=subject_type,
                    case_number=assignment["case_number"],
                    **{
                        f"{subject_type}_id"
                        if subject_type != "org_unit"
                        else "org_unit_uuid": subject_id
                    },
                    **values,
                )
                self.session.add(obj)
                self.session.flush()
                existing[key] = obj
                self.report.created["assignment"] += 1
            elif _assign(obj, values):
                self.report.updated["assignment"] += 1
            kept.add(obj.id)
        return kept

    def stored_assignments(self) -> dict[AssignmentKey, Assignment]:
        """Stored assignments by (subject type, subject id, CVR, JFR, case number)."""
        result: dict[AssignmentKey, Assignment] = {}
        for obj in self.session.scalars(select(Assignment).order_by(Assignment.created_at)):
            subject = obj.user_id or obj.group_id or obj.org_unit_uuid or ""
            result.setdefault(
                (obj.subject_type, subject, obj.cvr, obj.jfr_id, obj.case_number), obj
            )
        return result

    def resolve_subject(self, assignment: Item) -> tuple[str, str]:
        """(subject_type, stored id) of the assignment's user, group or org unit."""
        cvr = assignment["cvr"]
        if "user" in assignment:
            return "user", self.user_id(cvr, assignment["user"])
        if "group" in assignment:
            reference = assignment["group"].casefold()
            group_id = (
                self.session.execute(
                    select(Group.id).where(
                        Group.cvr == cvr,
                        or_(Group.object_guid.ilike(reference), Group.dn.ilike(reference)),
                    )
                )
                .scalars()
                .first()
            )
            assert group_id is not None  # validated
            return "group", group_id
        return "org_unit", assignment["org_unit"]

    def import_serviceaftale(self, aftale: Item) -> None:
        values = {
            "cvr": aftale["cvr"],
            "anvendersystem_id": aftale["anvendersystem"],
            "service_id": aftale["service"],
            "roles": list(aftale["roles"]),
            "constraints": dict(aftale["constraints"]),
            "on_behalf_of": aftale["on_behalf_of"],
            "status": aftale["status"],
        }
        old = self.session.get(Serviceaftale, aftale["id"])
        old_status = old.status if old else None
        obj = self.upsert(
            "serviceaftale", Serviceaftale, aftale["id"], values, {"id": aftale["id"]}
        )
        if obj.status != old_status:
            note = "catalogue import"
            obj.history.append(ServiceaftaleStatus(status=obj.status, actor=self.actor, note=note))
