"""Privilege resolution: (user, municipality, fagsystem, day) → privilege groups, with reasons.

How it works, and why this shape
--------------------------------
The obvious design, one ``casbin.Enforcer`` per process loaded with every assignment of
every municipality, does not survive national scale: 2,000,000 assignment rules take
minutes and gigabytes to load into pycasbin, and pycasbin's domain role manager rebuilds
a role graph from *all* links of a domain on every ``g()`` call, so a decision costs
well over 100 ms once a domain holds ~20,000 rules. Start-up would grow with the world.

So Casbin is used for the decision over a **small per-request policy**. For one
resolution we load, with a handful of indexed SQL queries, only the rows that can
matter to this user:

1. the user, the municipality and the fagsystem (with its constraint types);
2. the user's organisation unit and its ancestors (one recursive query);
3. the user's groups, transitively through nesting (one recursive query);
4. the assignments valid today whose subject is the user, one of those groups, or one
   of those units, *and* whose JFR grants at least one role of the requesting
   fagsystem (one query joining assignment → JFR → grant → system role);
5. only when a grant asks for them: the sub-trees and managed units needed for
   dynamic constraint values.

From these rows we build a Casbin policy in the RBAC-with-domains model of
``policies/rbac_with_domains.conf`` (domain = CVR; group nesting and the org tree are
role links; inheritance and excepted users are policy rules) and ask the enforcer, for
each candidate assignment, whether the user holds it. The policy has tens of rules, so
a decision is microseconds, start-up is constant (nothing is loaded until asked), and
memory does not grow with the world. Results are cached by :mod:`authz.cache`.

Rules (``CATALOGUE.md``, "Semantics that tests rely on", and ``DOMAIN.md``)
--------------------------------------------------------------------------
* Only assignments made in the requested CVR and valid on the day (Europe/Copenhagen,
  both dates inclusive). The day is part of every cache key, so no restart is needed
  when a date passes.
* Only roles of the requesting fagsystem.
* Constraint values per grant: ``fixed``; ``dynamic`` (see :data:`DYNAMIC_VALUES`);
  ``postponed`` (taken from the assignment). A role's required constraint type with no
  value, or a value that comes out empty (no org unit, no managed units, a value not in
  the type's value list), drops that group and says so in ``notes``: an unconstrained
  or empty constraint must never be sent, since a fagsystem might read it as "all".
  KLE is the exception, by convention: an empty KLE becomes ``99.99.99``.
* ``user_kle`` is the union of the user's own KLE and the KLE of the user's own
  organisation unit (not of its ancestors).
* ``managed_orgunits`` is the units whose manager is the user (without sub-units).
* ``orgunit_level_N_and_below``: level 1 is the root; the user's ancestor at level N and
  everything below it. A user placed above level N gets no value (group dropped): the
  fallback "own unit and below" would be wider than any level-N sub-tree.
* Delegated JFRs: the group's scope is the JFR owner's CVR. An assignment of a JFR owned
  by another municipality that has not delegated it to the requested CVR grants nothing.
  Delegated JFRs cannot carry dynamic constraints (DOMAIN.md); such a grant is dropped.
* Org-unit assignments reach the unit's own users, and with ``inherit`` the users of all
  sub-units; users in ``excepted_user_ids`` are excluded.
* Group assignments reach every user who is a member of the group, directly or through
  nested groups of any depth.
* Disabled users: :class:`~authz.errors.UserDisabled` is raised. A disabled user must get
  no token at all, and an error keeps that from looking like "logged in, no roles".
* Unknown user, fagsystem or CVR, or a user of another CVR: typed errors (never an empty
  result).
* Merging (:func:`merge_groups`): one group per distinct (role, scope, constraint
  values); two groups of the same role and scope are merged only when they differ in
  exactly one constraint type, and then only that type's values are united.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import casbin
from sqlalchemy import Date, and_, bindparam, literal, or_, select
from sqlalchemy.orm import Session

from authz import kle
from authz.errors import (
    UnknownFagsystem,
    UnknownMunicipality,
    UnknownUser,
    UserDisabled,
    WrongMunicipality,
)
from authz.model import Constraint, PrivilegeGroup, PrivilegeResult, Source, cvr_scope
from policies import policy_path
from store.db import Database
from store.models import (
    Assignment,
    ConstraintType,
    Fagsystem,
    Group,
    GroupMember,
    GroupNesting,
    JfrGrant,
    Jobfunktionsrolle,
    Municipality,
    OrgUnit,
    SystemRole,
    User,
)

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
MAX_DEPTH = 64  # org tree and group nesting; deeper is treated as a cycle

DYNAMIC_VALUES = (
    "user_kle",
    "user_orgunit",
    "user_orgunit_and_below",
    "orgunit_level_N_and_below",
    "managed_orgunits",
)
_LEVEL = re.compile(r"^orgunit_level_(\d+)_and_below$")

_a = Assignment.__table__
_j = Jobfunktionsrolle.__table__
_jg = JfrGrant.__table__
_sr = SystemRole.__table__
_ou = OrgUnit.__table__
_u = User.__table__
_gm = GroupMember.__table__
_gn = GroupNesting.__table__
_g = Group.__table__
_ct = ConstraintType.__table__
_f = Fagsystem.__table__
_m = Municipality.__table__


def today(now: dt.datetime | None = None) -> dt.date:
    """The current date in Europe/Copenhagen: the day assignment dates are compared with."""
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(COPENHAGEN).date()


def seconds_until_midnight(now: dt.datetime | None = None) -> float:
    """Seconds until the next midnight in Copenhagen (DST-safe): a cache entry's maximum life."""
    moment = (now if now is not None else dt.datetime.now(dt.UTC)).astimezone(COPENHAGEN)
    tomorrow = moment.date() + dt.timedelta(days=1)
    midnight = dt.datetime.combine(tomorrow, dt.time(0), tzinfo=COPENHAGEN)
    return max(1.0, (midnight.astimezone(dt.UTC) - moment.astimezone(dt.UTC)).total_seconds())


