"""Finding people and answering "why can this person see that?" (privileges, explained)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, or_, select

from admin.actor import Actor
from admin.errors import Invalid, NotFound
from admin.service import access
from admin.service.changes import announce, record_change
from admin.service.context import ServiceContext
from admin.service.paging import Page, Paging, page
from authz.cache import Scope
from authz.engine import find_user, resolve
from authz.errors import AuthzError, UnknownFagsystem
from store.access import end_user_access
from store.models import User

_SORTS = {"username": User.username, "name": User.name, "id": User.id}
MAX_QUERY = 200


def render(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "cvr": user.cvr,
        "uuid": user.id,
        "name": user.name,
        "given_name": user.given_name,
        "surname": user.surname,
        "email": user.email,
        "org_unit": user.org_unit_uuid,
        "kle": list(user.kle),
        "source": user.source,
        "disabled": user.disabled,
    }


def _missing(cvr: str) -> str:
    return f"no users of municipality {cvr} that you may see"


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.casefold()


def search_users(
    ctx: ServiceContext, actor: Actor, cvr: str, paging: Paging, q: str | None = None
) -> Page:
    """Users of ``cvr`` whose username starts with, or name contains, ``q`` (or whose id is q)."""
    access.require_read(actor, "user", cvr, _missing(cvr))
    statement = select(User).where(User.cvr == cvr)
    if q:
        if len(q) > MAX_QUERY:
            raise Invalid(
                "the search text is too long", [("/q", f"at most {MAX_QUERY} characters")]
            )
        text = _like(q.strip())
        statement = statement.where(
            or_(
                func.lower(User.username).like(f"{text}%", escape="\\"),
                func.lower(User.name).like(f"%{text}%", escape="\\"),
                User.id == q.strip(),
            )
        )
    with ctx.database.session() as session:
        return page(
            session,
            statement,
            columns=_SORTS,
            id_column=User.id,
            paging=paging,
            default_sort="username",
            render=render,
        )


def privileges(
    ctx: ServiceContext,
    actor: Actor,
    cvr: str,
    username: str,
    fagsystem: str,
    *,
    on: dt.date | None = None,
    explain: bool = False,
) -> dict[str, Any]:
    """What a token for ``fagsystem`` would carry for the user, as ``stsctl privileges`` shows.

    Resolved from the store (not the cache), so it answers for the state just committed.
    With ``explain`` each group names the assignments and jobfunktionsroller it came from.
    """
    access.require_read(actor, "assignment", cvr, _missing(cvr))
    try:
        user_id = find_user(ctx.database, username, cvr)
    except AuthzError as exc:
        raise NotFound(f"user {username} not found in municipality {cvr}") from exc
    try:
        result = resolve(ctx.database, user_id, cvr, fagsystem, on=on)
    except UnknownFagsystem as exc:
        raise Invalid("unknown fagsystem", [("/fagsystem", str(exc))]) from exc
    except AuthzError as exc:
        raise NotFound(str(exc)) from exc
    data = result.to_dict()
    if not explain:
        for group in data["groups"]:
            group.pop("sources", None)
    return data


def set_disabled(
    ctx: ServiceContext, actor: Actor, cvr: str, username: str, disabled: bool
) -> dict[str, Any]:
    """Disable a user (or enable them again); a Brugeradministrator's right, audited.

    Disabling ends the person's access everywhere at once (:mod:`store.access`): every
    SSO session on every server, every refresh-token family, and no new token.
    """
    access.require(actor, "disable", "user", cvr, _missing(cvr))
    with ctx.database.session() as session:
        user = session.scalars(
            select(User).where(User.cvr == cvr, or_(User.username == username, User.id == username))
        ).first()
        if user is None:
            raise NotFound(f"user {username} not found in municipality {cvr}")
        before = render(user)
        if user.disabled == disabled:
            return before
        user.disabled = disabled
        session.flush()
        if disabled:
            end_user_access(session, ctx.state, [user.id], reason="admin.user.disabled")
        record_change(
            session,
            actor,
            "user.disabled" if disabled else "user.enabled",
            object_type="user",
            object_id=user.id,
            cvr=cvr,
            before=before,
            after=render(user),
        )
        result = render(user)
        scope = Scope(users={user.id})
    announce(ctx.state, scope)
    return result
