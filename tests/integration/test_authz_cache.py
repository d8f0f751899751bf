"""The cached engine: warm hits, precise invalidation across processes, midnight expiry.

Two :class:`AuthzEngine` instances on one ephemeral store stand for two worker
processes; with Redis the invalidation travels over real pub/sub.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from authz.cache import (
    AuthzEngine,
    Change,
    Scope,
    invalidate_all,
    invalidate_assignment,
    invalidate_catalogue,
    invalidate_group,
    invalidate_jfr,
    invalidate_on_commit,
    invalidate_org_unit,
    invalidate_user,
    scope_of,
)
from authz.engine import COPENHAGEN
from store.db import Database
from store.ephemeral import MISSED, EphemeralState
from store.models import Assignment, Group, GroupMember, JfrGrant, User
from tests.integration.authz_world import (
    CVR,
    KLE,
    add_jfr,
    add_user,
    assign,
    catalogue,
    fixed,
    load,
    role,
    unit,
    user_id,
)


class Clock:
    def __init__(self, moment: dt.datetime) -> None:
        self.moment = moment

    def __call__(self) -> dt.datetime:
        return self.moment


@pytest.fixture
def world(sqlite_database: Database) -> dict[str, Any]:
    data = catalogue()
    laes = add_jfr(data, "laes", [(role("laes"), {KLE: fixed("32.*")})])
    udbetal = add_jfr(data, "udbetal", [(role("udbetal"), {})])
    add_user(data, "karen", org_unit=4)
    add_user(data, "bo", org_unit=7)
    add_user(data, "eva", org_unit=9)
    assign(data, laes, user="karen", valid_to="2026-03-31")
    assign(data, laes, group="CN=Team,DC=demo")
    assign(data, udbetal, org_unit=unit(3), inherit=True)
    load(sqlite_database, data, [("CN=Team,DC=demo", ["bo"], [])])
    return {
        "db": sqlite_database,
        "karen": user_id(sqlite_database, "karen"),
        "bo": user_id(sqlite_database, "bo"),
        "eva": user_id(sqlite_database, "eva"),
        "laes": laes,
        "udbetal": udbetal,
    }


@pytest.fixture
def engines(world: dict[str, Any], state: EphemeralState) -> Iterator[Callable[..., AuthzEngine]]:
    made: list[AuthzEngine] = []

    def make(**kwargs: Any) -> AuthzEngine:
        engine = AuthzEngine(world["db"], state, **kwargs)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


def roles(engine: AuthzEngine, user: str) -> set[str]:
    return {g.privilege for g in engine.resolve(user, CVR, "KY").groups}


def eventually(check: Callable[[], bool], timeout: float = 1.0) -> float:
    """Seconds until ``check()`` holds; fails after ``timeout`` (the 1 s propagation bound)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.005)
    raise AssertionError(f"not within {timeout} s")


MARCH = dt.datetime(2026, 3, 15, 12, 0, tzinfo=COPENHAGEN)


def test_warm_answers_come_from_the_process(world: dict[str, Any], engines: Any) -> None:
    engine = engines(clock=Clock(MARCH))
    first = engine.resolve(world["karen"], CVR, "KY")
    assert engine.stats["computed"] == 1
    assert engine.resolve(world["karen"], CVR, "KY") is first
    assert engine.stats["local"] == 1


def test_a_second_process_uses_the_shared_entry(world: dict[str, Any], engines: Any) -> None:
    a, b = engines(clock=Clock(MARCH)), engines(clock=Clock(MARCH))
    answer = a.resolve(world["karen"], CVR, "KY")
    assert b.resolve(world["karen"], CVR, "KY") == answer
    assert b.stats == {"local": 0, "shared": 1, "computed": 0, "invalidations": 0}


