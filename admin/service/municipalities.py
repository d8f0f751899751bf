"""Municipalities (kommuner): which ones a caller may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.actor import Actor
from admin.errors import NotFound
from admin.service.context import ServiceContext
from store.models import Municipality


def render(municipality: Municipality) -> dict[str, Any]:
    return {"cvr": municipality.cvr, "name": municipality.name, "domain": municipality.domain}


def visible_cvrs(actor: Actor) -> set[str] | None:
    """The CVRs the actor holds a municipal role in; None: every one (operator, supplier).

    A Leverandøradministrator sees every municipality's name and CVR (public facts) to
    request service agreements with any of them, and nothing else of theirs.
    """
    if actor.admin.is_operator or actor.admin.fagsystemer():
        return None
    return actor.admin.cvrs()


def list_municipalities(ctx: ServiceContext, actor: Actor) -> list[dict[str, Any]]:
    statement = select(Municipality).order_by(Municipality.cvr)
    cvrs = visible_cvrs(actor)
    if cvrs is not None:
        statement = statement.where(Municipality.cvr.in_(sorted(cvrs)))
    with ctx.database.session() as session:
        return [render(m) for m in session.scalars(statement)]


def require_municipality(session: Session, cvr: str) -> Municipality:
    """The municipality, or NotFound (also for a malformed CVR)."""
    municipality = session.get(Municipality, cvr) if len(cvr) == 8 and cvr.isdigit() else None
    if municipality is None:
        raise NotFound(f"municipality {cvr} not found")
    return municipality


def require_exists(ctx: ServiceContext, cvr: str) -> None:
    """NotFound unless ``cvr`` is a stored municipality (checked before any rights)."""
    with ctx.database.session() as session:
        require_municipality(session, cvr)
