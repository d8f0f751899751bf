"""A person's second factor, administered: a one-time activation code to enrol TOTP, and
the reset after a lost phone (a Brugeradministrator's right, audited).

:func:`issue_code` is the one implementation ``stsctl mfa activation-code`` and the admin
module (API and UI) share; :func:`activation_code` is the admin module's entry, with the
rights check.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from admin.actor import Actor
from admin.errors import Conflict, NotFound
from admin.service import access
from admin.service.context import ServiceContext
from idp import mfa
from store.access import end_user_access
from store.ephemeral import EphemeralState
from store.models import User


@dataclass(frozen=True)
class IssuedCode:
    code: str  # shown once; only its hash is stored
    expires_at: dt.datetime
    reset: bool

    def as_dict(self, username: str, cvr: str) -> dict[str, Any]:
        return {
            "username": username,
            "cvr": cvr,
            "code": self.code,
            "expires_at": self.expires_at.astimezone(dt.UTC).isoformat(),
            "reset": self.reset,
        }


def issue_code(
    session: Session,
    state: EphemeralState | None,
    user_id: str,
    cvr: str,
    *,
    actor: str,
    lifetime: dt.timedelta,
    reset: bool = False,
    request_id: str | None = None,
) -> IssuedCode:
    """Issue the user's activation code in ``session``'s transaction; with ``reset`` first
    remove their TOTP and recovery codes and end every session of theirs (after commit).

    A new code withdraws any earlier unused one. Audited (``mfa.totp.reset``,
    ``mfa.activation_code.issue``) with ``actor``.
    """
    if reset:
        mfa.reset_totp(session, user_id, actor, request_id=request_id)
        end_user_access(session, state, [user_id], reason="mfa.totp.reset")
    code, expires = mfa.issue_activation_code(
        session, user_id, actor=actor, cvr=cvr, lifetime=lifetime, request_id=request_id
    )
    return IssuedCode(code, expires, reset)


def activation_code(
    ctx: ServiceContext, actor: Actor, cvr: str, username: str, *, reset: bool = False
) -> dict[str, Any]:
    """A Brugeradministrator gives ``username`` (or user id) of ``cvr`` an activation code.

    The answer carries the code, once. A disabled person gets none (enable them first).
    """
    access.require(actor, "update", "user", cvr, f"no users of municipality {cvr} that you may see")
    with ctx.database.session() as session:
        user = session.scalars(
            select(User).where(User.cvr == cvr, or_(User.username == username, User.id == username))
        ).first()
        if user is None:
            raise NotFound(f"user {username} not found in municipality {cvr}")
        if user.disabled:
            raise Conflict(
                f"user {user.username} is disabled; enable the account before issuing a code"
            )
        issued = issue_code(
            session,
            ctx.state,
            user.id,
            cvr,
            actor=actor.id,
            lifetime=dt.timedelta(hours=ctx.settings.mfa_activation_code_hours),
            reset=reset,
            request_id=actor.request_id,
        )
        return issued.as_dict(user.username, cvr)
