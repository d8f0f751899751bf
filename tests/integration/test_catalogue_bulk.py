"""The catalogue as a bulk operation: statements that do not grow with the rows, exact diffs,
streamed JSON files, and validation that reads only what a small document names."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from store.catalogue import export_catalogue, import_catalogue, load_file, validate
from store.catalogue.document import StreamedSection
from store.catalogue.world import build_world
from store.db import Database

CVR = "11111111"
KLE = "http://sts.kombit.dk/constraints/KLE/1"
ROLE = "http://fs.test/roles/laes/1"
JFR = "http://k.kommune.dk/roles/jobrole/{}/1"


def world(users: int, assignments: int, jfrs: int = 20) -> dict[str, Any]:
    """One municipality with an org tree, a fagsystem, JFRs, users and their assignments."""
    units = [str(uuid.UUID(int=i + 1)) for i in range(10)]
    return {
        "version": 1,
        "municipalities": [
            {
                "cvr": CVR,
                "name": "Kommune",
                "domain": "k.kommune.dk",
                "org_units": [
                    {"uuid": unit, "name": f"Enhed {i}", "parent": units[0] if i else None}
                    for i, unit in enumerate(units)
                ],
            }
        ],
        "fagsystemer": [
            {
                "id": "FS",
                "name": "Fagsystem",
                "kind": "brugervendt",
                "constraint_types": [{"id": KLE, "name": "KLE", "kind": "kle"}],
                "roles": [{"id": ROLE, "name": "Læs", "constraints": [KLE]}],
            }
        ],
        "jobfunktionsroller": [
            {
                "id": JFR.format(j),
                "cvr": CVR,
                "name": f"JFR {j}",
                "grants": [{"role": ROLE, "constraints": {KLE: {"fixed": [f"{j % 80:02d}.*"]}}}],
            }
            for j in range(jfrs)
        ],
        "users": [
            {
                "username": f"u{k}",
                "cvr": CVR,
                "uuid": str(uuid.UUID(int=10_000_000 + k)),
                "name": f"User {k}",
                "org_unit": units[k % len(units)],
            }
            for k in range(users)
        ],
        "assignments": [
            {"user": f"u{a % users}", "cvr": CVR, "role": JFR.format(a // users % jfrs)}
            | ({"case_number": f"S-{a}"} if a >= users * jfrs else {})
            for a in range(assignments)
        ],
    }


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """Every SQL statement sent through SQLAlchemy inside the block (an executemany is one)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def imported_statements(database: Database, data: dict[str, Any]) -> tuple[int, int]:
    """Statements of a first import and of a re-import of ``data``."""
    with statements(database) as first:
        import_catalogue(database, copy.deepcopy(data))
    with statements(database) as again:
        assert not import_catalogue(database, copy.deepcopy(data)).changed
    return len(first), len(again)


def export(database: Database) -> dict[str, Any]:
    with database.session() as session:
        return export_catalogue(session)


def test_statements_do_not_grow_with_the_number_of_assignments(database: Database) -> None:
    small = imported_statements(database, world(users=500, assignments=5_000))
    with database.session() as session:  # the same imports again into an empty store
        for table in ("assignments", "jobfunktionsroller", "users", "fagsystemer"):
            session.execute(text(f"DELETE FROM {table}"))
        session.execute(text("UPDATE org_units SET parent_uuid = NULL"))
        session.execute(text("DELETE FROM org_units"))
        session.execute(text("DELETE FROM municipalities"))
    large = imported_statements(database, world(users=2_000, assignments=20_000))
    assert large == small
    assert large[0] < 150  # row by row, 20,000 assignments would be 20,000 statements


def test_a_changed_file_changes_exactly_the_rows_that_differ(database: Database) -> None:
    data = world(users=300, assignments=3_000)
    import_catalogue(database, copy.deepcopy(data))
    before = export(database)
    changed = copy.deepcopy(data)
    for index in range(0, 3_000, 100):  # 30 assignments get an end date
        changed["assignments"][index]["valid_to"] = "2030-12-31"
    for index in (3, 7):
        changed["users"][index]["name"] = "Renamed"
    changed["assignments"].append(
        {"user": "u1", "cvr": CVR, "role": JFR.format(0), "case_number": "N-1"}
    )

    report = import_catalogue(database, copy.deepcopy(changed))

    assert report.as_dict() == {
        "created": {"assignment": 1},
        "updated": {"assignment": 30, "user": 2},
        "deleted": {},
    }
    after = export(database)

    def items(catalogue: dict[str, Any], section: str) -> set[str]:
        return {json.dumps(item, sort_keys=True) for item in catalogue[section]}

    for section in ("assignments", "users"):
        gone = items(before, section) - items(after, section)
        new = items(after, section) - items(before, section)
        expected_new = items({section: changed[section]}, section) - items(
            {section: data[section]}, section
        )
        assert len(gone) == {"assignments": 30, "users": 2}[section]
        assert {json.loads(i).get("username") or i for i in new} == {
            json.loads(i).get("username") or i for i in expected_new
        }
    for section in ("municipalities", "fagsystemer", "jobfunktionsroller", "serviceaftaler"):
        assert before[section] == after[section]


