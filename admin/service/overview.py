"""What a person's front page needs: recently changed roles, assignments about to end,
and a municipality's org units (to choose from), each read with the same rights as the
rest of the service layer."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from admin.actor import Actor
from admin.service import access, assignments, jfr
from admin.service.context import ServiceContext
from store.models import Assignment, Jobfunktionsrolle, OrgUnit

EXPIRING_DAYS = 30


def recent_jfrs(
    ctx: ServiceContext, actor: Actor, cvr: str, limit: int = 8
) -> list[dict[str, Any]]:
    """The municipality's jobfunktionsroller, most recently changed first (with the time)."""
    access.require_read(actor, "jfr", cvr, f"no jobfunktionsroller of municipality {cvr}")
    with ctx.database.session() as session:
        rows = session.scalars(
            select(Jobfunktionsrolle)
            .where(Jobfunktionsrolle.cvr == cvr)
            .order_by(Jobfunktionsrolle.updated_at.desc(), Jobfunktionsrolle.id)
            .limit(limit)
        )
        return [{**jfr.render(row), "updated_at": row.updated_at.isoformat()} for row in rows]


def expiring_assignments(
    ctx: ServiceContext,
    actor: Actor,
    cvr: str,
    today: dt.date | None = None,
    days: int = EXPIRING_DAYS,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Assignments whose last day (``valid_to``) is within ``days`` from today, soonest first."""
    access.require_read(actor, "assignment", cvr, f"no assignments of municipality {cvr}")
    start = today or dt.date.today()
    with ctx.database.session() as session:
        rows = session.scalars(
            select(Assignment)
            .where(
                Assignment.cvr == cvr,
                Assignment.valid_to >= start,
                Assignment.valid_to <= start + dt.timedelta(days=days),
            )
            .order_by(Assignment.valid_to, Assignment.id)
            .limit(limit)
        )
        return [assignments.render(session, row) for row in rows]


def org_units(ctx: ServiceContext, actor: Actor, cvr: str) -> list[dict[str, Any]]:
    """The municipality's org units (uuid, name, parent), by name."""
    access.require_read(actor, "org_unit", cvr, f"no org units of municipality {cvr}")
    with ctx.database.session() as session:
        rows = session.scalars(select(OrgUnit).where(OrgUnit.cvr == cvr).order_by(OrgUnit.name))
        return [{"uuid": u.uuid, "name": u.name, "parent": u.parent_uuid} for u in rows]
