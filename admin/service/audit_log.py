"""Searching the audit trail: by municipality, actor, action, object and time, newest first.

The searches use the (actor, id), (object_id, id) and (cvr, id) indexes and page by id,
so a page costs the same at five million events as at five hundred.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import false, select

from admin.actor import Actor
from admin.errors import Invalid
from admin.service import access
from admin.service.context import ServiceContext
from admin.service.paging import Page, Paging, page
from authz.admin import can
from store import audit
from store.models import AuditEvent

COLUMNS = (
    "id",
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "cvr",
    "outcome",
    "request_id",
    "details",
)


def render(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, **audit.content(event)}


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula character is quoted."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_rows(items: list[dict[str, Any]]) -> list[list[str]]:
    """The header and one row per rendered event, safe to open in a spreadsheet."""
    rows = [list(COLUMNS)]
    for item in items:
        row = dict(item, details=json.dumps(item["details"], ensure_ascii=False, sort_keys=True))
        rows.append([_cell(row[name]) for name in COLUMNS])
    return rows


def parse_time(value: str | None, name: str, *, end: bool = False) -> dt.datetime | None:
    """An ISO date (a whole day, Copenhagen-agnostic UTC) or date-time; None stays None."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            moment = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
            return moment + dt.timedelta(days=1) if end else moment
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(
            f"{name} is not a date", [(f"/{name}", "YYYY-MM-DD or an ISO 8601 date-time")]
        ) from exc
    # As UTC: SQLite drops an offset when it binds the value.
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def search(
    ctx: ServiceContext,
    actor: Actor,
    paging: Paging,
    *,
    cvr: str | None = None,
    actor_name: str | None = None,
    action: str | None = None,
    object_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Page:
    statement = select(AuditEvent)
    if cvr is not None:
        access.require_read(actor, "audit", cvr, f"no audit events of municipality {cvr}")
        statement = statement.where(AuditEvent.cvr == cvr)
    elif not can(actor.admin, "read", "audit", None):
        readable = sorted(c for c in actor.admin.cvrs() if can(actor.admin, "read", "audit", c))
        statement = statement.where(AuditEvent.cvr.in_(readable) if readable else false())
    start = parse_time(since, "since")
    stop = parse_time(until, "until", end=True)
    for column, value in (
        (AuditEvent.actor, actor_name),
        (AuditEvent.action, action),
        (AuditEvent.object_id, object_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if start is not None:
        statement = statement.where(AuditEvent.at >= start)
    if stop is not None:
        statement = statement.where(AuditEvent.at < stop)
    with ctx.database.session() as session:
        return page(
            session,
            statement,
            columns={"id": AuditEvent.id},
            id_column=AuditEvent.id,
            paging=paging,
            default_sort="-id",
            render=render,
        )