@contextmanager
def _session(db_or_session: Database | Session) -> Iterator[Session]:
    if isinstance(db_or_session, Session):
        yield db_or_session
    else:
        with db_or_session.session() as session:
            yield session


# -- rows loaded for one resolution --------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    uuid: str
    parent: str | None
    name: str
    kle: tuple[str, ...]


@dataclass(frozen=True)
class _ConstraintKind:
    uri: str
    kind: str
    values: tuple[str, ...] | None
    regex: str | None


@dataclass
class _Grant:
    role_id: str
    constraints: dict[str, Any]
    required: tuple[str, ...]


@dataclass
class _Candidate:
    id: str
    subject_type: str
    user_id: str | None
    group_id: str | None
    org_unit_uuid: str | None
    valid_from: dt.date | None
    valid_to: dt.date | None
    case_number: str | None
    inherit: bool
    constraints: dict[str, Any]
    excepted: tuple[str, ...]
    jfr_id: str
    jfr_name: str
    jfr_cvr: str
    delegated_to: tuple[str, ...]
    grants: list[_Grant] = field(default_factory=list)


@dataclass
class _World:
    """Everything one resolution needs; ``session`` answers the lazy sub-tree questions."""

    session: Session
    user_id: str
    username: str
    cvr: str
    user_kle: tuple[str, ...]
    chain: list[_Unit]  # own unit first, root last
    group_edges: list[tuple[str | None, str]]  # (child group or None for the user, parent)
    group_names: dict[str, str]
    candidates: list[_Candidate]
    kinds: dict[str, _ConstraintKind]
    _below: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _managed: tuple[str, ...] | None = None

    def below(self, uuid: str) -> tuple[str, ...]:
        """``uuid`` and all its descendants (sorted)."""
        if uuid not in self._below:
            rows = self.session.execute(_DESCENDANTS, {"root": uuid})
            self._below[uuid] = tuple(sorted({row[0] for row in rows}))
        return self._below[uuid]

    def managed(self) -> tuple[str, ...]:
        if self._managed is None:
            rows = self.session.execute(_MANAGED, {"u": self.user_id, "cvr": self.cvr})
            self._managed = tuple(sorted(r[0] for r in rows))
        return self._managed


