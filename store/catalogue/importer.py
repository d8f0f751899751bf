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

How: the importer works set-wise, so a national catalogue (400,000 users, 2,000,000
assignments) imports in minutes and in bounded memory. Org units, users,
jobfunktionsroller (with their grants) and assignments are streamed from the document
into temporary tables (``COPY`` on PostgreSQL, one ``executemany`` on SQLite), with their
references resolved through the maps the validation built (users by CVR and username,
groups by objectGUID or DN); the differences against the store are then a fixed number
of ``UPDATE … FROM``, ``INSERT … SELECT`` and ``DELETE`` statements, whatever the number
of rows. A value is compared as the stored value (JSON as JSON), so a re-import of an
unchanged file updates no row. Fagsystemer, administrative roles and serviceaftaler are
few and keep the per-object code.

Secrets: a user's ``password_env`` / a client's ``client_secret_env`` names an
environment variable read at import time and stored as an argon2 hash. When the
variable is not set, no new hash is made: an existing hash for the same variable name is
kept (so importing from a shell without the secret does not lock people out), otherwise
none is stored. Removing the variable name from the file removes the hash.
"""

# ruff: noqa: S608 - SQL is assembled from this module's own identifiers; values are bound

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, bindparam, or_, select, text
from sqlalchemy.orm import Session

from store import audit, change_marker
from store.catalogue.certificates import import_certificates
from store.catalogue.checks import ADMIN_FAGSYSTEM_ROLE, ADMIN_OPERATOR
from store.catalogue.common import DEFAULTS, CatalogueInvalid, kind_list
from store.catalogue.loading import metadata_entity_id
from store.catalogue.progress import QUIET, Progress, tracked
from store.catalogue.prune import Pruner
from store.catalogue.report import ImportReport
from store.catalogue.validation import check
from store.catalogue.world import World, build_world
from store.db import Database
from store.models import (
    AdminRoleAssignment,
    Base,
    ConstraintType,
    Fagsystem,
    Group,
    OidcClient,
    SamlServiceProvider,
    Serviceaftale,
    ServiceaftaleStatus,
    SystemRole,
    User,
)

Item = dict[str, Any]
M = TypeVar("M", bound=Base)
Row = tuple[Any, ...]


def import_catalogue(
    db_or_session: Database | Session,
    data: Item,
    *,
    prune: bool = False,
    actor: str = "stsctl",
    progress: Progress = QUIET,
) -> ImportReport:
    """Validate ``data`` and upsert it; raise CatalogueInvalid (changing nothing) on any error."""
    if isinstance(db_or_session, Database):
        with db_or_session.session() as session:
            return _import(session, data, prune=prune, actor=actor, progress=progress)
    return _import(db_or_session, data, prune=prune, actor=actor, progress=progress)


def _import(
    session: Session, data: Item, *, prune: bool, actor: str, progress: Progress
) -> ImportReport:
    if progress is not QUIET:
        data = {
            key: tracked(value, key, progress) if key in ("users", "assignments") else value
            for key, value in data.items()
        }
    progress.phase = "checking"
    errors, world = check(session, data, prune=prune)
    if errors:
        raise CatalogueInvalid(errors)
    progress.phase = "importing"
    importer = _Importer(session, world, actor)
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
    if importer.report.changed:
        change_marker.bump(session)  # servers without Redis see the import within a second
    return importer.report


def apply_validated(session: Session, data: Item, *, actor: str) -> ImportReport:
    """Upsert an already validated catalogue fragment without an import audit event.

    For callers that validate with :func:`validate` and record their own audit event in
    the same transaction (the admin service layer). Never prunes.
    """
    importer = _Importer(session, build_world(session, data, prune=False), actor)
    importer.run(data, prune=False)
    return importer.report


def resolve_subject(session: Session, assignment: Item) -> tuple[str, str]:
    """(subject type, stored id) of a validated catalogue assignment's user, group or unit."""
    cvr = assignment["cvr"]
    if "user" in assignment:
        return "user", user_ids(session, cvr, [assignment["user"]])[0]
    if "group" in assignment:
        reference = assignment["group"].casefold()
        group_id = (
            session.execute(
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


def user_ids(session: Session, cvr: str, usernames: list[str]) -> list[str]:
    """The stored ids of validated usernames of municipality ``cvr``, in order (one query)."""
    if not usernames:
        return []
    query = select(User.username, User.id).where(User.cvr == cvr, User.username.in_(usernames))
    found = {username: user_id for username, user_id in session.execute(query)}
    return [found[name] for name in usernames]


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


def _json(value: Any) -> str:
    """A JSON value as SQLAlchemy's JSON type writes it."""
    return json.dumps(value)


def _canonical_json(value: str | None) -> str | None:
    """SQLite helper ``sts_json``: a JSON text in a form where equal values are equal text."""
    return None if value is None else json.dumps(json.loads(value), sort_keys=True)


def _json_of(value: Any, empty: str) -> str:
    """:func:`_json` of a list or mapping, without the encoder for the common empty one."""
    return _json(value) if value else empty


def _new_id() -> str:
    return str(uuid.uuid4())


class Bulk:
    """Set-wise statements on the session's connection, for PostgreSQL and SQLite.

    Temporary tables are created in the session's transaction and dropped by
    :meth:`drop_all` (a rollback drops them too). Rows go in with one ``COPY`` on
    PostgreSQL and one streamed ``executemany`` on SQLite.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.connection = session.connection()
        self.postgres = self.connection.dialect.name == "postgresql"
        self.temps: list[str] = []
        self.now = dt.datetime.now(dt.UTC)
        if not self.postgres:
            driver: Any = self.connection.connection.driver_connection
            driver.create_function("sts_json", 1, _canonical_json, deterministic=True)

    # -- SQL fragments that differ between the two databases ------------------------------

    def differs(self, left: str, right: str, kind: str = "") -> str:
        """SQL: the two values differ (NULL-safe; JSON compared as JSON).

        On PostgreSQL, JSON is first compared as text: a value this importer wrote is
        stored as the text it gave, so equal text (the common case) spares two parses.
        """
        if kind == "json":
            if self.postgres:
                return (
                    f"({left}::text IS DISTINCT FROM {right}::text"
                    f" AND {left}::jsonb IS DISTINCT FROM {right}::jsonb)"
                )
            return f"sts_json({left}) IS NOT sts_json({right})"
        return f"{left} IS DISTINCT FROM {right}" if self.postgres else f"{left} IS NOT {right}"

    def value(self, column: str, kind: str) -> str:
        """A temporary table's text column as the stored column's type."""
        return f"{column}::json" if kind == "json" and self.postgres else column

    def column_type(self, kind: str) -> str:
        return {"bool": "boolean", "date": "date" if self.postgres else "text"}.get(kind, "text")

    def uuid_sql(self) -> str:
        if self.postgres:
            return "gen_random_uuid()::text"
        return (
            "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||"
            " substr(hex(randomblob(2)), 2) || '-' ||"
            " substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) ||"
            " '-' || hex(randomblob(6)))"
        )

    # -- statements ---------------------------------------------------------------------

    def execute(self, sql: str, **params: Any) -> Any:
        """``sql`` with ``params``; ``:now`` is a timestamp, a list parameter expands (IN)."""
        statement = text(sql)
        for name, value in params.items():
            if name == "now":
                statement = statement.bindparams(bindparam("now", type_=DateTime(timezone=True)))
            elif isinstance(value, list):
                statement = statement.bindparams(bindparam(name, expanding=True))
        return self.session.execute(statement, params)

    @contextlib.contextmanager
    def settings(self, **values: str) -> Iterator[None]:
        """PostgreSQL planner settings for the statements inside the block (then as before)."""
        before = {
            name: self.execute("SELECT current_setting(:n)", n=name).scalar_one() for name in values
        }
        for name, value in values.items():
            self.execute("SELECT set_config(:n, :v, true)", n=name, v=value)
        try:
            yield
        finally:
            for name, value in before.items():
                self.execute("SELECT set_config(:n, :v, true)", n=name, v=value)

    def temp(self, name: str, columns: dict[str, str]) -> None:
        """(Re)create temporary table ``name`` with ``columns`` (name → kind)."""
        self.execute(f"DROP TABLE IF EXISTS {name}")
        spec = ", ".join(f"{column} {self.column_type(kind)}" for column, kind in columns.items())
        self.execute(f"CREATE TEMPORARY TABLE {name} ({spec})")
        self.temps.append(name)

    def load(self, table: str, columns: list[str], rows: Iterable[Row]) -> None:
        """Stream ``rows`` into ``table`` in one statement."""
        driver: Any = self.connection.connection.driver_connection
        names = ", ".join(columns)
        if self.postgres:
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            cursor = driver.cursor()
            try:
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            finally:
                cursor.close()

    def index(self, table: str, *columns: str) -> None:
        self.execute(f"CREATE INDEX ix_{table}_{columns[0]} ON {table} ({', '.join(columns)})")
        if self.postgres:
            self.execute(f"ANALYZE {table}")

    def defer_checks(self, table: str) -> list[str]:
        """Drop ``table``'s foreign keys and non-unique indexes; return the SQL restoring them.

        For a first load into an empty table (PostgreSQL): building an index and checking
        a foreign key once over the loaded rows is far cheaper than doing both row by row.
        The statements run in the import's transaction, so a failure restores everything;
        the table is locked until the commit.
        """
        keys = self.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = to_regclass(:t) AND contype = 'f' ORDER BY conname",
            t=table,
        ).all()
        indexes = self.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index AS i"
            " JOIN pg_class AS c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass(:t)"
            " AND NOT i.indisunique AND NOT i.indisprimary ORDER BY c.relname",
            t=table,
        ).all()
        for name, _ in keys:
            self.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            self.execute(f'DROP INDEX "{name}"')
        restore = [definition for _, definition in indexes]
        restore += [
            f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for name, definition in keys
        ]
        return restore

    def drop_all(self) -> None:
        for name in self.temps:
            self.execute(f"DROP TABLE IF EXISTS {name}")
        self.temps = []

    def sync(
        self,
        table: str,
        temp: str,
        keys: list[str],
        values: dict[str, str],
        *,
        insert: dict[str, str] | None = None,
        where: str = "",
    ) -> tuple[int, int]:
        """Update rows of ``table`` whose ``values`` differ from ``temp``'s, insert the missing.

        ``keys`` match the two tables (same column names); ``values`` maps each compared
        column to its kind; ``insert`` gives the extra columns of new rows (column → SQL
        over ``x``). Returns (updated, created).
        """
        match = " AND ".join(f"s.{key} = x.{key}" for key in keys)
        changed = " OR ".join(
            self.differs(f"s.{column}", f"x.{column}", kind) for column, kind in values.items()
        )
        assignments = ", ".join(
            f"{column} = {self.value(f'x.{column}', kind)}" for column, kind in values.items()
        )
        timestamps = "updated_at = :now"
        extra = f" AND {where}" if where else ""
        updated = self.execute(
            f"UPDATE {table} AS s SET {assignments}, {timestamps} FROM {temp} AS x"
            f" WHERE {match} AND ({changed}){extra}",
            now=self.now,
        ).rowcount
        if insert is None:
            return updated, 0
        columns = {**{key: f"x.{key}" for key in keys}, **insert}
        columns.update({c: self.value(f"x.{c}", kind) for c, kind in values.items()})
        created = self.execute(
            f"INSERT INTO {table} ({', '.join(columns)}, created_at, updated_at)"
            f" SELECT {', '.join(columns.values())}, :now, :now FROM {temp} AS x"
            f" WHERE NOT EXISTS (SELECT 1 FROM {table} AS s WHERE {match}){extra}",
            now=self.now,
        ).rowcount
        return updated, created


UNIT_VALUES = {"cvr": "text", "name": "text", "kle": "json"}
USER_VALUES = {
    "name": "text",
    "given_name": "text",
    "surname": "text",
    "email": "text",
    "org_unit_uuid": "text",
    "kle": "json",
    "password_env": "text",
    "disabled": "bool",
    "source": "text",
    "password_hash": "text",
}
JFR_VALUES = {"cvr": "text", "name": "text", "description": "text", "delegated_to": "json"}
ASSIGNMENT_VALUES = {
    "valid_from": "date",
    "valid_to": "date",
    "inherit": "bool",
    "constraints": "json",
    "excepted_user_ids": "json",
}
ASSIGNMENT_KEYS = ["subject_type", "user_id", "group_id", "org_unit_uuid", "cvr", "jfr_id"]
# A first load of at least this many assignments into an empty table builds the table's
# indexes and checks its foreign keys after the insert (Bulk.defer_checks, PostgreSQL).
FIRST_LOAD_ROWS = 50_000


class _Importer:
    """Applies one validated catalogue to one session, counting what changes."""

    def __init__(self, session: Session, world: World, actor: str) -> None:
        self.session = session
        self.world = world
        self.actor = actor
        self.report = ImportReport()
        self.hasher = PasswordHasher()
        self.admin_users: list[Item] = []  # users named with admin_roles

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

    def count(self, kind: str, updated: int, created: int = 0) -> None:
        if updated:
            self.report.updated[kind] += updated
        if created:
            self.report.created[kind] += created

    def run(self, data: Item, *, prune: bool) -> None:
        self.session.flush()
        bulk = Bulk(self.session)
        municipalities = data.get("municipalities", [])
        self.import_municipalities(bulk, municipalities)
        self.import_users(bulk, data.get("users", []))
        self.import_managers(bulk)
        for system in data.get("fagsystemer", []):
            self.import_fagsystem(_with_defaults("fagsystem", system))
        self.session.flush()
        self.import_admin_roles(data)
        self.session.flush()
        self.import_jfrs(bulk, data.get("jobfunktionsroller", []))
        self.import_assignments(bulk, data.get("assignments", []), prune=prune)
        for aftale in data.get("serviceaftaler", []):
            self.import_serviceaftale(_with_defaults("serviceaftale", aftale))
        self.session.flush()
        if prune:
            Pruner(self.session, bulk, self.report, data).run()
        bulk.drop_all()
        self.session.expire_all()  # rows changed under the session's objects

    # -- municipalities, org units, users ------------------------------------------------

    def import_municipalities(self, bulk: Bulk, municipalities: list[Item]) -> None:
        """Municipalities, then their org units (new ones with their parents), then parents."""
        bulk.temp("cat_municipalities", {"cvr": "text", "name": "text", "domain": "text"})
        bulk.load(
            "cat_municipalities",
            ["cvr", "name", "domain"],
            ((m["cvr"], m["name"], m["domain"]) for m in municipalities),
        )
        updated, created = bulk.sync(
            "municipalities",
            "cat_municipalities",
            ["cvr"],
            {"name": "text", "domain": "text"},
            insert={},
        )
        self.count("municipality", updated, created)
        columns = {"uuid": "text", **UNIT_VALUES, "parent_uuid": "text", "manager": "text"}
        bulk.temp("cat_org_units", {**columns, "is_new": "bool"})
        bulk.load(
            "cat_org_units",
            list(columns),
            (
                (
                    unit["uuid"],
                    municipality["cvr"],
                    unit["name"],
                    _json(list(unit.get("kle", []))),
                    unit.get("parent"),
                    unit.get("manager"),
                )
                for municipality in municipalities
                for unit in municipality.get("org_units", [])
            ),
        )
        bulk.index("cat_org_units", "uuid")
        bulk.execute(
            "UPDATE cat_org_units SET is_new = NOT EXISTS"
            " (SELECT 1 FROM org_units s WHERE s.uuid = cat_org_units.uuid)"
        )
        updated, created = bulk.sync(
            "org_units",
            "cat_org_units",
            ["uuid"],
            UNIT_VALUES,
            insert={"parent_uuid": "x.parent_uuid"},
        )
        self.count("org_unit", updated, created)
        updated, _ = bulk.sync(
            "org_units", "cat_org_units", ["uuid"], {"parent_uuid": "text"}, where="NOT x.is_new"
        )
        self.count("org_unit", updated)

    def import_managers(self, bulk: Bulk) -> None:
        """Set org-unit managers once the users exist (a new unit's is not counted)."""
        bulk.execute(
            "UPDATE cat_org_units AS x SET manager = (SELECT u.id FROM users AS u"
            " WHERE u.cvr = x.cvr AND u.username = x.manager) WHERE x.manager IS NOT NULL"
        )
        for new in (False, True):
            flag = "x.is_new" if new else "NOT x.is_new"
            updated = bulk.execute(
                "UPDATE org_units AS s SET manager_user_id = x.manager, updated_at = :now"
                " FROM cat_org_units AS x WHERE s.uuid = x.uuid AND "
                + bulk.differs("s.manager_user_id", "x.manager")
                + f" AND {flag}",
                now=bulk.now,
            ).rowcount
            if not new:
                self.count("org_unit", updated)

    def import_users(self, bulk: Bulk, users: Iterable[Item]) -> None:
        """Users through a temporary table; secrets hashed for the rows that name one."""
        columns = {"id": "text", "cvr": "text", "username": "text", **USER_VALUES}
        bulk.temp("cat_users", columns)
        bulk.load("cat_users", list(columns), self.user_rows(users))
        bulk.index("cat_users", "cvr", "username")
        self.hash_user_secrets(bulk)
        # Users this import disables lose every session and refresh token at once
        # (store.access: each use is checked against access_not_before).
        bulk.execute(
            "UPDATE users SET access_not_before = :now WHERE NOT disabled AND EXISTS ("
            "SELECT 1 FROM cat_users AS x WHERE x.cvr = users.cvr"
            " AND x.username = users.username AND x.disabled)",
            now=bulk.now,
        )
        updated, created = bulk.sync(
            "users", "cat_users", ["cvr", "username"], USER_VALUES, insert={"id": "x.id"}
        )
        self.count("user", updated, created)

    def user_rows(self, users: Iterable[Item]) -> Iterator[Row]:
        known = self.world.users
        for user in users:
            if "admin_roles" in user:
                self.admin_users.append(user)
            user = _with_defaults("user", user)
            key = (user["cvr"], user["username"])
            user_id = known.get(key)
            if user_id is None:
                user_id = known[key] = _new_id()
            yield (
                user_id,
                user["cvr"],
                user["username"],
                user["name"],
                user["given_name"],
                user["surname"],
                user["email"],
                user["org_unit"],
                _json(list(user["kle"])),
                user["password_env"],
                user["disabled"],
                "local",
                None,
            )

    def hash_user_secrets(self, bulk: Bulk) -> None:
        rows = bulk.execute(
            "SELECT x.cvr, x.username, x.password_env, s.password_env, s.password_hash"
            " FROM cat_users AS x LEFT JOIN users AS s"
            " ON s.cvr = x.cvr AND s.username = x.username"
            " WHERE x.password_env IS NOT NULL"
        ).all()
        hashes = [
            {"h": self.secret_hash(env, old_env, old_hash), "c": cvr, "u": username}
            for cvr, username, env, old_env, old_hash in rows
        ]
        if hashes:
            self.session.execute(
                text("UPDATE cat_users SET password_hash = :h WHERE cvr = :c AND username = :u"),
                hashes,
            )

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
        if "certificates" in system:  # KOMBIT STS (store/catalogue/certificates.py)
            created, removed = import_certificates(self.session, system_id, system["certificates"])
            self.report.created["certificate"] += created
            self.report.deleted["certificate"] += removed

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
        for user in self.admin_users:
            if "admin_roles" in user:
                user_id = self.world.users[(user["cvr"], user["username"])]
                assert user_id is not None  # imported above
                self.replace_admin_roles(f"user:{user_id}", {"user_id": user_id}, user)
        for system in data.get("fagsystemer", []):
            for client in system.get("oidc_clients", []):
                if "admin_roles" in client:
                    client_id = client["client_id"]
                    holder = {"client_id": client_id}
                    self.replace_admin_roles(f"client:{client_id}", holder, client)

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

    def import_jfrs(self, bulk: Bulk, jfrs: list[Item]) -> None:
        """JFRs through a temporary table; a JFR's grants are replaced when any differs."""
        wanted = {
            jfr["id"]: [(g["role"], g.get("constraints", {})) for g in jfr.get("grants", [])]
            for jfr in jfrs
        }
        columns = {"id": "text", **JFR_VALUES}
        bulk.temp("cat_jfrs", columns)
        bulk.load(
            "cat_jfrs",
            list(columns),
            (
                (
                    jfr["id"],
                    jfr["cvr"],
                    jfr["name"],
                    jfr.get("description", ""),
                    _json(list(jfr.get("delegated_to", []))),
                )
                for jfr in jfrs
            ),
        )
        bulk.index("cat_jfrs", "id")
        stored = set(
            bulk.execute(
                "SELECT x.id FROM cat_jfrs AS x JOIN jobfunktionsroller AS s ON s.id = x.id"
            ).scalars()
        )
        match = "s.id = x.id AND (" + " OR ".join(
            bulk.differs(f"s.{column}", f"x.{column}", kind) for column, kind in JFR_VALUES.items()
        )
        changed = set(
            bulk.execute(
                "UPDATE jobfunktionsroller AS s SET "
                + ", ".join(f"{c} = {bulk.value(f'x.{c}', k)}" for c, k in JFR_VALUES.items())
                + f", updated_at = :now FROM cat_jfrs AS x WHERE {match})"
                + (" RETURNING s.id" if bulk.postgres else " RETURNING id"),
                now=bulk.now,
            ).scalars()
        )
        created = bulk.execute(
            "INSERT INTO jobfunktionsroller (id, cvr, name, description, delegated_to,"
            " created_at, updated_at) SELECT x.id, x.cvr, x.name, x.description, "
            + bulk.value("x.delegated_to", "json")
            + ", :now, :now FROM cat_jfrs AS x WHERE NOT EXISTS"
            " (SELECT 1 FROM jobfunktionsroller AS s WHERE s.id = x.id)",
            now=bulk.now,
        ).rowcount
        regrant = [jfr_id for jfr_id in wanted if jfr_id not in stored]
        rows = bulk.execute(
            "SELECT g.jfr_id, g.role_id, g.constraints FROM jfr_grants AS g"
            " JOIN cat_jfrs AS x ON x.id = g.jfr_id ORDER BY g.jfr_id, g.position, g.id"
        )
        have: dict[str, list[tuple[str, Any]]] = {}
        for jfr_id, group in groupby(rows, key=lambda row: row[0]):
            have[jfr_id] = [(role, _loaded(constraints)) for _, role, constraints in group]
        for jfr_id in stored:
            if have.get(jfr_id, []) != wanted[jfr_id]:
                regrant.append(jfr_id)
                changed.add(jfr_id)
        self.count("jobfunktionsrolle", len(changed), created)
        if regrant:
            bulk.temp("cat_regrant", {"id": "text"})
            bulk.load("cat_regrant", ["id"], ((jfr_id,) for jfr_id in regrant))
            bulk.execute("DELETE FROM jfr_grants WHERE jfr_id IN (SELECT id FROM cat_regrant)")
            bulk.load(
                "jfr_grants",
                ["jfr_id", "position", "role_id", "constraints"],
                (
                    (jfr_id, position, role_id, _json(constraints))
                    for jfr_id in regrant
                    for position, (role_id, constraints) in enumerate(wanted[jfr_id])
                ),
            )

    def import_assignments(
        self, bulk: Bulk, assignments: Iterable[Item], *, prune: bool = False
    ) -> None:
        """Assignments by natural key: matched set-wise, then updated and inserted set-wise.

        The temporary table keeps, for every assignment the file names, the id it has in
        the store afterwards (``kept_id``): ``--prune`` deletes the others.
        """
        columns = {
            **{key: "text" for key in ASSIGNMENT_KEYS},
            "case_number": "text",
            **ASSIGNMENT_VALUES,
        }
        if bulk.postgres:
            self.match_assignments_postgres(bulk, columns, assignments)
            changed = "x.changed"  # compared while matching
            if prune:
                bulk.execute("CREATE INDEX ix_cat_assignments_kept_id ON cat_assignments (kept_id)")
        else:
            bulk.temp("cat_assignments", {**columns, "match_id": "text", "kept_id": "text"})
            bulk.load("cat_assignments", list(columns), self.assignment_rows(assignments))
            bulk.index("cat_assignments", "jfr_id")
            for subject in ("user_id", "group_id", "org_unit_uuid"):
                stored = (
                    "SELECT s.id FROM assignments AS s"
                    f" WHERE s.{subject} = cat_assignments.{subject}"
                    " AND s.subject_type = cat_assignments.subject_type"
                    " AND s.cvr = cat_assignments.cvr AND s.jfr_id = cat_assignments.jfr_id"
                    " AND s.case_number IS cat_assignments.case_number"
                    " ORDER BY s.created_at, s.id LIMIT 1"
                )
                bulk.execute(
                    f"UPDATE cat_assignments SET match_id = ({stored}) WHERE {subject} IS NOT NULL"
                )
            bulk.execute(
                "UPDATE cat_assignments SET kept_id = COALESCE(match_id, " + bulk.uuid_sql() + ")"
            )
            bulk.index("cat_assignments", "kept_id")
            changed = " OR ".join(
                bulk.differs(f"s.{column}", f"x.{column}", kind)
                for column, kind in ASSIGNMENT_VALUES.items()
            )
        updated = bulk.execute(
            "UPDATE assignments AS s SET "
            + ", ".join(f"{c} = {bulk.value(f'x.{c}', k)}" for c, k in ASSIGNMENT_VALUES.items())
            + ", updated_at = :now FROM cat_assignments AS x"
            + f" WHERE s.id = x.match_id AND ({changed})",
            now=bulk.now,
        ).rowcount
        inserted = [*ASSIGNMENT_KEYS, "case_number", *ASSIGNMENT_VALUES]
        restore = self.first_load(bulk)
        created = bulk.execute(
            f"INSERT INTO assignments (id, {', '.join(inserted)}, created_at, updated_at)"
            " SELECT x.kept_id, "
            + ", ".join(bulk.value(f"x.{c}", ASSIGNMENT_VALUES.get(c, "")) for c in inserted)
            + ", :now, :now FROM cat_assignments AS x WHERE x.match_id IS NULL",
            now=bulk.now,
        ).rowcount
        if restore:
            bulk.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for statement in restore:
                bulk.execute(statement)
            bulk.execute("ANALYZE assignments")
        self.count("assignment", updated, created)

    def first_load(self, bulk: Bulk) -> list[str]:
        """On PostgreSQL, when many assignments go into an empty table: defer its checks."""
        if not bulk.postgres or bulk.execute("SELECT 1 FROM assignments LIMIT 1").first():
            return []
        new = bulk.execute(
            "SELECT count(*) FROM cat_assignments WHERE match_id IS NULL"
        ).scalar_one()
        return bulk.defer_checks("assignments") if new >= FIRST_LOAD_ROWS else []

    def match_assignments_postgres(
        self, bulk: Bulk, columns: dict[str, str], assignments: Iterable[Item]
    ) -> None:
        """``cat_assignments``: each row with its stored match and whether its values differ.

        Of stored assignments with the same natural key, the earliest created is the match
        (as before). The common case, where no row of the file matches more than one
        stored assignment, is one hash join (no sort of the store); the comparison of
        values is made in the same pass, so the update only touches the ``changed`` rows.
        Only when a file row matched several stored assignments is the table made again
        with the earliest of each key (a sort of the municipalities the file assigns in).
        """
        bulk.temp("cat_assignments_in", columns)
        rows = _Counted(self.assignment_rows(assignments))
        bulk.load("cat_assignments_in", list(columns), rows)
        bulk.execute("ANALYZE cat_assignments_in")
        bulk.execute("SET LOCAL work_mem = '256MB'")
        key = [
            "subject_type",
            "COALESCE(user_id, group_id, org_unit_uuid)",
            "cvr",
            "jfr_id",
            "COALESCE(case_number, '')",
        ]
        mine = [
            "x.subject_type",
            "COALESCE(x.user_id, x.group_id, x.org_unit_uuid)",
            "x.cvr",
            "x.jfr_id",
            "COALESCE(x.case_number, '')",
        ]
        differs = " OR ".join(
            bulk.differs(f"s.{column}", f"x.{column}", kind)
            for column, kind in ASSIGNMENT_VALUES.items()
        )
        select = (
            "CREATE TEMPORARY TABLE cat_assignments AS"
            " SELECT x.*, s.id AS match_id, COALESCE(s.id, gen_random_uuid()::text) AS kept_id,"
            f" (s.id IS NOT NULL AND ({differs})) AS changed FROM cat_assignments_in AS x"
        )
        theirs = [
            "s.subject_type",
            "COALESCE(s.user_id, s.group_id, s.org_unit_uuid)",
            "s.cvr",
            "s.jfr_id",
            "COALESCE(s.case_number, '')",
        ]
        stored = " AND ".join(f"{a} = {b}" for a, b in zip(theirs, mine, strict=True))
        bulk.execute("DROP TABLE IF EXISTS cat_assignments")
        # One hash join: the planner, misled by the expressions, would sort or loop.
        with bulk.settings(enable_mergejoin="off", enable_nestloop="off", jit="off"):
            made = bulk.execute(f"{select} LEFT JOIN assignments AS s ON {stored}").rowcount
        bulk.temps.append("cat_assignments")
        if made != rows.count:  # a file row matched repeated stored assignments
            keys = ", ".join(key)
            named = ", ".join(f"{part} AS k{index}" for index, part in enumerate(key))
            match = " AND ".join(f"m.k{index} = {part}" for index, part in enumerate(mine))
            bulk.execute("DROP TABLE cat_assignments")
            bulk.execute(
                f"{select} LEFT JOIN ("
                f" SELECT DISTINCT ON ({keys}) id, {named} FROM assignments"
                " WHERE cvr IN (SELECT DISTINCT cvr FROM cat_assignments_in)"
                f" ORDER BY {keys}, created_at, id) AS m ON {match}"
                " LEFT JOIN assignments AS s ON s.id = m.id"
            )
        bulk.execute("ANALYZE cat_assignments")

    def assignment_rows(self, assignments: Iterable[Item]) -> Iterator[Row]:
        users = self.world.users
        groups = self.world.groups
        for item in assignments:
            cvr = item["cvr"]
            user_id = group_id = unit = None
            if "user" in item:
                subject, user_id = "user", users[(cvr, item["user"])]
            elif "group" in item:
                subject, group_id = "group", groups[(cvr, item["group"].casefold())]
            else:
                subject, unit = "org_unit", item["org_unit"]
            excepted = [users[(cvr, name)] for name in item.get("except_users", ())]
            yield (
                subject,
                user_id,
                group_id,
                unit,
                cvr,
                item["role"],
                item.get("case_number"),
                item.get("valid_from"),
                item.get("valid_to"),
                item.get("inherit", False),
                _json_of(item.get("constraints"), "{}"),
                _json_of(excepted, "[]"),
            )

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


class _Counted:
    """An iterable of rows that counts the rows it has given."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Row]:
        for row in self.rows:
            self.count += 1
            yield row


def _loaded(value: Any) -> Any:
    """A JSON column's value as Python (text SQL returns it as text on SQLite)."""
    return json.loads(value) if isinstance(value, str) else value
