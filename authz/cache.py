"""Cached privilege resolution, and precise invalidation that reaches every process.

Two cache levels in front of :func:`authz.engine.resolve`:

1. **In-process LRU** (``local_size`` entries): a hit is a dict lookup, the warm path.
   Entries are dropped when an invalidation message names them (below), and live at most
   ``local_ttl`` seconds, which bounds staleness should a message ever be lost (Redis
   restart).
2. **Shared entry in the ephemeral store** (Redis in production), so a worker that has
   not seen the user yet does not need SQL either. The key carries the Copenhagen date::

       authz:r:<cvr>:<user>:<fagsystem>:<date>

   and the value stores four generation counters (everything, the CVR, the fagsystem,
   the user) as they were read *before* the answer was computed. One ``MGET`` fetches
   the entry and the current counters; the entry counts only if they are equal, so
   bumping a counter invalidates every entry built on the old value without finding or
   deleting anything. Entries expire at the next Copenhagen midnight (or after
   ``shared_ttl``, whichever is first), and the date is in the key as well: when an
   assignment's ``valid_to`` passes, the next day's key simply misses.

The fagsystem's constraint types are kept per process as well (:class:`FagsystemCatalog`)
and dropped by any fagsystem-wide invalidation.

What an invalidation covers (:class:`Change` → :func:`scope_of`):

=========================  ============================================================
change                     users whose cached answers are dropped
=========================  ============================================================
user                       that user (KLE, org unit, disabled, direct assignments)
group (members, nesting,   every user who is a member of the group directly or through
group assignment)          nested groups (recursive query)
org unit (KLE, manager,    the users of the unit's sub-tree, plus the old/new manager
unit assignment)           when the caller names them as users
org tree (units added,     the whole municipality (dynamic values such as
moved, deleted)            ``orgunit_level_2_and_below`` can change for anyone)
JFR (grants, delegation)   every holder: direct users, group members, unit sub-trees
fagsystem (roles,          every answer for that fagsystem
constraint types)
municipality               every answer for that CVR
everything                 all answers
=========================  ============================================================

When a change reaches more than :data:`MAX_PRECISE_USERS` users, the municipality's
counter is bumped instead of each user's (one operation instead of thousands); that is
wider than needed but never misses anyone.

Call :func:`invalidate` (or one of the ``invalidate_*`` helpers) **after** the change is
committed, or :func:`invalidate_on_commit` inside the transaction: it computes the
affected users from the session (which sees the change) and publishes once the commit
has happened, so no process recomputes from the old rows. A process that computes an
answer while an invalidation arrives does not keep that answer locally.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, literal, select
from sqlalchemy.orm import Session

from authz.engine import FagsystemCatalog, resolve, seconds_until_midnight, today
from authz.model import PrivilegeResult
from store.access import USER_DISABLED_CHANNEL
from store.db import Database
from store.ephemeral import MISSED, EphemeralState, RedisState, StateUnavailable, Subscription
from store.models import (
    Assignment,
    Group,
    GroupMember,
    GroupNesting,
    Jobfunktionsrolle,
    OrgUnit,
    User,
)

CHANNEL = "authz:invalidate"
GEN_TTL = 400 * 24 * 3600.0  # longer than any entry lives, so a counter never resets under one
MAX_PRECISE_USERS = 2000

_u = User.__table__
_gm = GroupMember.__table__
_gn = GroupNesting.__table__
_ou = OrgUnit.__table__
_a = Assignment.__table__
_j = Jobfunktionsrolle.__table__
_g = Group.__table__


# -- what changed, and whom it affects -------------------------------------------------------


@dataclass
class Change:
    """What changed in the store; :func:`scope_of` turns it into the affected answers."""

    users: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    org_units: set[str] = field(default_factory=set)
    org_trees: set[str] = field(default_factory=set)  # CVRs whose tree changed shape
    jfrs: set[str] = field(default_factory=set)
    assignments: set[str] = field(default_factory=set)
    fagsystems: set[str] = field(default_factory=set)
    municipalities: set[str] = field(default_factory=set)
    everything: bool = False


@dataclass
class Scope:
    """Affected answers: by user, by CVR, by fagsystem, or all."""

    users: set[str] = field(default_factory=set)
    cvrs: set[str] = field(default_factory=set)
    fagsystems: set[str] = field(default_factory=set)
    everything: bool = False

    def is_empty(self) -> bool:
        return not (self.users or self.cvrs or self.fagsystems or self.everything)

    def to_message(self) -> bytes:
        return json.dumps(
            {
                "users": sorted(self.users),
                "cvrs": sorted(self.cvrs),
                "fagsystems": sorted(self.fagsystems),
                "all": self.everything,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_message(cls, raw: bytes) -> Scope:
        if raw == MISSED:  # the subscriber was disconnected: anything may have changed
            return cls(everything=True)
        data = json.loads(raw)
        return cls(
            set(data.get("users", ())),
            set(data.get("cvrs", ())),
            set(data.get("fagsystems", ())),
            bool(data.get("all")),
        )


def _group_members(session: Session, group_ids: Iterable[str]) -> set[str]:
    """Users who are members of any of the groups, directly or through nested groups."""
    ids = list(group_ids)
    if not ids:
        return set()
    base = select(_g.c.id.label("gid"), literal(0).label("depth")).where(_g.c.id.in_(ids))
    below = base.cte("below", recursive=True)
    below = below.union(
        select(_gn.c.child_id.label("gid"), (below.c.depth + 1).label("depth")).where(
            _gn.c.parent_id == below.c.gid, below.c.depth < 64
        )
    )
    rows = session.execute(
        select(_gm.c.member_user_id).where(_gm.c.group_id.in_(select(below.c.gid)))
    )
    return {row[0] for row in rows}


def _subtree_users(session: Session, unit_ids: Iterable[str]) -> set[str]:
    ids = list(unit_ids)
    if not ids:
        return set()
    base = select(_ou.c.uuid.label("uid"), literal(0).label("depth")).where(_ou.c.uuid.in_(ids))
    tree = base.cte("tree", recursive=True)
    tree = tree.union(
        select(_ou.c.uuid.label("uid"), (tree.c.depth + 1).label("depth")).where(
            _ou.c.parent_uuid == tree.c.uid, tree.c.depth < 64
        )
    )
    rows = session.execute(select(_u.c.id).where(_u.c.org_unit_uuid.in_(select(tree.c.uid))))
    return {row[0] for row in rows}


def _assignment_users(session: Session, assignment_ids: Iterable[str]) -> set[str]:
    ids = list(assignment_ids)
    if not ids:
        return set()
    rows = session.execute(
        select(_a.c.subject_type, _a.c.user_id, _a.c.group_id, _a.c.org_unit_uuid).where(
            _a.c.id.in_(ids)
        )
    ).all()
    return _subjects_users(session, rows)


def _subjects_users(session: Session, rows: Iterable[Any]) -> set[str]:
    users: set[str] = set()
    groups: set[str] = set()
    units: set[str] = set()
    for row in rows:
        if row.subject_type == "user" and row.user_id:
            users.add(row.user_id)
        elif row.subject_type == "group" and row.group_id:
            groups.add(row.group_id)
        elif row.org_unit_uuid:
            units.add(row.org_unit_uuid)
    return users | _group_members(session, groups) | _subtree_users(session, units)


def scope_of(session: Session, change: Change) -> Scope:
    """The answers a change can affect (see the module docstring for the table)."""
    if change.everything:
        return Scope(everything=True)
    scope = Scope(
        users=set(change.users),
        cvrs=set(change.municipalities) | set(change.org_trees),
        fagsystems=set(change.fagsystems),
    )
    scope.users |= _group_members(session, change.groups)
    scope.users |= _subtree_users(session, change.org_units)
    scope.users |= _assignment_users(session, change.assignments)
    for jfr in sorted(change.jfrs):
        owner = session.execute(select(_j.c.cvr, _j.c.delegated_to).where(_j.c.id == jfr)).first()
        holders = session.execute(
            select(_a.c.subject_type, _a.c.user_id, _a.c.group_id, _a.c.org_unit_uuid).where(
                _a.c.jfr_id == jfr
            )
        ).all()
        if len(holders) > MAX_PRECISE_USERS and owner is not None:
            scope.cvrs |= {owner.cvr, *(owner.delegated_to or ())}
            continue
        scope.users |= _subjects_users(session, holders)
    if len(scope.users) > MAX_PRECISE_USERS:
        rows = session.execute(select(_u.c.cvr).where(_u.c.id.in_(sorted(scope.users)))).all()
        scope.cvrs |= {row[0] for row in rows}
        scope.users = set()
    return scope


# -- the ephemeral store -----------------------------------------------------------------


def get_many(state: EphemeralState, keys: list[str]) -> list[bytes | None]:
    """Several keys in one round trip on Redis (MGET); one by one on the in-process store.

    EphemeralState has no multi-get yet, so this reaches into RedisState's client; an
    ``mget`` on the interface would replace it.
    """
    if isinstance(state, RedisState):
        try:
            values = state._client.mget([state._prefix + key for key in keys])
        except state._redis.exceptions.RedisError as exc:
            raise StateUnavailable(f"Redis is not reachable: {exc}") from exc
        return [None if v is None else bytes(v) for v in values]
    return [state.get(key) for key in keys]


# -- publishing ------------------------------------------------------------------------------


def _gen_key(kind: str, name: str = "") -> str:
    return f"authz:gen:{kind}:{name}" if name else f"authz:gen:{kind}"


def publish(state: EphemeralState, scope: Scope) -> None:
    """Bump the generation counters of ``scope`` and tell every process to drop it locally."""
    if scope.is_empty():
        return
    if scope.everything:
        state.incr(_gen_key("all"), GEN_TTL)
    for cvr in sorted(scope.cvrs):
        state.incr(_gen_key("c", cvr), GEN_TTL)
    for fagsystem in sorted(scope.fagsystems):
        state.incr(_gen_key("f", fagsystem), GEN_TTL)
    for user in sorted(scope.users):
        state.incr(_gen_key("u", user), GEN_TTL)
    state.publish(CHANNEL, scope.to_message())


def invalidate(state: EphemeralState, db_or_session: Database | Session, change: Change) -> Scope:
    """Invalidate what ``change`` affects, now (call after the change is committed)."""
    if isinstance(db_or_session, Session):
        scope = scope_of(db_or_session, change)
    else:
        with db_or_session.session() as session:
            scope = scope_of(session, change)
    publish(state, scope)
    return scope


def invalidate_on_commit(session: Session, state: EphemeralState, change: Change) -> Scope:
    """Compute the affected answers now (the session sees the change), publish after commit.

    Call it after the change is flushed and before the transaction commits. Nothing is
    published if the transaction rolls back. Affected users are computed both ways where
    it matters: call it *before* removing a membership or assignment too, or name the
    users in ``change.users``.
    """
    session.flush()
    scope = scope_of(session, change)

    def after_commit(_session: Session) -> None:
        publish(state, scope)

    event.listen(session, "after_commit", after_commit, once=True)
    return scope


def invalidate_user(state: EphemeralState, *user_ids: str) -> None:
    publish(state, Scope(users=set(user_ids)))


def invalidate_group(
    state: EphemeralState, db_or_session: Database | Session, *group_ids: str
) -> Scope:
    return invalidate(state, db_or_session, Change(groups=set(group_ids)))


def invalidate_org_unit(
    state: EphemeralState,
    db_or_session: Database | Session,
    *unit_ids: str,
    structural_cvr: str | None = None,
) -> Scope:
    """A unit's KLE, manager or assignments changed; ``structural_cvr``: the tree's shape."""
    change = Change(org_units=set(unit_ids))
    if structural_cvr:
        change.org_trees.add(structural_cvr)
    return invalidate(state, db_or_session, change)


def invalidate_jfr(
    state: EphemeralState, db_or_session: Database | Session, *jfr_ids: str
) -> Scope:
    return invalidate(state, db_or_session, Change(jfrs=set(jfr_ids)))


def invalidate_assignment(
    state: EphemeralState, db_or_session: Database | Session, *assignment_ids: str
) -> Scope:
    """An assignment was added or changed (for a removed one, call before deleting it)."""
    return invalidate(state, db_or_session, Change(assignments=set(assignment_ids)))


def invalidate_fagsystem(state: EphemeralState, *fagsystem_ids: str) -> None:
    publish(state, Scope(fagsystems=set(fagsystem_ids)))


def invalidate_municipality(state: EphemeralState, *cvrs: str) -> None:
    publish(state, Scope(cvrs=set(cvrs)))


def invalidate_all(state: EphemeralState) -> None:
    publish(state, Scope(everything=True))


def catalogue_scope(data: dict[str, Any]) -> Scope:
    """What a catalogue import touches: the municipalities and fagsystemer the file names,
    also as delegation targets and as the two sides of a serviceaftale."""
    scope = Scope(
        cvrs={
            str(m["cvr"])
            for m in data.get("municipalities", [])
            if isinstance(m, dict) and "cvr" in m
        },
        fagsystems={
            str(f["id"]) for f in data.get("fagsystemer", []) if isinstance(f, dict) and "id" in f
        },
    )
    for jfr in data.get("jobfunktionsroller", []):
        if isinstance(jfr, dict):
            scope.cvrs |= {str(c) for c in jfr.get("delegated_to", []) or ()}
    # A file may name only some kinds (a role, its users or assignments, an agreement):
    # the municipality of each counts, whether or not the file lists it.
    for kind in ("jobfunktionsroller", "users", "assignments", "serviceaftaler"):
        scope.cvrs |= {
            str(item["cvr"])
            for item in data.get(kind, [])
            if isinstance(item, dict) and "cvr" in item
        }
    # A serviceaftale changes the tokens of its two systems (and empties agreement caches).
    for aftale in data.get("serviceaftaler", []):
        if isinstance(aftale, dict):
            scope.fagsystems |= {
                str(aftale[key]) for key in ("anvendersystem", "service") if key in aftale
            }
    return scope


def on_fagsystem_changes(state: EphemeralState, drop: Callable[[], None]) -> Subscription:
    """Call ``drop()`` for every announcement that covers fagsystems (or everything).

    For per-process registries of fagsystem configuration (SAML SPs, OIDC clients): the
    same announcements that reach the privilege caches reach them, from this process,
    from another through Redis, or from the change marker without Redis.
    """

    def handler(_channel: str, raw: bytes) -> None:
        try:
            scope = Scope.from_message(raw)
        except (ValueError, TypeError):
            scope = Scope(everything=True)
        if scope.everything or scope.fagsystems:
            drop()

    return state.subscribe(CHANNEL, handler)


def invalidate_catalogue(state: EphemeralState, data: dict[str, Any]) -> Scope:
    """After ``stsctl import``: every municipality and fagsystem the file names."""
    scope = catalogue_scope(data)
    publish(state, scope)
    return scope


# -- the cached engine -------------------------------------------------------------------------

_LocalKey = tuple[str, str, str, dt.date]  # (user, cvr, fagsystem as asked, day)


@dataclass
class _LocalEntry:
    result: PrivilegeResult
    stored_at: float


class AuthzEngine:
    """Cached privilege resolution for one process; one instance per process.

    ``resolve(user_id, cvr, fagsystem_id)`` is what the front doors call. Subscribes to
    :data:`CHANNEL` on the ephemeral store at construction; ``close()`` unsubscribes.
    """

    def __init__(
        self,
        db: Database,
        state: EphemeralState,
        *,
        local_size: int = 20_000,
        local_ttl: float = 60.0,
        shared_ttl: float = 3600.0,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.db = db
        self.state = state
        self.local_size = local_size
        self.local_ttl = local_ttl
        self.shared_ttl = shared_ttl
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()
        self._local: OrderedDict[_LocalKey, _LocalEntry] = OrderedDict()
        self.catalog = FagsystemCatalog()  # constraint types per fagsystem, process-local
        self._epoch = 0  # bumped by every invalidation message
        self.stats = {"local": 0, "shared": 0, "computed": 0, "invalidations": 0}
        self._subscription: Subscription | None = state.subscribe(CHANNEL, self._on_message)
        self._user_subscription: Subscription | None = state.subscribe(
            USER_DISABLED_CHANNEL, self._on_user_ended
        )

    def close(self) -> None:
        for subscription in (self._subscription, self._user_subscription):
            if subscription is not None:
                subscription.close()
        self._subscription = self._user_subscription = None

    # -- invalidation messages ----------------------------------------------------------

    def _on_message(self, _channel: str, raw: bytes) -> None:
        try:
            scope = Scope.from_message(raw)
        except (ValueError, TypeError):
            scope = Scope(everything=True)
        self.drop_local(scope)

    def _on_user_ended(self, _channel: str, raw: bytes) -> None:
        """A user's access ended (``store.access``): their answers go, here and shared."""
        if raw == MISSED:  # ends announced while the subscriber was disconnected are lost
            self.drop_local(Scope(everything=True))
            return
        user_id = raw.decode(errors="replace")
        self.drop_local(Scope(users={user_id}))
        # If the store is down the shared entries live to their bound; every use of the
        # user's sessions and refresh tokens is checked against the database anyway.
        with contextlib.suppress(StateUnavailable):
            self.state.incr(_gen_key("u", user_id), GEN_TTL)

    def drop_local(self, scope: Scope) -> None:
        with self._lock:
            self._epoch += 1
            self.stats["invalidations"] += 1
            if scope.everything or scope.fagsystems:
                self.catalog.clear()
            if scope.everything:
                self._local.clear()
                return
            doomed = [
                key
                for key, entry in self._local.items()
                if key[0] in scope.users
                or key[1] in scope.cvrs
                or entry.result.fagsystem_id in scope.fagsystems
                or key[2] in scope.fagsystems
            ]
            for key in doomed:
                del self._local[key]

    # -- resolution -----------------------------------------------------------------------

    def _shared_read(
        self, user_id: str, cvr: str, fagsystem_id: str, day: dt.date
    ) -> tuple[str, list[str], PrivilegeResult | None]:
        """One round trip: the entry and the four counters; a hit only if they still match."""
        key = f"authz:r:{cvr}:{user_id}:{fagsystem_id}:{day.isoformat()}"
        raw, *counters = get_many(
            self.state,
            [
                key,
                _gen_key("all"),
                _gen_key("c", cvr),
                _gen_key("f", fagsystem_id),
                _gen_key("u", user_id),
            ],
        )
        gens = [c.decode() if c else "0" for c in counters]
        if raw is None:
            return key, gens, None
        try:
            stored = json.loads(raw)
            if stored["g"] != gens:
                return key, gens, None
            return key, gens, PrivilegeResult.from_dict(stored["r"])
        except (ValueError, KeyError, TypeError):
            return key, gens, None

    def resolve(self, user_id: str, cvr: str, fagsystem_id: str) -> PrivilegeResult:
        """Privileges for today (Copenhagen), cached when possible; errors as in resolve()."""
        now = self._clock()
        day = today(now)
        key: _LocalKey = (user_id, cvr, fagsystem_id, day)
        with self._lock:
            entry = self._local.get(key)
            if entry is not None and time.monotonic() - entry.stored_at < self.local_ttl:
                self._local.move_to_end(key)
                self.stats["local"] += 1
                return entry.result
            epoch = self._epoch
        shared_key, gens, result = self._shared_read(user_id, cvr, fagsystem_id, day)
        if result is not None:
            self.stats["shared"] += 1
        else:
            result = resolve(self.db, user_id, cvr, fagsystem_id, on=day, catalog=self.catalog)
            self.stats["computed"] += 1
            if result.fagsystem_id == fagsystem_id:
                # (Asked by entity id, the answer stays local: fagsystem invalidations
                # bump the counter of the id, which this key does not carry.) The
                # counters stored are those read *before* computing: a change committed
                # meanwhile has bumped one, so this entry can never be served for it.
                ttl = min(self.shared_ttl, seconds_until_midnight(now))
                value = json.dumps({"g": gens, "r": result.to_dict()}, separators=(",", ":"))
                self.state.set(shared_key, value.encode(), ttl=ttl)
        with self._lock:
            if self._epoch == epoch:
                self._local[key] = _LocalEntry(result, time.monotonic())
                self._local.move_to_end(key)
                while len(self._local) > self.local_size:
                    self._local.popitem(last=False)
        return result

    def clear_local(self) -> None:
        with self._lock:
            self._local.clear()
            self.catalog.clear()
            self._epoch += 1