def test_change_on_one_process_reaches_the_other_within_a_second(
    world: dict[str, Any], engines: Any
) -> None:
    a, b = engines(clock=Clock(MARCH)), engines(clock=Clock(MARCH))
    eva = world["eva"]
    assert roles(b, eva) == set()
    db: Database = world["db"]
    with db.session() as session:  # process A: a new assignment, announced on commit
        assignment = Assignment(cvr=CVR, jfr_id=world["laes"], subject_type="user", user_id=eva)
        session.add(assignment)
        invalidate_on_commit(session, a.state, Change(assignments={"pending"}, users={eva}))
    eventually(lambda: roles(b, eva) == {role("laes")})
    assert b.stats["invalidations"] >= 1


def test_nothing_published_when_the_transaction_rolls_back(
    world: dict[str, Any], engines: Any, state: EphemeralState
) -> None:
    received: list[bytes] = []
    subscription = state.subscribe("authz:invalidate", lambda _c, m: received.append(m))
    db: Database = world["db"]
    with pytest.raises(RuntimeError), db.session() as session:
        invalidate_on_commit(session, state, Change(users={world["eva"]}))
        raise RuntimeError("rolled back")
    time.sleep(0.2)
    subscription.close()
    assert received == []


def test_invalidation_is_precise(world: dict[str, Any], engines: Any) -> None:
    engine = engines(clock=Clock(MARCH))
    for user in ("karen", "bo", "eva"):
        engine.resolve(world[user], CVR, "KY")
    with world["db"].session() as session:
        group = session.scalars(select(Group)).one()
        scope = invalidate_group(engine.state, session, group.id)
    assert scope.users == {world["bo"]}
    eventually(lambda: engine.stats["invalidations"] == 1)
    before = dict(engine.stats)
    engine.resolve(world["karen"], CVR, "KY")
    engine.resolve(world["eva"], CVR, "KY")
    engine.resolve(world["bo"], CVR, "KY")
    assert engine.stats["local"] - before["local"] == 2  # karen and eva still cached
    assert engine.stats["computed"] - before["computed"] == 1  # bo recomputed


def test_scopes_of_each_kind_of_change(world: dict[str, Any]) -> None:
    db: Database = world["db"]
    with db.session() as session:
        assert scope_of(session, Change(jfrs={world["laes"]})).users == {
            world["karen"],
            world["bo"],
        }
        # unit 3 (Jobcenter) and below: karen (unit 4) and bo (unit 7), not eva (unit 9)
        assert scope_of(session, Change(org_units={unit(3)})).users == {world["karen"], world["bo"]}
        org_assignment = session.scalars(
            select(Assignment).where(Assignment.subject_type == "org_unit")
        ).one()
        assert scope_of(session, Change(assignments={org_assignment.id})).users == {
            world["karen"],
            world["bo"],
        }
        tree = scope_of(session, Change(org_trees={CVR}))
        assert tree.cvrs == {CVR} and not tree.users
        assert scope_of(session, Change(everything=True)).everything


def test_jfr_grant_change_is_seen(world: dict[str, Any], engines: Any) -> None:
    engine = engines(clock=Clock(MARCH))
    assert roles(engine, world["bo"]) == {role("laes"), role("udbetal")}
    db: Database = world["db"]
    with db.session() as session:
        session.add(JfrGrant(jfr_id=world["laes"], role_id=role("udbetal", "ky"), constraints={}))
        session.flush()
        grant = session.scalars(select(JfrGrant).where(JfrGrant.jfr_id == world["laes"])).first()
        assert grant is not None
        session.delete(grant)  # laes now grants udbetal instead of laes
    invalidate_jfr(engine.state, db, world["laes"])
    eventually(lambda: roles(engine, world["bo"]) == {role("udbetal")})


def test_group_membership_change_is_seen(world: dict[str, Any], engines: Any) -> None:
    engine = engines(clock=Clock(MARCH))
    assert roles(engine, world["eva"]) == set()
    db: Database = world["db"]
    with db.session() as session:
        group = session.scalars(select(Group)).one()
        session.add(GroupMember(group_id=group.id, member_user_id=world["eva"]))
        invalidate_on_commit(session, engine.state, Change(groups={group.id}))
    eventually(lambda: roles(engine, world["eva"]) == {role("laes")})


