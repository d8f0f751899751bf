"""Jobfunktionsroller (job-function roles): compose, change, delete — per municipality.

A Jobfunktionsrolleadministrator composes a role from brugersystemroller of any
fagsystem; the catalogue's rules decide what is valid. A role that is assigned to
anyone cannot be deleted (remove the assignments first), so nothing disappears unseen.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from admin.actor import Actor
from admin.errors import Conflict, Invalid, NotFound
from admin.schemas import check_body
from admin.service import access, catalogue_rules
from admin.service.changes import announce, record_change
from admin.service.context import ServiceContext
from admin.service.paging import Page, Paging, page
from authz.cache import Change, scope_of
from store.models import Assignment, Jobfunktionsrolle

_FIELDS = ("id", "cvr", "name", "description", "delegated_to", "grants")
_SORTS = {"id": Jobfunktionsrolle.id, "name": Jobfunktionsrolle.name}


def render(jfr: Jobfunktionsrolle) -> dict[str, Any]:
    return {
        "id": jfr.id,
        "cvr": jfr.cvr,
        "name": jfr.name,
        "description": jfr.description,
        "delegated_to": list(jfr.delegated_to),
        "grants": [
            {"role": grant.role_id, "constraints": dict(grant.constraints)} for grant in jfr.grants
        ],
    }


def _missing(cvr: str) -> str:
    return f"no jobfunktionsroller of municipality {cvr} that you may see"


def _load(session: Session, cvr: str, jfr_id: str) -> Jobfunktionsrolle:
    jfr = session.get(Jobfunktionsrolle, jfr_id)
    if jfr is None or jfr.cvr != cvr:
        raise NotFound(f"jobfunktionsrolle {jfr_id} not found in municipality {cvr}")
    return jfr


def list_jfrs(ctx: ServiceContext, actor: Actor, cvr: str, paging: Paging) -> Page:
    access.require_read(actor, "jfr", cvr, _missing(cvr))
    with ctx.database.session() as session:
        statement = select(Jobfunktionsrolle).where(Jobfunktionsrolle.cvr == cvr)
        return page(
            session,
            statement,
            columns=_SORTS,
            id_column=Jobfunktionsrolle.id,
            paging=paging,
            default_sort="id",
            render=render,
        )


def list_delegated_jfrs(ctx: ServiceContext, actor: Actor, cvr: str) -> list[dict[str, Any]]:
    """Other municipalities' jobfunktionsroller delegated to ``cvr``, which it may assign.

    Each is shown as delegated to ``cvr`` only: who else the owner delegates to is the
    owner's business.
    """
    access.require_read(actor, "jfr", cvr, _missing(cvr))
    if not cvr.isdigit():
        return []
    with ctx.database.session() as session:
        # A cheap prefilter on the JSON text, then the exact test on the list itself.
        candidates = session.scalars(
            select(Jobfunktionsrolle)
            .where(
                Jobfunktionsrolle.cvr != cvr,
                cast(Jobfunktionsrolle.delegated_to, String).like(f'%"{cvr}"%'),
            )
            .order_by(Jobfunktionsrolle.name, Jobfunktionsrolle.id)
        )
        return [
            {**render(jfr), "delegated_to": [cvr]}
            for jfr in candidates
            if cvr in (jfr.delegated_to or [])
        ]


def get_jfr(ctx: ServiceContext, actor: Actor, cvr: str, jfr_id: str) -> dict[str, Any]:
    access.require_read(actor, "jfr", cvr, _missing(cvr))
    with ctx.database.session() as session:
        return render(_load(session, cvr, jfr_id))


def _item(body: dict[str, Any], cvr: str, jfr_id: str) -> dict[str, Any]:
    errors = []
    if body.get("cvr", cvr) != cvr:
        errors.append(("/cvr", f"must be {cvr}, the municipality in the path (or left out)"))
    if body.get("id", jfr_id) != jfr_id:
        errors.append(("/id", f"must be {jfr_id}, the id in the path (or left out)"))
    unknown = sorted(set(body) - set(_FIELDS))
    errors += [(f"/{name}", "unknown field") for name in unknown]
    if errors:
        raise Invalid("the jobfunktionsrolle is not valid", errors)
    return {**body, "id": jfr_id, "cvr": cvr}


def create_jfr(ctx: ServiceContext, actor: Actor, cvr: str, body: dict[str, Any]) -> dict[str, Any]:
    access.require(actor, "create", "jfr", cvr, _missing(cvr))
    body = check_body("JobfunktionsrolleBody", body)
    jfr_id = body.get("id") or f"urn:uuid:{uuid.uuid4()}"
    item = _item(body, cvr, jfr_id)
    if item.get("delegated_to"):
        access.require(actor, "delegate", "jfr", cvr, _missing(cvr))
    with ctx.database.session() as session:
        if session.get(Jobfunktionsrolle, jfr_id) is not None:
            raise Conflict(f"a jobfunktionsrolle with id {jfr_id} exists already")
        catalogue_rules.check(session, "jobfunktionsroller", item, "jobfunktionsrolle")
        catalogue_rules.apply(session, "jobfunktionsroller", item, actor.id)
        session.flush()
        after = render(_load(session, cvr, jfr_id))
        record_change(
            session, actor, "jfr.created", object_type="jfr", object_id=jfr_id, cvr=cvr, after=after
        )
        return after


def replace_jfr(
    ctx: ServiceContext, actor: Actor, cvr: str, jfr_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    access.require(actor, "update", "jfr", cvr, _missing(cvr))
    body = check_body("JobfunktionsrolleBody", body)
    item = _item(body, cvr, jfr_id)
    with ctx.database.session() as session:
        jfr = _load(session, cvr, jfr_id)
        before = render(jfr)
        if sorted(item.get("delegated_to", [])) != sorted(before["delegated_to"]):
            access.require(actor, "delegate", "jfr", cvr, _missing(cvr))
        catalogue_rules.check(session, "jobfunktionsroller", item, "jobfunktionsrolle")
        catalogue_rules.apply(session, "jobfunktionsroller", item, actor.id)
        session.flush()
        after = render(jfr)
        if after == before:
            return after
        scope = scope_of(session, Change(jfrs={jfr_id}))
        record_change(
            session,
            actor,
            "jfr.updated",
            object_type="jfr",
            object_id=jfr_id,
            cvr=cvr,
            before=before,
            after=after,
        )
    announce(ctx.state, scope)
    return after


def delete_jfr(ctx: ServiceContext, actor: Actor, cvr: str, jfr_id: str) -> None:
    access.require(actor, "delete", "jfr", cvr, _missing(cvr))
    with ctx.database.session() as session:
        jfr = _load(session, cvr, jfr_id)
        assigned = session.scalar(
            select(func.count()).select_from(Assignment).where(Assignment.jfr_id == jfr_id)
        )
        if assigned:
            raise Conflict(
                f"jobfunktionsrolle {jfr_id} is assigned {assigned} time(s); "
                "remove those assignments first"
            )
        before = render(jfr)
        session.delete(jfr)
        record_change(
            session,
            actor,
            "jfr.deleted",
            object_type="jfr",
            object_id=jfr_id,
            cvr=cvr,
            before=before,
        )