def test_an_unchanged_file_updates_no_row(database: Database) -> None:
    data = world(users=100, assignments=1_000)
    import_catalogue(database, copy.deepcopy(data))
    with statements(database) as seen:
        report = import_catalogue(database, copy.deepcopy(data))
    assert not report.changed
    writes = [s for s in seen if s.lstrip().upper().startswith(("UPDATE ", "INSERT ", "DELETE "))]
    assert all(" cat_" in s or "audit_events" in s or "SET match_id" in s for s in writes)


def test_of_repeated_stored_assignments_the_earliest_is_matched(database: Database) -> None:
    data = world(users=10, assignments=20)
    import_catalogue(database, copy.deepcopy(data))
    first = {"u": str(uuid.UUID(int=10_000_000)), "j": JFR.format(0)}
    repeat = str(uuid.UUID(int=0))  # same key and created_at, a smaller id: the match
    with database.session() as session:
        original = session.execute(
            text(
                "SELECT id FROM assignments WHERE user_id = :u AND jfr_id = :j"
                " AND case_number IS NULL"
            ),
            first,
        ).scalar_one()
        columns = "cvr, jfr_id, subject_type, user_id, inherit, constraints, excepted_user_ids"
        session.execute(
            text(
                f"INSERT INTO assignments (id, {columns}, created_at, updated_at)"
                f" SELECT :r, {columns}, created_at, updated_at FROM assignments WHERE id = :o"
            ),
            {"r": repeat, "o": original},
        )
    changed = copy.deepcopy(data)
    changed["assignments"][0]["valid_to"] = "2030-01-01"

    report = import_catalogue(database, copy.deepcopy(changed))

    assert report.as_dict() == {"created": {}, "updated": {"assignment": 1}, "deleted": {}}
    with database.session() as session:
        rows = session.execute(
            text("SELECT id, valid_to FROM assignments WHERE id IN (:r, :o) ORDER BY id"),
            {"r": repeat, "o": original},
        ).all()
    assert [(row[0], str(row[1]) if row[1] else None) for row in rows] == [
        (repeat, "2030-01-01"),
        (original, None),
    ]
    assert not import_catalogue(database, copy.deepcopy(changed)).changed
    report = import_catalogue(database, copy.deepcopy(changed), prune=True)
    assert report.as_dict() == {"created": {}, "updated": {}, "deleted": {"assignment": 1}}
    with database.session() as session:
        left = session.execute(
            text("SELECT id FROM assignments WHERE user_id = :u AND jfr_id = :j"), first
        ).scalars()
        assert list(left) == [repeat]


def test_a_json_file_is_streamed_and_imports_like_the_same_dict(
    database: Database, tmp_path: Path
) -> None:
    data = world(users=50, assignments=400)
    file = tmp_path / "catalogue.json"
    file.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")

    loaded = load_file(file)

    assert isinstance(loaded["assignments"], StreamedSection)
    assert len(loaded["assignments"]) == 400
    assert list(loaded["users"]) == data["users"]
    import_catalogue(database, loaded)
    assert export(database)["assignments"] == export_of(data, tmp_path)


def export_of(data: dict[str, Any], tmp_path: Path) -> list[Any]:
    other = Database(f"sqlite:///{tmp_path}/dict.db")
    from store import migrate

    migrate.upgrade(other.url)
    import_catalogue(other, copy.deepcopy(data))
    with other.session() as session:
        return list(export_catalogue(session)["assignments"])


def test_a_streamed_file_reports_the_same_problems_at_the_same_paths(
    sqlite_database: Database, tmp_path: Path
) -> None:
    data = world(users=20, assignments=100)
    data["assignments"][40] = dict(data["assignments"][3])
    data["assignments"][41]["user"] = "nobody"
    data["users"][5]["cvr"] = 1234
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    with sqlite_database.session() as session:
        streamed = validate(session, load_file(file))
        in_memory = validate(session, data)
    assert streamed == in_memory
    assert [e.path for e in streamed] == ["users[5].cvr"]
    del data["users"][5]["cvr"]
    data["users"][5]["cvr"] = CVR
    file.write_text(json.dumps(data), encoding="utf-8")
    with sqlite_database.session() as session:
        streamed = validate(session, load_file(file))
    assert [e.path for e in streamed] == ["assignments[40]", "assignments[41].user"]


def test_a_malformed_json_file_is_refused_with_its_position(tmp_path: Path) -> None:
    from store.catalogue import CatalogueInvalid

    file = tmp_path / "broken.json"
    file.write_text('{"version": 1, "assignments": [{"user": "a"}, {"user": ]}', encoding="utf-8")
    with pytest.raises(CatalogueInvalid) as caught:
        load_file(file)
    assert "is not valid JSON" in str(caught.value)


def test_validating_one_assignment_reads_only_what_it_names(sqlite_database: Database) -> None:
    import_catalogue(sqlite_database, world(users=3_000, assignments=3_000))
    one = {"version": 1, "assignments": [{"user": "u7", "cvr": CVR, "role": JFR.format(1)}]}
    with sqlite_database.session() as session:
        assert validate(session, one) == []
        seen = build_world(session, one, prune=False)
    assert list(seen.users) == [(CVR, "u7")]
    assert list(seen.jfrs) == [JFR.format(1)]
