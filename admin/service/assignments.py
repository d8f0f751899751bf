"""Tildelinger: a jobfunktionsrolle given to a user, an AD group or an org unit.

The catalogue's rules decide validity (the role must be the municipality's own or
delegated to it, postponed constraint values must fit, dates in order). The natural key
(subject, CVR, role, case number) is unique, as the catalogue import relies on it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from admin.actor import Actor
from admin.errors import Conflict, Invalid, NotFound
from admin.schemas import check_body
from admin.service import access, catalogue_rules
from admin.service.changes import announce, record_change
from admin.service.context import ServiceContext
from admin.service.paging import Page, Paging, page
from authz.cache import Change, scope_of
from store.catalogue.common import DEFAULTS, parse_date
from store.catalogue.importer import resolve_subject, user_ids
from store.models import Assignment, Group, User

_SUBJECTS = ("user", "group", "org_unit")
_VALUES = ("valid_from", "valid_to", "case_number", "inherit", "except_users", "constraints")
_FIELDS = ("id", "cvr", "role", *_SUBJECTS, *_VALUES)
_SORTS = {"id": Assignment.id, "role": Assignment.jfr_id}


def _missing(cvr: str) -> str:
    return f"no assignments of municipality {cvr} that you may see"


def render(session: Session, obj: Assignment) -> dict[str, Any]:
    return render_all(session, [obj])[0]


def render_all(session: Session, objects: list[Assignment]) -> list[dict[str, Any]]:
    """Assignments in the catalogue's shape, with one lookup of the users and groups named."""
    user_ids = {uid for obj in objects for uid in (obj.user_id, *obj.excepted_user_ids) if uid}
    names: dict[str, str] = {}
    if user_ids:
        rows = session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
        names = {row.id: row.username for row in rows}
    group_ids = {obj.group_id for obj in objects if obj.group_id}
    groups = {
        group.id: group.object_guid or group.dn
        for group in (
            session.scalars(select(Group).where(Group.id.in_(group_ids))) if group_ids else ()
        )
    }
    items = []
    for obj in objects:
        subject: dict[str, Any]
        if obj.user_id:
            subject = {"user": names.get(obj.user_id, obj.user_id)}
        elif obj.group_id:
            subject = {"group": groups.get(obj.group_id, obj.group_id)}
        else:
            subject = {"org_unit": obj.org_unit_uuid}
        items.append(
            {
                "id": obj.id,
                "cvr": obj.cvr,
                "role": obj.jfr_id,
                **subject,
                "valid_from": obj.valid_from.isoformat() if obj.valid_from else None,
                "valid_to": obj.valid_to.isoformat() if obj.valid_to else None,
                "case_number": obj.case_number,
                "inherit": obj.inherit,
                "except_users": sorted(names[u] for u in obj.excepted_user_ids if u in names),
                "constraints": dict(obj.constraints),
            }
        )
    return items


def _load(session: Session, cvr: str, assignment_id: str) -> Assignment:
    obj = session.get(Assignment, assignment_id)
    if obj is None or obj.cvr != cvr:
        raise NotFound(f"assignment {assignment_id} not found in municipality {cvr}")
    return obj


def list_assignments(
    ctx: ServiceContext,
    actor: Actor,
    cvr: str,
    paging: Paging,
    *,
    user: str | None = None,
    role: str | None = None,
    valid_on: dt.date | None = None,
) -> Page:
    access.require_read(actor, "assignment", cvr, _missing(cvr))
    with ctx.database.session() as session:
        statement = select(Assignment).where(Assignment.cvr == cvr)
        if user is not None:
            user_id = session.scalar(
                select(User.id).where(User.cvr == cvr, or_(User.username == user, User.id == user))
            )
            statement = statement.where(Assignment.user_id == (user_id or ""))
        if role is not None:
            statement = statement.where(Assignment.jfr_id == role)
        if valid_on is not None:
            statement = statement.where(
                or_(Assignment.valid_from.is_(None), Assignment.valid_from <= valid_on),
                or_(Assignment.valid_to.is_(None), Assignment.valid_to >= valid_on),
            )
        return page(
            session,
            statement,
            columns=_SORTS,
            id_column=Assignment.id,
            paging=paging,
            default_sort="id",
            render_many=lambda objects: render_all(session, objects),
        )


def get_assignment(
    ctx: ServiceContext, actor: Actor, cvr: str, assignment_id: str
) -> dict[str, Any]:
    access.require_read(actor, "assignment", cvr, _missing(cvr))
    with ctx.database.session() as session:
        return render(session, _load(session, cvr, assignment_id))


def _catalogue_item(body: dict[str, Any], cvr: str) -> dict[str, Any]:
    """The request body as a catalogue assignment (the store's id aside)."""
    errors = [(f"/{name}", "unknown field") for name in sorted(set(body) - set(_FIELDS))]
    if body.get("cvr", cvr) != cvr:
        errors.append(("/cvr", f"must be {cvr}, the municipality in the path (or left out)"))
    if errors:
        raise Invalid("the assignment is not valid", errors)
    item = {key: value for key, value in body.items() if key != "id" and value is not None}
    item["cvr"] = cvr
    return item


