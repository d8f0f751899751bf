"""Serviceaftaler (service agreements): requested by a supplier, decided by a Godkender.

- A new agreement always starts ``requested``; whoever creates it is its requester.
- Only a Godkender of the agreement's municipality approves or rejects it, and never the
  principal who requested it (four-eyes), whatever roles that principal holds.
- A Godkender or the Administrator of the municipality revokes an approved agreement.
- A decision is announced on the authz channel when it commits, so every server's agreement
  cache drops its answers at once and tokens follow the new status within a second.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from admin.actor import Actor
from admin.errors import Conflict, Forbidden, Invalid, NotFound
from admin.schemas import check_body
from admin.service import catalogue_rules
from admin.service.changes import announce, record_change
from admin.service.context import ServiceContext
from admin.service.paging import Page, Paging, page
from authz.admin import can, fagsystem_scope
from authz.cache import Scope
from store.models import OidcClient, Serviceaftale, ServiceaftaleStatus

STATUSES = ("requested", "approved", "rejected", "revoked")
_FIELDS = ("id", "cvr", "anvendersystem", "service", "roles", "constraints", "on_behalf_of")
_SORTS = {"id": Serviceaftale.id, "cvr": Serviceaftale.cvr, "status": Serviceaftale.status}
# Decision → (action in the rights policy, status it needs, status it sets)
_DECISIONS = {
    "approve": ("approve", "requested", "approved"),
    "reject": ("reject", "requested", "rejected"),
    "revoke": ("revoke", "approved", "revoked"),
}


def render(aftale: Serviceaftale, *, history: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": aftale.id,
        "cvr": aftale.cvr,
        "anvendersystem": aftale.anvendersystem_id,
        "service": aftale.service_id,
        "roles": list(aftale.roles),
        "constraints": dict(aftale.constraints),
        "on_behalf_of": aftale.on_behalf_of,
        "status": aftale.status,
        "requested_by": _shown(aftale.requested_by),
        "decided_by": _shown(aftale.decided_by),
    }
    if history:
        item["history"] = [
            {"status": h.status, "at": h.at.isoformat(), "actor": h.actor, "comment": h.note}
            for h in aftale.history
        ]
    return item


def _shown(holder: str | None) -> str | None:
    """``user:<id>|<username>`` is stored for four-eyes; the API shows the name part."""
    return holder.split("|", 1)[1] if holder and "|" in holder else holder


def _holder_of(actor: Actor) -> str:
    return f"{actor.holder}|{actor.id}"


def may_see(actor: Actor, aftale: Serviceaftale) -> bool:
    return (
        can(actor.admin, "read", "serviceaftale", aftale.cvr)
        or can(actor.admin, "read", "serviceaftale", fagsystem_scope(aftale.anvendersystem_id))
        or can(actor.admin, "read", "serviceaftale", fagsystem_scope(aftale.service_id))
    )


def _visible(actor: Actor) -> ColumnElement[bool] | None:
    """A filter for the agreements ``actor`` may see; None: all of them."""
    if actor.admin.is_operator:
        return None
    cvrs = sorted(c for c in actor.admin.cvrs() if can(actor.admin, "read", "serviceaftale", c))
    systems = sorted(
        f
        for f in actor.admin.fagsystemer()
        if can(actor.admin, "read", "serviceaftale", fagsystem_scope(f))
    )
    conditions = []
    if cvrs:
        conditions.append(Serviceaftale.cvr.in_(cvrs))
    if systems:
        conditions.append(Serviceaftale.anvendersystem_id.in_(systems))
        conditions.append(Serviceaftale.service_id.in_(systems))
    return or_(*conditions) if conditions else false()


def list_agreements(
    ctx: ServiceContext,
    actor: Actor,
    paging: Paging,
    *,
    cvr: str | None = None,
    status: str | None = None,
    anvendersystem: str | None = None,
    service: str | None = None,
) -> Page:
    if status is not None and status not in STATUSES:
        raise Invalid("unknown status", [("/status", f"one of {', '.join(STATUSES)}")])
    statement = select(Serviceaftale)
    visible = _visible(actor)
    if visible is not None:
        statement = statement.where(visible)
    for column, value in (
        (Serviceaftale.cvr, cvr),
        (Serviceaftale.status, status),
        (Serviceaftale.anvendersystem_id, anvendersystem),
        (Serviceaftale.service_id, service),
    ):
        if value is not None:
            statement = statement.where(column == value)
    with ctx.database.session() as session:
        return page(
            session,
            statement,
            columns=_SORTS,
            id_column=Serviceaftale.id,
            paging=paging,
            default_sort="id",
            render=render,
        )


def _load(session: Session, actor: Actor, aftale_id: str, *, lock: bool = False) -> Serviceaftale:
    statement = select(Serviceaftale).where(Serviceaftale.id == aftale_id)
    if lock:
        statement = statement.with_for_update()
    aftale = session.scalar(statement)
    if aftale is None or not may_see(actor, aftale):
        raise NotFound(f"serviceaftale {aftale_id} not found")
    return aftale


def _party_to(session: Session, actor: Actor, aftale: Serviceaftale) -> bool:
    """Whether ``actor`` speaks for the agreement's anvendersystem: its supplier
    administrator, or one of its own OIDC clients (which that supplier registers)."""
    if aftale.anvendersystem_id in actor.admin.fagsystemer():
        return True
    if actor.kind == "client":
        client = session.get(OidcClient, actor.id)
        return client is not None and client.fagsystem_id == aftale.anvendersystem_id
    return False


def get_agreement(ctx: ServiceContext, actor: Actor, aftale_id: str) -> dict[str, Any]:
    with ctx.database.session() as session:
        return render(_load(session, actor, aftale_id), history=True)


def request_agreement(ctx: ServiceContext, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    """Anmod om serviceaftale: the anvendersystem's Leverandøradministrator asks for access."""
    if isinstance(body, dict) and "status" in body:
        raise Invalid(
            "a new serviceaftale is always requested",
            [("/status", "leave status out: a Godkender decides it")],
        )
    body = dict(check_body("ServiceaftaleRequest", body))
    comment = str(body.pop("comment", ""))
    aftale_id = body.get("id") or f"sa-{uuid.uuid4()}"
    item = {**body, "id": aftale_id, "status": "requested"}
    anvender = body.get("anvendersystem")
    if isinstance(anvender, str) and not can(
        actor.admin, "create", "serviceaftale", fagsystem_scope(anvender)
    ):
        raise Forbidden(
            f"only the Leverandøradministrator of {anvender} (or an operator) may request a "
            f"serviceaftale with {anvender} as anvendersystem"
        )
    with ctx.database.session() as session:
        catalogue_rules.check(session, "serviceaftaler", item, "serviceaftale")
        if session.get(Serviceaftale, aftale_id) is not None:
            raise Conflict(f"a serviceaftale with id {aftale_id} exists already")
        aftale = Serviceaftale(
            id=aftale_id,
            cvr=item["cvr"],
            anvendersystem_id=item["anvendersystem"],
            service_id=item["service"],
            roles=list(item.get("roles", [])),
            constraints=dict(item.get("constraints", {})),
            on_behalf_of=bool(item.get("on_behalf_of", False)),
            status="requested",
            requested_by=_holder_of(actor),
        )
        aftale.history.append(ServiceaftaleStatus(status="requested", actor=actor.id, note=comment))
        session.add(aftale)
        session.flush()
        after = render(aftale)
        record_change(
            session,
            actor,
            "serviceaftale.requested",
            object_type="serviceaftale",
            object_id=aftale_id,
            cvr=aftale.cvr,
            after=after,
            comment=comment,
        )
        return render(aftale, history=True)


