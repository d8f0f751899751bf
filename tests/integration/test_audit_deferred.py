"""``audit.deferred``: two events of one request appended under one lock, nothing lost."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, select

from store import audit
from store.audit_batch import AuditBatcher, batcher_for
from store.db import Database
from store.models import AuditEvent


def _actions(database: Database) -> list[str]:
    with database.session() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _count_locks(database: Database) -> list[str]:
    seen: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "pg_advisory_xact_lock" in statement or "audit_events" in statement:
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", before)
    return seen


def test_held_event_goes_into_the_next_events_transaction(database: Database) -> None:
    statements = _count_locks(database)
    with audit.deferred(database, {"login.sso"}):
        with database.session() as session:
            audit.record(session, actor="anna", action="login.sso", details={"n": 1})
        assert _actions(database) == []  # held, not yet written
        with database.session() as session:
            audit.record(session, actor="anna", action="saml.assertion.issued")
        assert _actions(database) == ["login.sso", "saml.assertion.issued"]
    assert _actions(database) == ["login.sso", "saml.assertion.issued"]
    with database.session() as session:
        assert audit.verify_chain(session) is None
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert rows[1].prev_hash == rows[0].hash
        assert rows[0].details == {"n": 1} and rows[0].at <= rows[1].at
    if database.engine.dialect.name == "postgresql":
        assert sum("pg_advisory_xact_lock" in s for s in statements) == 1


def test_held_event_is_written_when_nothing_follows(database: Database) -> None:
    with audit.deferred(database, {"login.sso"}), database.session() as session:
        audit.record(session, actor="anna", action="login.sso")
    assert _actions(database) == ["login.sso"]


def test_held_event_survives_the_rollback_of_the_next_transaction(database: Database) -> None:
    with pytest.raises(RuntimeError), audit.deferred(database, {"login.sso"}):
        with database.session() as session:
            audit.record(session, actor="anna", action="login.sso")
        with database.session() as session:
            audit.record(session, actor="anna", action="saml.assertion.issued")
            raise RuntimeError("signing failed")
    assert _actions(database) == ["login.sso"]  # the issuance rolled back, the login did not
    with database.session() as session:
        assert audit.verify_chain(session) is None


def test_other_actions_stay_in_their_callers_transaction(database: Database) -> None:
    with audit.deferred(database, {"login.sso"}):
        with pytest.raises(RuntimeError), database.session() as session:
            audit.record(session, actor="admin", action="test.change")
            raise RuntimeError("the change failed")
        assert _actions(database) == []
        with database.session() as session:
            audit.record(session, actor="admin", action="test.change")
        assert _actions(database) == ["test.change"]  # committed at once, as always
    assert _actions(database) == ["test.change"]


def test_deferral_is_per_context_not_per_process(database: Database) -> None:
    written: list[list[str]] = []
    with audit.deferred(database, {"login.sso"}):

        def other_request() -> None:
            with database.session() as session:
                audit.record(session, actor="bo", action="login.sso")
            written.append(_actions(database))

        thread = threading.Thread(target=other_request)
        thread.start()
        thread.join()
        assert written == [["login.sso"]]  # the other thread was not deferred
        with database.session() as session:
            audit.record(session, actor="anna", action="login.sso")
    assert _actions(database) == ["login.sso", "login.sso"]
    with database.session() as session:
        assert audit.verify_chain(session) is None


def test_held_event_goes_through_the_group_commit_writer(database: Database) -> None:
    statements = _count_locks(database)
    batcher = AuditBatcher(database.session)
    with audit.deferred(database, {"login.sso"}):
        with database.session() as session:
            audit.record(session, actor="anna", action="login.sso")
        held = audit.take_held()
        batcher.write([*held, audit.new_event(actor="anna", action="saml.assertion.issued")])
        assert _actions(database) == ["login.sso", "saml.assertion.issued"]  # committed
    assert _actions(database) == ["login.sso", "saml.assertion.issued"]  # not twice
    with database.session() as session:
        assert audit.verify_chain(session) is None
    if database.engine.dialect.name == "postgresql":
        assert sum("pg_advisory_xact_lock" in s for s in statements) == 1


def test_a_failed_group_commit_gives_the_held_event_back(database: Database) -> None:
    def failing() -> object:
        raise RuntimeError("commit failed")

    batcher = AuditBatcher(failing)
    with audit.deferred(database, {"login.sso"}):
        with database.session() as session:
            audit.record(session, actor="anna", action="login.sso")
        held = audit.take_held()
        with pytest.raises(RuntimeError, match="commit failed"):
            try:
                batcher.write([*held, audit.new_event(actor="anna", action="issued")])
            except BaseException:
                audit.hold_again(held)
                raise
        assert _actions(database) == []
    assert _actions(database) == ["login.sso"]  # written when the block ended, not lost
    with database.session() as session:
        assert audit.verify_chain(session) is None


def test_batcher_for_is_one_per_database_and_none_on_sqlite(database: Database) -> None:
    batcher = batcher_for(database)
    if database.engine.dialect.name == "postgresql":
        assert batcher is not None and batcher_for(database) is batcher
    else:
        assert batcher is None


def test_record_held_needs_no_transaction_and_is_written_with_the_next_event(
    database: Database,
) -> None:
    assert not audit.holds("login.sso")
    with pytest.raises(RuntimeError):
        audit.record_held(actor="anna", action="login.sso")
    with audit.deferred(database, {"login.sso"}):
        assert audit.holds("login.sso") and not audit.holds("saml.assertion.issued")
        with pytest.raises(RuntimeError):
            audit.record_held(actor="anna", action="saml.assertion.issued")
        audit.record_held(actor="anna", action="login.sso", details={"n": 1})
        assert _actions(database) == []
        with database.session() as session:
            audit.record(session, actor="anna", action="saml.assertion.issued")
        assert _actions(database) == ["login.sso", "saml.assertion.issued"]
    assert _actions(database) == ["login.sso", "saml.assertion.issued"]
    with database.session() as session:
        assert audit.verify_chain(session) is None


def test_reading_runs_outside_a_transaction_and_leaves_the_pool_as_it_was(
    database: Database,
) -> None:
    with database.reading() as connection:
        assert connection.execute(select(AuditEvent.id)).first() is None
        if not database.is_sqlite:
            assert connection.connection.dbapi_connection.autocommit  # type: ignore[union-attr]
    with database.session() as session:
        audit.record(session, actor="anna", action="admin.change")
    assert _actions(database) == ["admin.change"]
