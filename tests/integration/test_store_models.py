"""The data model behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from store import audit
from store.db import Database
from store.models import (
    Assignment,
    AuditEvent,
    Fagsystem,
    JfrGrant,
    Jobfunktionsrolle,
    Municipality,
    OrgUnit,
    Serviceaftale,
    ServiceaftaleStatus,
    SystemRole,
    User,
)

CVR = "29189846"
ROLE = "http://ky.demo.test/roles/usersystemrole/laes_sag/1"
JFR = "http://demo.kommune.dk/roles/jobrole/sagsbehandler/1"


def seed(db: Database) -> None:
    with db.session() as session:
        session.add(Municipality(cvr=CVR, name="Demo Kommune", domain="demo.kommune.dk"))
        session.flush()
        session.add(OrgUnit(uuid="00000000-0000-4000-8000-000000000001", cvr=CVR, name="Top"))
        session.flush()
        session.add(
            OrgUnit(
                uuid="00000000-0000-4000-8000-000000000002",
                cvr=CVR,
                name="Sub",
                parent_uuid="00000000-0000-4000-8000-000000000001",
            )
        )
        session.add(
            Fagsystem(id="KY", name="KY", entity_id="https://ky.demo.test", kinds=["brugervendt"])
        )
        session.flush()
        session.add(SystemRole(id=ROLE, fagsystem_id="KY", name="Læs sag"))
        session.add(Jobfunktionsrolle(id=JFR, cvr=CVR, name="Sagsbehandler"))
        session.flush()
        session.add(
            JfrGrant(
                jfr_id=JFR,
                role_id=ROLE,
                constraints={"http://sts.kombit.dk/constraints/KLE/1": {"fixed": ["32.*"]}},
            )
        )
        session.add(
            User(
                id="11111111-1111-4111-8111-111111111111",
                cvr=CVR,
                username="karen",
                name="Karen",
                kle=["32.01"],
            )
        )


def test_round_trips_domain_objects_with_json_and_dates(database: Database) -> None:
    seed(database)
    with database.session() as session:
        session.add(
            Assignment(
                cvr=CVR,
                jfr_id=JFR,
                subject_type="user",
                user_id="11111111-1111-4111-8111-111111111111",
                valid_from=dt.date(2026, 1, 1),
                valid_to=dt.date(2026, 12, 31),
                case_number="26-004711",
            )
        )
    with database.session() as session:
        assignment = session.scalars(select(Assignment)).one()
        grant = session.scalars(select(JfrGrant)).one()
        user = session.get(User, "11111111-1111-4111-8111-111111111111")
        assert assignment.valid_to == dt.date(2026, 12, 31)
        assert grant.constraints["http://sts.kombit.dk/constraints/KLE/1"] == {"fixed": ["32.*"]}
        assert user is not None and user.kle == ["32.01"]


def test_rejects_an_assignment_with_two_subjects(database: Database) -> None:
    seed(database)
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(
            Assignment(
                cvr=CVR,
                jfr_id=JFR,
                subject_type="user",
                user_id="11111111-1111-4111-8111-111111111111",
                org_unit_uuid="00000000-0000-4000-8000-000000000001",
            )
        )


def test_rejects_an_assignment_that_ends_before_it_starts(database: Database) -> None:
    seed(database)
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(
            Assignment(
                cvr=CVR,
                jfr_id=JFR,
                subject_type="user",
                user_id="11111111-1111-4111-8111-111111111111",
                valid_from=dt.date(2026, 2, 1),
                valid_to=dt.date(2026, 1, 1),
            )
        )


def test_rejects_a_second_user_with_the_same_username_in_one_municipality(
    database: Database,
) -> None:
    seed(database)
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(User(cvr=CVR, username="karen", name="Another Karen"))


def test_deleting_a_municipality_removes_its_data(database: Database) -> None:
    seed(database)
    with database.session() as session:
        session.delete(session.get(Municipality, CVR))
    with database.session() as session:
        assert session.scalars(select(User)).all() == []
        assert session.scalars(select(OrgUnit)).all() == []
        assert session.scalars(select(Jobfunktionsrolle)).all() == []


def test_rejects_an_unknown_service_agreement_status(database: Database) -> None:
    seed(database)
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(
            Serviceaftale(id="sa", cvr=CVR, anvendersystem_id="KY", service_id="KY", status="maybe")
        )


def test_keeps_service_agreement_status_history_in_order(database: Database) -> None:
    seed(database)
    with database.session() as session:
        aftale = Serviceaftale(id="sa", cvr=CVR, anvendersystem_id="KY", service_id="KY")
        session.add(aftale)
        session.flush()
        for status in ("requested", "approved", "revoked"):
            session.add(ServiceaftaleStatus(aftale_id="sa", status=status, actor="godkender"))
    with database.session() as session:
        stored = session.get(Serviceaftale, "sa")
        assert stored is not None
        assert [entry.status for entry in stored.history] == ["requested", "approved", "revoked"]


def test_audit_chain_verifies_and_detects_tampering(database: Database) -> None:
    with database.session() as session:
        for number in range(3):
            audit.record(
                session,
                actor="admin",
                action="test.change",
                object_id=str(number),
                details={"n": number, "navn": "Søren"},
            )
    with database.session() as session:
        assert audit.verify_chain(session) is None
        second = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[1]
        if not database.is_sqlite:  # past the append-only trigger, as a superuser could
            session.execute(text("SET LOCAL session_replication_role = replica"))
        second.details = {"n": 99}
    with database.session() as session:
        tampered = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[1]
        assert audit.verify_chain(session) == tampered.id


def test_audit_event_rolls_back_with_the_change(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as session:
        audit.record(session, actor="admin", action="test.change")
        raise RuntimeError("the change failed")
    with database.session() as session:
        assert session.scalars(select(AuditEvent)).all() == []