def decide(
    ctx: ServiceContext, actor: Actor, aftale_id: str, decision: str, comment: str = ""
) -> dict[str, Any]:
    """Godkend, Afvis or Tilbagekald (``approve``, ``reject``, ``revoke``)."""
    action, needed, new_status = _DECISIONS[decision]
    with ctx.database.session() as session:
        aftale = _load(session, actor, aftale_id, lock=True)
        if not can(actor.admin, action, "serviceaftale", aftale.cvr):
            verb = {"approve": "approve", "reject": "reject", "revoke": "revoke"}[decision]
            who = "a Godkender" if decision != "revoke" else "a Godkender or the Administrator"
            raise Forbidden(
                f"you may not {verb} serviceaftaler of municipality {aftale.cvr}; "
                f"ask {who} of that municipality"
            )
        if (
            decision in ("approve", "reject")
            and aftale.requested_by
            and (aftale.requested_by.split("|", 1)[0] == actor.holder)
        ):
            raise Forbidden(
                "four-eyes: you requested this serviceaftale, so another Godkender must "
                f"{decision} it"
            )
        if decision in ("approve", "reject") and _party_to(session, actor, aftale):
            raise Forbidden(
                f"four-eyes: you act for {aftale.anvendersystem_id}, the system asking; "
                f"a Godkender of municipality {aftale.cvr} must {decision} it"
            )
        if decision in ("approve", "reject") and ("godkender", aftale.cvr) not in (
            actor.admin.roles
        ):
            raise Forbidden(
                f"only a Godkender of municipality {aftale.cvr} may {decision} its "
                "serviceaftaler (an operator's rights do not stand in for one)"
            )
        if aftale.status != needed:
            raise Conflict(
                f"serviceaftale {aftale_id} is {aftale.status}; only a {needed} one can be "
                f"{new_status}"
            )
        before = render(aftale)
        aftale.status = new_status
        aftale.decided_by = _holder_of(actor)
        aftale.history.append(ServiceaftaleStatus(status=new_status, actor=actor.id, note=comment))
        session.flush()
        record_change(
            session,
            actor,
            f"serviceaftale.{new_status}",
            object_type="serviceaftale",
            object_id=aftale_id,
            cvr=aftale.cvr,
            before=before,
            after=render(aftale),
            comment=comment,
        )
        changed = Scope(fagsystems={aftale.anvendersystem_id, aftale.service_id})
        result = render(aftale, history=True)
    # Committed: now every process drops its cached agreement answers.
    announce(ctx.state, changed)
    return result
