"""Signing keys for operators: list them, and rotate (next → active → retired).

The rotation is :meth:`certs.keys.KeyManager.rotate`, the same as ``stsctl keys rotate``,
audited (``key.rotate``) under the operator's name in the rotation's transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from admin.actor import Actor
from admin.errors import Invalid, NotFound
from admin.service.context import ServiceContext
from certs.keys import KEY_TYPES, KeyManager
from store.models import SigningKey


def _require_operator(actor: Actor) -> None:
    if not actor.admin.is_operator:
        raise NotFound("no signing keys that you may see")


def _time(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


def list_keys(ctx: ServiceContext, actor: Actor, manager: KeyManager) -> list[dict[str, Any]]:
    _require_operator(actor)
    with ctx.database.session() as session:
        published = {row.kid for row in manager.published(session)}
        rows = session.scalars(
            select(SigningKey).order_by(SigningKey.kty, SigningKey.created_at.desc())
        )
        return [
            {
                "kid": row.kid,
                "kty": row.kty,
                "alg": row.alg,
                "size": row.size,
                "state": row.state,
                "created_at": _time(row.created_at),
                "activated_at": _time(row.activated_at),
                "retired_at": _time(row.retired_at),
                "published": row.kid in published,
            }
            for row in rows
        ]


def rotate(
    ctx: ServiceContext, actor: Actor, manager: KeyManager, kty: str | None = None
) -> list[tuple[str, str]]:
    """Rotate one key type (or every type); returns (retired kid, activated kid) pairs."""
    _require_operator(actor)
    if kty is not None and kty not in KEY_TYPES:
        raise Invalid("unknown key type", [("/kty", f"one of {', '.join(KEY_TYPES)}")])
    with ctx.database.session() as session:
        return manager.rotate(session, kty, actor=actor.id)