# -- the statements: built once, so SQLAlchemy's compiled cache serves every request ----------


def _descendants_statement() -> Any:
    base = select(_ou.c.uuid, literal(0).label("depth")).where(_ou.c.uuid == bindparam("root"))
    tree = base.cte("below", recursive=True)
    child = _ou.alias("child")
    tree = tree.union_all(
        select(child.c.uuid, (tree.c.depth + 1).label("depth")).where(
            child.c.parent_uuid == tree.c.uuid, tree.c.depth < MAX_DEPTH
        )
    )
    return select(tree.c.uuid)


def _chain_statement() -> Any:
    base = select(
        _ou.c.uuid, _ou.c.parent_uuid, _ou.c.name, _ou.c.kle, literal(0).label("depth")
    ).where(_ou.c.uuid == bindparam("start"))
    chain = base.cte("chain", recursive=True)
    parent = _ou.alias("parent")
    chain = chain.union_all(
        select(
            parent.c.uuid,
            parent.c.parent_uuid,
            parent.c.name,
            parent.c.kle,
            (chain.c.depth + 1).label("depth"),
        ).where(parent.c.uuid == chain.c.parent_uuid, chain.c.depth < MAX_DEPTH)
    )
    return select(chain).order_by(chain.c.depth)


def _groups_statement() -> Any:
    base = select(
        literal(None, _gm.c.group_id.type).label("child"),
        _gm.c.group_id.label("parent"),
        literal(0).label("depth"),
    ).where(_gm.c.member_user_id == bindparam("u"))
    closure = base.cte("closure", recursive=True)
    closure = closure.union(
        select(
            _gn.c.child_id.label("child"),
            _gn.c.parent_id.label("parent"),
            (closure.c.depth + 1).label("depth"),
        ).where(_gn.c.child_id == closure.c.parent, closure.c.depth < MAX_DEPTH)
    )
    return select(closure.c.child, closure.c.parent, _g.c.name, _g.c.dn).join(
        _g, _g.c.id == closure.c.parent
    )


def _candidates_statement() -> Any:
    on = bindparam("on", type_=Date)
    return (
        select(
            _a.c.id,
            _a.c.subject_type,
            _a.c.user_id,
            _a.c.group_id,
            _a.c.org_unit_uuid,
            _a.c.valid_from,
            _a.c.valid_to,
            _a.c.case_number,
            _a.c.inherit,
            _a.c.constraints.label("a_constraints"),
            _a.c.excepted_user_ids,
            _j.c.id.label("jfr_id"),
            _j.c.name.label("jfr_name"),
            _j.c.cvr.label("jfr_cvr"),
            _j.c.delegated_to,
            _jg.c.role_id,
            _jg.c.constraints.label("g_constraints"),
            _jg.c.position,
            _jg.c.id.label("grant_id"),
            _sr.c.constraint_uris,
        )
        .select_from(_a)
        .join(_j, _j.c.id == _a.c.jfr_id)
        .join(_jg, _jg.c.jfr_id == _j.c.id)
        .join(_sr, _sr.c.id == _jg.c.role_id)
        .where(
            _a.c.cvr == bindparam("cvr"),
            _sr.c.fagsystem_id == bindparam("f"),
            or_(_a.c.valid_from.is_(None), _a.c.valid_from <= on),
            or_(_a.c.valid_to.is_(None), _a.c.valid_to >= on),
            or_(
                and_(_a.c.subject_type == "user", _a.c.user_id == bindparam("u")),
                _a.c.group_id.in_(bindparam("groups", expanding=True)),
                _a.c.org_unit_uuid.in_(bindparam("units", expanding=True)),
            ),
        )
        .order_by(_a.c.id, _jg.c.position, _jg.c.id)
    )


