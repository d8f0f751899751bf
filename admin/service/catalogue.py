"""The whole catalogue through the API: export (CATALOGUE.md format) and import.

Export of one municipality is for its Administrator; export of everything and import are
for operators (an import can change fagsystemer every municipality shares). A dry run
validates and applies the file inside a transaction that is then rolled back, so it
reports exactly what the import would change and changes nothing.
"""

from __future__ import annotations

from typing import Any

from admin.actor import Actor
from admin.errors import Forbidden, Invalid
from admin.service import access, catalogue_rules
from admin.service.changes import announce
from admin.service.context import ServiceContext
from authz.admin import can
from authz.cache import catalogue_scope
from store.catalogue import CatalogueInvalid, export_catalogue, import_catalogue


def export(ctx: ServiceContext, actor: Actor, cvr: str | None) -> dict[str, Any]:
    if cvr is None:
        if not can(actor.admin, "read", "municipality", None):
            raise Forbidden("only an operator exports every municipality; name one with ?cvr=")
    else:
        access.require_read(actor, "municipality", cvr, f"municipality {cvr} not found")
    with ctx.database.session() as session:
        return export_catalogue(session, cvr)


def import_file(ctx: ServiceContext, actor: Actor, data: Any, *, dry_run: bool) -> dict[str, Any]:
    if not actor.admin.is_operator:
        raise Forbidden("only an operator imports a catalogue")
    if not isinstance(data, dict):
        raise Invalid("a catalogue is a JSON object", [("", "expected an object")])
    session = ctx.database.sessions()
    try:
        try:
            report = import_catalogue(session, data, actor=actor.id)
        except CatalogueInvalid as exc:
            raise Invalid(
                f"the catalogue has {len(exc.errors)} problem(s); nothing was changed",
                catalogue_rules.errors_as_pointers(exc.errors, 0),
            ) from exc
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    if not dry_run and report.changed:
        announce(ctx.state, catalogue_scope(data))
    return {"dry_run": dry_run, "changed": report.changed, "report": report.as_dict()}