def test_user_and_org_unit_changes_are_seen(world: dict[str, Any], engines: Any) -> None:
    engine = engines(clock=Clock(MARCH))
    assert roles(engine, world["eva"]) == set()
    db: Database = world["db"]
    with db.session() as session:  # eva moves into the Jobcenter sub-tree
        user = session.get(User, world["eva"])
        assert user is not None
        user.org_unit_uuid = unit(5)
    invalidate_user(engine.state, world["eva"])
    eventually(lambda: roles(engine, world["eva"]) == {role("udbetal")})
    with db.session() as session:
        for assignment in session.scalars(
            select(Assignment).where(Assignment.subject_type == "org_unit")
        ):
            assignment.inherit = False
    invalidate_org_unit(engine.state, db, unit(3))
    eventually(lambda: roles(engine, world["eva"]) == set())


def test_midnight_expiry_needs_no_invalidation(world: dict[str, Any], engines: Any) -> None:
    clock = Clock(dt.datetime(2026, 3, 31, 23, 59, 30, tzinfo=COPENHAGEN))
    engine = engines(clock=clock)
    assert roles(engine, world["karen"]) == {role("laes"), role("udbetal")}
    clock.moment = dt.datetime(2026, 4, 1, 0, 0, 1, tzinfo=COPENHAGEN)
    assert roles(engine, world["karen"]) == {role("udbetal")}
    assert engine.stats["invalidations"] == 0


def test_copenhagen_date_not_utc(world: dict[str, Any], engines: Any) -> None:
    # 22:30 UTC on 31 March is already 1 April in Copenhagen (CEST, UTC+2)
    engine = engines(clock=Clock(dt.datetime(2026, 3, 31, 22, 30, tzinfo=dt.UTC)))
    assert roles(engine, world["karen"]) == {role("udbetal")}


def test_invalidate_all_and_catalogue(
    world: dict[str, Any], engines: Any, state: EphemeralState
) -> None:
    engine = engines(clock=Clock(MARCH))
    engine.resolve(world["karen"], CVR, "KY")
    invalidate_all(state)
    eventually(lambda: engine.stats["invalidations"] == 1)
    engine.resolve(world["karen"], CVR, "KY")
    assert engine.stats["computed"] == 2
    scope = invalidate_catalogue(state, catalogue())
    assert scope.cvrs == {CVR, "11111111"} and scope.fagsystems == {"KY", "KSD"}
    eventually(lambda: engine.stats["invalidations"] == 2)
    engine.resolve(world["karen"], CVR, "KY")
    assert engine.stats["computed"] == 3


def test_shared_entry_unreachable_after_generation_bump(
    world: dict[str, Any], engines: Any
) -> None:
    a = engines(clock=Clock(MARCH))
    a.resolve(world["karen"], CVR, "KY")
    invalidate_assignment(a.state, world["db"], *[])  # nothing named: nothing happens
    invalidate_user(a.state, world["karen"])
    b = engines(clock=Clock(MARCH))
    b.resolve(world["karen"], CVR, "KY")
    assert b.stats["computed"] == 1 and b.stats["shared"] == 0


def test_garbled_message_drops_everything(world: dict[str, Any], engines: Any) -> None:
    engine = engines(clock=Clock(MARCH))
    engine.resolve(world["karen"], CVR, "KY")
    engine._on_message("authz:invalidate", b"not json")
    engine.resolve(world["karen"], CVR, "KY")
    assert engine.stats["local"] == 0 and engine.stats["shared"] == 1
    assert Scope.from_message(Scope(users={"x"}).to_message()).users == {"x"}


def test_a_reconnected_subscriber_drops_everything_on_both_channels(
    world: dict[str, Any], engines: Any
) -> None:
    """Changes announced while the subscriber was cut off must not live on in this process."""
    engine = engines(clock=Clock(MARCH))
    for handler in (engine._on_message, engine._on_user_ended):
        engine.resolve(world["karen"], CVR, "KY")
        engine.resolve(world["bo"], CVR, "KY")
        before = engine.stats["invalidations"]
        handler("any", MISSED)
        assert engine.stats["invalidations"] == before + 1
        assert not engine._local, handler.__name__