def _fagsystem_statement(by: Any) -> Any:
    return (
        select(_f.c.id, _ct.c.uri, _ct.c.kind, _ct.c["values"].label("ct_values"), _ct.c.regex)
        .select_from(_f)
        .outerjoin(_ct, _ct.c.fagsystem_id == _f.c.id)
        .where(by == bindparam("f"))
    )


_DESCENDANTS = _descendants_statement()
_CHAIN = _chain_statement()
_GROUPS = _groups_statement()
_CANDIDATES = _candidates_statement()
_FAGSYSTEM_BY_ID = _fagsystem_statement(_f.c.id)
_FAGSYSTEM_BY_ENTITY = _fagsystem_statement(_f.c.entity_id)
_MANAGED = select(_ou.c.uuid).where(
    _ou.c.manager_user_id == bindparam("u"), _ou.c.cvr == bindparam("cvr")
)
_USER = select(_u.c.id, _u.c.cvr, _u.c.username, _u.c.org_unit_uuid, _u.c.kle, _u.c.disabled).where(
    _u.c.id == bindparam("u")
)
_MUNICIPALITY = select(_m.c.cvr).where(_m.c.cvr == bindparam("cvr"))


def _load_chain(session: Session, start: str | None) -> list[_Unit]:
    if start is None:
        return []
    units: list[_Unit] = []
    seen: set[str] = set()
    for row in session.execute(_CHAIN, {"start": start}):
        if row.uuid in seen:  # a cycle in the tree: stop at the first repetition
            break
        seen.add(row.uuid)
        units.append(_Unit(row.uuid, row.parent_uuid, row.name, tuple(row.kle or ())))
    return units


def _load_groups(
    session: Session, user_id: str
) -> tuple[list[tuple[str | None, str]], dict[str, str]]:
    """Edges of the user's transitive group membership, and the groups' display names."""
    edges: set[tuple[str | None, str]] = set()
    names: dict[str, str] = {}
    for row in session.execute(_GROUPS, {"u": user_id}):
        edges.add((row.child, row.parent))
        names[row.parent] = row.name or row.dn
    return sorted(edges, key=lambda e: (e[0] or "", e[1])), names


def _load_candidates(
    session: Session,
    *,
    user_id: str,
    cvr: str,
    fagsystem_id: str,
    on: dt.date,
    group_ids: Sequence[str],
    unit_ids: Sequence[str],
) -> list[_Candidate]:
    params = {
        "u": user_id,
        "cvr": cvr,
        "f": fagsystem_id,
        "on": on,
        "groups": list(group_ids),
        "units": list(unit_ids),
    }
    by_id: dict[str, _Candidate] = {}
    for row in session.execute(_CANDIDATES, params):
        candidate = by_id.get(row.id)
        if candidate is None:
            candidate = by_id[row.id] = _Candidate(
                id=row.id,
                subject_type=row.subject_type,
                user_id=row.user_id,
                group_id=row.group_id,
                org_unit_uuid=row.org_unit_uuid,
                valid_from=row.valid_from,
                valid_to=row.valid_to,
                case_number=row.case_number,
                inherit=bool(row.inherit),
                constraints=dict(row.a_constraints or {}),
                excepted=tuple(row.excepted_user_ids or ()),
                jfr_id=row.jfr_id,
                jfr_name=row.jfr_name,
                jfr_cvr=row.jfr_cvr,
                delegated_to=tuple(row.delegated_to or ()),
            )
        candidate.grants.append(
            _Grant(row.role_id, dict(row.g_constraints or {}), tuple(row.constraint_uris or ()))
        )
    return list(by_id.values())


