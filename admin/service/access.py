"""Rights checks that answer as the API must: 404 for what the caller may not see at all,
403 for what it may see but not change (:mod:`authz.admin` decides both)."""

from __future__ import annotations

from admin.actor import Actor
from admin.errors import Forbidden, NotFound
from authz.admin import can, roles_with

_ROLE_NAMES = {
    "administrator": "Administrator",
    "brugeradministrator": "Brugeradministrator",
    "jobfunktionsrolleadministrator": "Jobfunktionsrolleadministrator",
    "godkender": "Godkender",
    "organisation_redaktoer": "Organisation-redaktør",
    "leverandoeradministrator": "Leverandøradministrator",
    "operator": "operator",
}
_OBJECT_NAMES = {
    "admin_role": "administrative roles",
    "jfr": "jobfunktionsroller",
    "assignment": "assignments",
    "user": "users",
    "org_unit": "org units",
    "serviceaftale": "serviceaftaler",
    "fagsystem": "fagsystemer",
    "audit": "the audit trail",
    "municipality": "the municipality",
}


def may_read(actor: Actor, obj: str, scope: str | None) -> bool:
    return can(actor.admin, "read", obj, scope)


def require_read(actor: Actor, obj: str, scope: str | None, missing: str) -> None:
    """Raise NotFound(``missing``) unless the actor may read ``obj`` in ``scope``."""
    if not may_read(actor, obj, scope):
        raise NotFound(missing)


def require(actor: Actor, action: str, obj: str, scope: str | None, missing: str) -> None:
    """Allow ``action``; otherwise 403 if the actor can see the object, else 404."""
    if can(actor.admin, action, obj, scope):
        return
    if not may_read(actor, obj, scope):
        raise NotFound(missing)
    holders = ", ".join(_ROLE_NAMES[role] for role in roles_with(action, obj)) or "an operator"
    raise Forbidden(
        f"you may not {action} {_OBJECT_NAMES.get(obj, obj)} here; "
        f"ask someone with one of these roles: {holders}"
    )
