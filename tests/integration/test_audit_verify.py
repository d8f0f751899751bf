"""``stsctl audit verify``: the hash chain checked end to end, tampering named by event id.

The rows are changed behind the application's back, as someone with database access
would: on PostgreSQL that needs a superuser (the append-only trigger refuses UPDATE and
DELETE otherwise), so the tampering transaction sets ``session_replication_role``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from cli import main
from store import audit
from store.db import Database
from store.models import AuditEvent

DAY_1 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
DAY_2 = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def record(database: Database, count: int, at: dt.datetime | None = None) -> list[int]:
    """Append ``count`` events (stamped ``at`` if given); return their ids."""
    events = []
    for number in range(count):
        event = audit.new_event(
            actor=f"admin{number}",
            action="test.change",
            object_id=str(number),
            details={"n": number, "navn": "Søren"},
        )
        if at is not None:
            event.at = at + dt.timedelta(seconds=number)
        events.append(event)
    with database.session() as session:
        audit.append(session, events)
    with database.session() as session:
        ids = session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all()
    return list(ids[-count:])


def tamper(database: Database, statement: str, **params: Any) -> None:
    """Run ``statement`` as a superuser would: past PostgreSQL's append-only trigger."""
    with database.engine.begin() as connection:
        if not database.is_sqlite:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(statement), params)


def verify(database: Database, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["audit", "verify", *args], env={"STS_DATABASE_URL": database.url}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_an_intact_chain_is_reported_with_its_count(database: Database) -> None:
    record(database, 5)
    assert verify(database) == (0, "audit chain intact: 5 events checked\n")


def test_an_empty_trail_is_intact(database: Database) -> None:
    assert verify(database) == (0, "audit chain intact: 0 events checked\n")


def test_changed_details_are_named_by_the_events_id(database: Database) -> None:
    ids = record(database, 5)
    cast = "CAST(:details AS JSON)" if not database.is_sqlite else ":details"
    tamper(
        database,
        f"UPDATE audit_events SET details = {cast} WHERE id = :id",
        details='{"n": 99}',
        id=ids[2],
    )
    code, output = verify(database)
    assert code == 1
    assert f"audit chain BROKEN at event {ids[2]}:" in output
    assert "test.change by admin2" in output
    assert "its content does not match its hash" in output
    assert "its link" not in output
    assert "2 events before it are intact" in output


def test_a_changed_actor_is_named_by_the_events_id(database: Database) -> None:
    ids = record(database, 5)
    tamper(database, "UPDATE audit_events SET actor = 'someone-else' WHERE id = :id", id=ids[3])
    code, output = verify(database)
    assert code == 1
    assert f"audit chain BROKEN at event {ids[3]}:" in output
    assert "by someone-else" in output and "its content does not match" in output


def test_a_deleted_event_is_named_by_the_event_after_the_gap(database: Database) -> None:
    ids = record(database, 5)
    tamper(database, "DELETE FROM audit_events WHERE id = :id", id=ids[1])
    code, output = verify(database)
    assert code == 1
    assert f"audit chain BROKEN at event {ids[2]}:" in output
    assert "its link to the previous event is wrong" in output
    assert "its content does not match" not in output


def test_since_starts_at_that_day(database: Database) -> None:
    first = record(database, 3, at=DAY_1)
    record(database, 4, at=DAY_2)
    tamper(database, "UPDATE audit_events SET actor = 'x' WHERE id = :id", id=first[0])
    code, output = verify(database, "--since", "2026-03-02")
    assert code == 0, output
    assert output.startswith("audit chain intact: 4 events checked from 2026-03-02")


def test_since_checks_the_link_to_the_event_before_that_day(database: Database) -> None:
    first = record(database, 3, at=DAY_1)
    second = record(database, 4, at=DAY_2)
    tamper(database, "DELETE FROM audit_events WHERE id = :id", id=first[-1])
    code, output = verify(database, "--since", "2026-03-02")
    assert code == 1
    assert f"audit chain BROKEN at event {second[0]}:" in output
    assert "its link to the previous event is wrong" in output


def test_a_since_after_the_last_event_checks_nothing(database: Database) -> None:
    record(database, 2, at=DAY_1)
    assert verify(database, "--since", "2026-04-01")[1].startswith(
        "audit chain intact: 0 events checked"
    )


def test_the_chain_is_streamed_in_batches(database: Database) -> None:
    ids = record(database, 7)
    tamper(database, "UPDATE audit_events SET actor = 'x' WHERE id = :id", id=ids[5])
    with database.session() as session:
        result = audit.check_chain(session, batch=2)
    assert result.broken is not None and result.broken.id == ids[5]
    assert result.checked == 5


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgresql_refuses_an_update_of_an_audit_event(database: Database) -> None:
    [event_id] = record(database, 1)
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_events SET actor = 'x' WHERE id = :id"), {"id": event_id}
        )
    assert verify(database)[0] == 0


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgresql_refuses_a_delete_of_an_audit_event(database: Database) -> None:
    [event_id] = record(database, 1)
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": event_id})
    assert verify(database) == (0, "audit chain intact: 1 events checked\n")