def _load_fagsystem(session: Session, fagsystem_id: str) -> tuple[str, dict[str, _ConstraintKind]]:
    rows = session.execute(_FAGSYSTEM_BY_ID, {"f": fagsystem_id}).all()
    if not rows:
        rows = session.execute(_FAGSYSTEM_BY_ENTITY, {"f": fagsystem_id}).all()
        if not rows:
            raise UnknownFagsystem(fagsystem_id)
    kinds = {
        row.uri: _ConstraintKind(
            row.uri,
            row.kind,
            tuple(row.ct_values) if row.ct_values is not None else None,
            row.regex,
        )
        for row in rows
        if row.uri is not None
    }
    return rows[0].id, kinds


class FagsystemCatalog:
    """Process-local cache: fagsystem id (or entity id) → (id, its constraint types).

    Used by :class:`authz.cache.AuthzEngine`, which clears it on every fagsystem-wide
    invalidation. Unknown fagsystems are never cached.
    """

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, dict[str, _ConstraintKind]]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[str, dict[str, _ConstraintKind]] | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: str, value: tuple[str, dict[str, _ConstraintKind]]) -> None:
        with self._lock:
            self._data[key] = value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def _load_world(
    session: Session,
    user_id: str,
    cvr: str,
    fagsystem_id: str,
    on: dt.date,
    catalog: FagsystemCatalog | None = None,
) -> tuple[_World, str]:
    """Check the question (typed errors) and load the rows; returns the world and fagsystem id."""
    known = catalog.get(fagsystem_id) if catalog is not None else None
    if known is None:
        known = _load_fagsystem(session, fagsystem_id)
        if catalog is not None:
            catalog.put(fagsystem_id, known)
    real_fagsystem, kinds = known
    user = session.execute(_USER, {"u": user_id}).first()
    if user is None or user.cvr != cvr:
        if session.execute(_MUNICIPALITY, {"cvr": cvr}).first() is None:
            raise UnknownMunicipality(cvr)
        if user is None:
            raise UnknownUser(user_id, cvr)
        raise WrongMunicipality(user_id, cvr, user.cvr)
    if user.disabled:
        raise UserDisabled(user_id)
    chain = _load_chain(session, user.org_unit_uuid)
    edges, names = _load_groups(session, user_id)
    groups = sorted({parent for _, parent in edges})
    candidates = _load_candidates(
        session,
        user_id=user_id,
        cvr=cvr,
        fagsystem_id=real_fagsystem,
        on=on,
        group_ids=groups,
        unit_ids=[unit.uuid for unit in chain],
    )
    world = _World(
        session=session,
        user_id=user_id,
        username=user.username,
        cvr=cvr,
        user_kle=tuple(user.kle or ()),
        chain=chain,
        group_edges=edges,
        group_names=names,
        candidates=candidates,
        kinds=kinds,
    )
    return world, real_fagsystem


# -- the Casbin decision ------------------------------------------------------------------


@lru_cache(maxsize=1)
def _model_text() -> str:
    return policy_path("rbac_with_domains.conf").read_text(encoding="utf-8")


def build_enforcer(world: _World) -> casbin.Enforcer:
    """The per-request RBAC-with-domains enforcer for this user (see the module docstring)."""
    cvr = world.cvr
    user = f"user:{world.user_id}"
    links: list[list[str]] = []
    for child, parent in world.group_edges:
        links.append([user if child is None else f"group:{child}", f"group:{parent}", cvr])
    if world.chain:
        own = world.chain[0].uuid
        links.append([user, f"unit:{own}", cvr])
        links.append([f"unit:{own}", f"tree:{own}", cvr])
        for unit in world.chain:
            if unit.parent is not None:
                links.append([f"tree:{unit.uuid}", f"tree:{unit.parent}", cvr])
    rules: list[list[str]] = []
    for candidate in world.candidates:
        obj = f"asg:{candidate.id}"
        if candidate.subject_type == "user":
            subject = f"user:{candidate.user_id}"
        elif candidate.subject_type == "group":
            subject = f"group:{candidate.group_id}"
        else:
            prefix = "tree" if candidate.inherit else "unit"
            subject = f"{prefix}:{candidate.org_unit_uuid}"
        rules.append([subject, cvr, obj, "allow"])
        if world.user_id in candidate.excepted:
            rules.append([user, cvr, obj, "deny"])
    model = casbin.Enforcer.new_model(text=_model_text())
    enforcer = casbin.Enforcer(model)
    enforcer.rm_map["g"].max_hierarchy_level = MAX_DEPTH + 8
    if rules:
        enforcer.model.add_policies("p", "p", rules)
    if links:
        enforcer.model.add_policies("g", "g", links)
    enforcer.build_role_links()
    return enforcer


