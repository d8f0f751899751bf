"""The group-commit writer on PostgreSQL (``store.audit_batch`` with ``batcher_for``).

It writes on a pooled psycopg connection with ``store.audit.append_committed``; these
tests hold it to the chain, the ordering of a request's events, "returned means
committed" and failure handling, beside a second process's writer and ordinary appends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from store import audit
from store.audit_batch import AuditBatcher, batcher_for
from store.db import Database
from store.models import AuditEvent


@pytest.fixture
def pg(postgres_schema_url: str) -> Iterator[Database]:
    database = Database(postgres_schema_url)
    with database.engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_events RESTART IDENTITY"))
    yield database
    database.dispose()


def _rows(database: Database) -> list[AuditEvent]:
    with database.session() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_batcher_for_postgresql_writes_on_its_own_connection(pg: Database) -> None:
    batcher = batcher_for(pg)
    assert batcher is not None and batcher.raw_connection is not None


def test_concurrent_writers_keep_one_chain_and_each_requests_events_together(
    pg: Database, postgres_schema_url: str
) -> None:
    other_process = Database(postgres_schema_url)  # a second worker's engine and writer
    writers = [batcher_for(pg), batcher_for(other_process)]
    assert all(writer is not None for writer in writers)
    errors: list[BaseException] = []

    def request(number: int) -> None:
        writer = writers[number % 2]
        assert writer is not None
        try:
            if number % 5 == 0:  # an ordinary append in a caller's transaction, meanwhile
                with pg.session() as session:
                    audit.record(session, actor=f"r{number}", action="admin.change")
                return
            writer.write(
                [
                    audit.new_event(actor=f"r{number}", action="login.sso", details={"n": number}),
                    audit.new_event(actor=f"r{number}", action="saml.assertion.issued"),
                ]
            )
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=request, args=(n,)) for n in range(80)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other_process.dispose()
    assert errors == []
    rows = _rows(pg)
    assert len(rows) == 64 * 2 + 16
    with pg.session() as session:
        assert audit.verify_chain(session) is None
    positions: dict[str, list[tuple[int, str]]] = {}
    for index, row in enumerate(rows):
        positions.setdefault(row.actor, []).append((index, row.action))
    for actor, seen in positions.items():
        if len(seen) == 2:  # a request's two events: adjacent and in order
            (first, first_action), (second, second_action) = seen
            assert second == first + 1, actor
            assert (first_action, second_action) == ("login.sso", "saml.assertion.issued")
    for row in rows:
        if row.action == "login.sso":
            assert row.details == {"n": int(row.actor[1:])}  # JSON stored as given


def test_write_returns_only_once_the_events_are_committed(pg: Database) -> None:
    batcher = batcher_for(pg)
    assert batcher is not None
    for number in range(5):
        batcher.record(actor="t", action="oidc.token.issue", details={"n": number})
        # Seen at once from another connection: committed before write() returned.
        with pg.engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM audit_events")).scalar()
        assert count == number + 1


def test_a_failed_commit_fails_every_waiting_request_and_the_writer_recovers(
    pg: Database,
) -> None:
    batcher = batcher_for(pg)
    assert batcher is not None
    batcher.record(actor="t", action="before")
    # cvr is varchar(8): PostgreSQL refuses the INSERT, so the whole batch rolls back.
    with pytest.raises(Exception, match="too long"):
        batcher.write(
            [
                audit.new_event(actor="t", action="kept-out"),
                audit.new_event(actor="t", action="bad", cvr="123456789"),
            ]
        )
    batcher.record(actor="t", action="after")
    assert [row.action for row in _rows(pg)] == ["before", "after"]
    with pg.session() as session:
        assert audit.verify_chain(session) is None


def test_events_of_many_requests_share_one_commit(pg: Database) -> None:
    """Requests that arrive while a commit is running go together into the next one."""
    sizes: list[int] = []
    release = threading.Event()
    batcher = AuditBatcher(pg.session, raw_connection=pg.engine.raw_connection)
    original = batcher._commit

    def slow_commit(events: list[audit.NewEvent]) -> None:
        sizes.append(len(events))
        release.wait(5)
        original(events)

    batcher._commit = slow_commit  # type: ignore[method-assign]
    threads = [
        threading.Thread(target=batcher.record, kwargs={"actor": f"r{n}", "action": "a"})
        for n in range(12)
    ]
    for thread in threads:
        thread.start()
    for _ in range(500):  # until every request is in the commit running or the next one
        if sizes and sizes[0] + sum(len(batch.events) for batch in batcher._batches) == 12:
            break
        release.wait(0.01)
    release.set()
    for thread in threads:
        thread.join()
    assert sum(sizes) == 12
    assert len(sizes) == 2  # the first request's commit, then one for all the others
    assert [row.actor for row in _rows(pg)] != []
    with pg.session() as session:
        assert audit.verify_chain(session) is None