def _duplicate(session: Session, obj: Assignment) -> str | None:
    subject_column = {
        "user": Assignment.user_id,
        "group": Assignment.group_id,
        "org_unit": Assignment.org_unit_uuid,
    }[obj.subject_type]
    subject = obj.user_id or obj.group_id or obj.org_unit_uuid
    case = (
        Assignment.case_number.is_(None)
        if obj.case_number is None
        else Assignment.case_number == obj.case_number
    )
    return session.scalar(
        select(Assignment.id).where(
            subject_column == subject,
            Assignment.cvr == obj.cvr,
            Assignment.jfr_id == obj.jfr_id,
            case,
            Assignment.id != (obj.id or ""),
        )
    )


def _values(session: Session, item: dict[str, Any]) -> dict[str, Any]:
    full = {**DEFAULTS["assignment"], **item}
    return {
        "valid_from": parse_date(full["valid_from"]),
        "valid_to": parse_date(full["valid_to"]),
        "case_number": full["case_number"],
        "inherit": full["inherit"],
        "constraints": dict(full["constraints"]),
        "excepted_user_ids": user_ids(session, item["cvr"], list(full["except_users"])),
    }


def create_assignment(
    ctx: ServiceContext, actor: Actor, cvr: str, body: dict[str, Any]
) -> dict[str, Any]:
    access.require(actor, "create", "assignment", cvr, _missing(cvr))
    body = check_body("AssignmentBody", body)
    item = _catalogue_item(body, cvr)
    with ctx.database.session() as session:
        if body.get("id") and session.get(Assignment, body["id"]) is not None:
            raise Conflict(f"an assignment with id {body['id']} exists already")
        catalogue_rules.check(session, "assignments", item, "assignment")
        subject_type, subject_id = resolve_subject(session, item)
        column = "org_unit_uuid" if subject_type == "org_unit" else f"{subject_type}_id"
        obj = Assignment(
            cvr=cvr,
            jfr_id=item["role"],
            subject_type=subject_type,
            **{column: subject_id},
            **_values(session, item),
        )
        if body.get("id"):
            obj.id = body["id"]
        other = _duplicate(session, obj)
        if other:
            raise Conflict(
                f"assignment {other} already gives this role to this subject with the same "
                "case number; change that one instead"
            )
        session.add(obj)
        session.flush()
        scope = scope_of(session, Change(assignments={obj.id}))
        after = render(session, obj)
        record_change(
            session,
            actor,
            "assignment.created",
            object_type="assignment",
            object_id=obj.id,
            cvr=cvr,
            after=after,
        )
    announce(ctx.state, scope)
    return after


def update_assignment(
    ctx: ServiceContext, actor: Actor, cvr: str, assignment_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    """PATCH: dates, case number, inheritance, excepted users, postponed constraint values."""
    access.require(actor, "update", "assignment", cvr, _missing(cvr))
    body = check_body("AssignmentPatch", body)
    with ctx.database.session() as session:
        obj = _load(session, cvr, assignment_id)
        before = render(session, obj)
        errors = [
            (f"/{name}", "cannot be changed; delete the assignment and create a new one")
            for name in ("cvr", "role", *_SUBJECTS, "id")
            if name in body and body[name] != before.get(name)
        ]
        errors += [(f"/{name}", "unknown field") for name in sorted(set(body) - set(_FIELDS))]
        if errors:
            raise Invalid("the change is not valid", errors)
        merged = {key: value for key, value in before.items() if key != "id"}
        merged.update({key: body[key] for key in _VALUES if key in body})
        defaults = DEFAULTS["assignment"]
        item = {
            key: value
            for key, value in merged.items()
            if value is not None and not (key in defaults and value == defaults[key])
        }
        catalogue_rules.check(session, "assignments", item, "assignment")
        # Users who lose the assignment must be invalidated too: compute them before.
        users_before = scope_of(session, Change(assignments={obj.id})).users
        for key, value in _values(session, item).items():
            setattr(obj, key, value)
        other = _duplicate(session, obj)
        if other:
            raise Conflict(
                f"assignment {other} already gives this role to this subject with that case number"
            )
        session.flush()
        after = render(session, obj)
        if after == before:
            return after
        scope = scope_of(session, Change(assignments={obj.id}, users=set(users_before)))
        record_change(
            session,
            actor,
            "assignment.updated",
            object_type="assignment",
            object_id=obj.id,
            cvr=cvr,
            before=before,
            after=after,
        )
    announce(ctx.state, scope)
    return after


def delete_assignment(ctx: ServiceContext, actor: Actor, cvr: str, assignment_id: str) -> None:
    access.require(actor, "delete", "assignment", cvr, _missing(cvr))
    with ctx.database.session() as session:
        obj = _load(session, cvr, assignment_id)
        before = render(session, obj)
        users = scope_of(session, Change(assignments={obj.id})).users
        session.delete(obj)
        session.flush()
        scope = scope_of(session, Change(users=set(users)))
        record_change(
            session,
            actor,
            "assignment.deleted",
            object_type="assignment",
            object_id=assignment_id,
            cvr=cvr,
            before=before,
        )
    announce(ctx.state, scope)