def held_assignments(world: _World) -> list[_Candidate]:
    """The candidate assignments the enforcer says the user holds in the CVR."""
    if not world.candidates:
        return []
    enforcer = build_enforcer(world)
    user = f"user:{world.user_id}"
    return [c for c in world.candidates if enforcer.enforce(user, world.cvr, f"asg:{c.id}")]


# -- constraint values --------------------------------------------------------------------


class _Drop(Exception):
    """This grant gives no group; the message goes into the result's notes."""


def _spec_values(
    world: _World, candidate: _Candidate, uri: str, spec: Any, delegated: bool
) -> list[str]:
    if not isinstance(spec, Mapping):
        raise _Drop(f"constraint {uri}: unreadable value specification {spec!r}")
    if "fixed" in spec:
        fixed = spec["fixed"]
        return [fixed] if isinstance(fixed, str) else [str(v) for v in fixed or ()]
    if spec.get("postponed"):
        given = candidate.constraints.get(uri)
        if given is None:
            raise _Drop(f"constraint {uri}: postponed, but the assignment gives no value")
        return [given] if isinstance(given, str) else [str(v) for v in given]
    dynamic = spec.get("dynamic")
    if dynamic is None:
        raise _Drop(f"constraint {uri}: unreadable value specification {dict(spec)!r}")
    if delegated:
        raise _Drop(f"constraint {uri}: a delegated JFR cannot use dynamic value {dynamic!r}")
    own = world.chain[0] if world.chain else None
    if dynamic == "user_kle":
        return [*world.user_kle, *(own.kle if own else ())]
    if dynamic == "user_orgunit":
        return [own.uuid] if own else []
    if dynamic == "user_orgunit_and_below":
        return list(world.below(own.uuid)) if own else []
    if dynamic == "managed_orgunits":
        return list(world.managed())
    level = _LEVEL.match(str(dynamic))
    if level:
        n = int(level.group(1))
        # chain is own unit first, root last: the root is level 1, own unit is len(chain).
        if n < 1 or n > len(world.chain):
            return []
        return list(world.below(world.chain[len(world.chain) - n].uuid))
    raise _Drop(f"constraint {uri}: unknown dynamic value {dynamic!r}")


def normalise_values(kind: _ConstraintKind, values: Iterable[str]) -> tuple[str, ...]:
    """Normalised values for a constraint type; () means "no valid value"."""
    if kind.kind == "kle":
        return kle.normalise(values)
    cleaned = {v.strip() for v in values if isinstance(v, str) and v.strip()}
    cleaned = {v for v in cleaned if "," not in v}  # a comma cannot be written in a token
    if kind.kind == "values" and kind.values is not None:
        cleaned &= set(kind.values)
    if kind.kind == "text" and kind.regex:
        pattern = re.compile(kind.regex)
        cleaned = {v for v in cleaned if pattern.fullmatch(v)}
    return tuple(sorted(cleaned))


@dataclass
class _Draft:
    role_id: str
    scope_cvr: str
    constraints: dict[str, tuple[str, ...]]
    sources: list[Source]

    def key(self) -> tuple[str, str, tuple[tuple[str, tuple[str, ...]], ...]]:
        return (self.role_id, self.scope_cvr, tuple(sorted(self.constraints.items())))


def _source(world: _World, candidate: _Candidate) -> Source:
    if candidate.subject_type == "user":
        via = "direct assignment"
        subject = candidate.user_id or ""
    elif candidate.subject_type == "group":
        subject = candidate.group_id or ""
        via = "group " + " > ".join(
            world.group_names.get(g, g) for g in _group_path(world, subject)
        )
    else:
        subject = candidate.org_unit_uuid or ""
        names = {u.uuid: u.name for u in world.chain}
        own = world.chain[0].uuid if world.chain else None
        how = "own unit" if subject == own else "inherited from a parent unit"
        via = f"org unit {names.get(subject, subject)} ({how})"
    return Source(
        assignment_id=candidate.id,
        jfr_id=candidate.jfr_id,
        jfr_name=candidate.jfr_name,
        subject_type=candidate.subject_type,
        subject_id=subject,
        via=via,
        case_number=candidate.case_number,
        valid_from=candidate.valid_from.isoformat() if candidate.valid_from else None,
        valid_to=candidate.valid_to.isoformat() if candidate.valid_to else None,
    )


def _group_path(world: _World, target: str) -> list[str]:
    """Shortest membership path from the user to ``target``: [direct group, ..., target]."""
    parents: dict[str | None, list[str]] = defaultdict(list)
    for child, parent in world.group_edges:
        parents[child].append(parent)
    queue: list[list[str]] = [[g] for g in parents[None]]
    seen: set[str] = set()
    while queue:
        path = queue.pop(0)
        if path[-1] == target:
            return path
        if path[-1] in seen:
            continue
        seen.add(path[-1])
        queue.extend([*path, nxt] for nxt in parents[path[-1]])
    return [target]


def _drafts(world: _World, held: list[_Candidate], notes: list[str]) -> list[_Draft]:
    drafts: list[_Draft] = []
    for candidate in held:
        scope = candidate.jfr_cvr
        delegated = scope != world.cvr
        if delegated and world.cvr not in candidate.delegated_to:
            notes.append(
                f"assignment {candidate.id}: JFR {candidate.jfr_id} belongs to CVR {scope} and "
                f"is not delegated to {world.cvr}; ignored"
            )
            continue
        source = _source(world, candidate)
        for grant in candidate.grants:
            try:
                constraints: dict[str, tuple[str, ...]] = {}
                uris = list(dict.fromkeys([*grant.required, *grant.constraints]))
                for uri in uris:
                    if uri not in grant.constraints:
                        raise _Drop(f"constraint {uri} is required by the role but has no value")
                    kind = world.kinds.get(uri)
                    if kind is None:
                        raise _Drop(f"constraint {uri} is not a constraint type of the fagsystem")
                    raw = _spec_values(world, candidate, uri, grant.constraints[uri], delegated)
                    values = normalise_values(kind, raw)
                    if not values:
                        raise _Drop(f"constraint {uri}: no valid value for this user")
                    constraints[uri] = values
            except _Drop as drop:
                notes.append(
                    f"{grant.role_id} from {candidate.jfr_id} (assignment {candidate.id}) "
                    f"not granted: {drop}"
                )
                continue
            drafts.append(_Draft(grant.role_id, scope, constraints, [source]))
    return drafts


def merge_groups(drafts: Iterable[_Draft], kinds: Mapping[str, _ConstraintKind]) -> list[_Draft]:
    """Deduplicate, then merge groups that differ in exactly one constraint type.

    Uniting one type's values is exact: (A × R) ∪ (B × R) = (A ∪ B) × R. With two or more
    differing types it would widen access, so those stay separate groups. The merge is
    greedy in a canonical order, so the result is deterministic.
    """
    by_role: dict[tuple[str, str], list[_Draft]] = defaultdict(list)
    for draft in sorted(drafts, key=_Draft.key):
        bucket = by_role[(draft.role_id, draft.scope_cvr)]
        bucket.append(
            _Draft(draft.role_id, draft.scope_cvr, dict(draft.constraints), list(draft.sources))
        )
    merged: list[_Draft] = []
    for _, bucket in sorted(by_role.items()):
        changed = True
        while changed:
            changed = False
            for i in range(len(bucket)):
                for j in range(i + 1, len(bucket)):
                    combined = _merge_pair(bucket[i], bucket[j], kinds)
                    if combined is not None:
                        bucket[i] = combined
                        del bucket[j]
                        changed = True
                        break
                if changed:
                    break
        merged.extend(sorted(bucket, key=_Draft.key))
    return merged


def _merge_pair(a: _Draft, b: _Draft, kinds: Mapping[str, _ConstraintKind]) -> _Draft | None:
    if a.constraints.keys() != b.constraints.keys():
        return None
    differing = [uri for uri in a.constraints if a.constraints[uri] != b.constraints[uri]]
    if len(differing) > 1:
        return None
    constraints = dict(a.constraints)
    for uri in differing:
        kind = kinds.get(uri) or _ConstraintKind(uri, "values", None, None)
        constraints[uri] = normalise_values(kind, [*a.constraints[uri], *b.constraints[uri]])
    sources = list(dict.fromkeys([*a.sources, *b.sources]))
    return _Draft(a.role_id, a.scope_cvr, constraints, sources)


def _to_group(draft: _Draft) -> PrivilegeGroup:
    return PrivilegeGroup(
        privilege=draft.role_id,
        scope=cvr_scope(draft.scope_cvr),
        constraints=tuple(
            Constraint(uri, values) for uri, values in sorted(draft.constraints.items())
        ),
        sources=tuple(sorted(set(draft.sources), key=lambda s: (s.jfr_id, s.assignment_id))),
    )


# -- public entry points ------------------------------------------------------------------


def resolve(
    db_or_session: Database | Session,
    user_id: str,
    cvr: str,
    fagsystem_id: str,
    *,
    on: dt.date | None = None,
    catalog: FagsystemCatalog | None = None,
) -> PrivilegeResult:
    """The user's privilege groups for one fagsystem, acting for ``cvr``, on day ``on``.

    Uncached; :class:`authz.cache.AuthzEngine` is the cached front. ``fagsystem_id`` is a
    fagsystem id or its entity id. Raises :class:`~authz.errors.AuthzError` subclasses for
    unknown or disabled users, unknown fagsystems and unknown municipalities.
    """
    day = on if on is not None else today()
    with _session(db_or_session) as session:
        world, real_fagsystem = _load_world(session, user_id, cvr, fagsystem_id, day, catalog)
        notes: list[str] = []
        held = held_assignments(world)
        drafts = _drafts(world, held, notes)
        groups = tuple(_to_group(d) for d in merge_groups(drafts, world.kinds))
        return PrivilegeResult(
            user_id=user_id,
            username=world.username,
            cvr=cvr,
            fagsystem_id=real_fagsystem,
            on=day,
            groups=groups,
            notes=tuple(notes),
        )


def find_user(db_or_session: Database | Session, user: str, cvr: str) -> str:
    """A user's id from a username (or id) within a municipality; typed errors otherwise."""
    with _session(db_or_session) as session:
        row = session.execute(
            select(_u.c.id).where(_u.c.cvr == cvr, or_(_u.c.username == user, _u.c.id == user))
        ).first()
        if row is not None:
            return str(row[0])
        if session.execute(_MUNICIPALITY, {"cvr": cvr}).first() is None:
            raise UnknownMunicipality(cvr)
        other = session.execute(select(_u.c.cvr).where(_u.c.id == user)).first()
        if other is not None:
            raise WrongMunicipality(user, cvr, other[0])
        raise UnknownUser(user, cvr)
