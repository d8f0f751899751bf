"""The two questions the OAuth front door asks the authorization engine, in one place.

1. Which privilege groups does this user hold for this fagsystem (``authz.engine``)?
2. May this anvendersystem call this service for this municipality: is there an
   approved serviceaftale (service agreement), and what does it grant?

No privilege logic lives in the protocol modules; they call these functions and put the
answer in the ``priv`` claim through :func:`authz.priv.encode_priv`.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from authz.engine import resolve
from authz.model import Constraint, PrivilegeGroup, cvr_scope
from authz.priv import encode_priv
from store.models import Fagsystem, Serviceaftale

__all__ = [
    "Agreement",
    "AgreementCache",
    "AgreementDecision",
    "AgreementRefusal",
    "PrivilegeSource",
    "ServiceRef",
    "encode_priv",
    "find_agreement",
    "find_service",
    "user_privileges",
]

PrivilegeSource = Callable[[Session, str, str, str], tuple[PrivilegeGroup, ...]]


def user_privileges(
    session: Session, user_id: str, cvr: str, fagsystem_id: str
) -> tuple[PrivilegeGroup, ...]:
    """The user's groups for one fagsystem today, without the explanations.

    Uses the process's cached engine (``app.extensions["authz"]``) when there is one.
    """
    engine = current_app.extensions.get("authz") if has_app_context() else None
    if engine is not None:
        return tuple(engine.resolve(user_id, cvr, fagsystem_id).token_groups())
    return resolve(session, user_id, cvr, fagsystem_id).token_groups()


class AgreementRefusal(enum.StrEnum):
    NONE = "no service agreement"
    NOT_APPROVED = "service agreement not approved"
    NO_ON_BEHALF_OF = "service agreement does not allow on-behalf-of"


@dataclass(frozen=True)
class Agreement:
    """An approved serviceaftale, reduced to what a system token carries."""

    id: str
    cvr: str
    anvendersystem_id: str
    service_id: str
    grants: tuple[tuple[str, tuple[Constraint, ...]], ...]  # (role, its constraint values)
    on_behalf_of: bool

    def privilege_groups(self) -> tuple[PrivilegeGroup, ...]:
        """One group per service-system role, scoped to the agreement's municipality."""
        scope = cvr_scope(self.cvr)
        return tuple(PrivilegeGroup(role, scope, values) for role, values in self.grants)


def _constraints(raw: dict[str, Any] | None) -> tuple[Constraint, ...]:
    items: list[Constraint] = []
    for name, value in sorted((raw or {}).items()):
        values: Iterable[Any] = value if isinstance(value, list | tuple) else [value]
        items.append(Constraint(str(name), tuple(str(v) for v in values)))
    return tuple(items)


def find_service(session: Session, identifier: str) -> Fagsystem | None:
    """A service by its entity ID (the audience), or by its fagsystem id."""
    row = session.scalar(select(Fagsystem).where(Fagsystem.entity_id == identifier))
    return row if row is not None else session.get(Fagsystem, identifier)


def find_agreement(
    session: Session,
    anvendersystem_id: str,
    service_id: str,
    cvr: str,
    *,
    on_behalf_of: bool = False,
) -> tuple[Agreement | None, AgreementRefusal | None, str | None]:
    """The approved agreement for (anvendersystem, service, CVR), or why there is none.

    Returns (agreement, None, id) when one is approved, else (None, reason, id of the
    closest non-approved agreement or None).
    """
    rows = session.scalars(
        select(Serviceaftale).where(
            Serviceaftale.anvendersystem_id == anvendersystem_id,
            Serviceaftale.service_id == service_id,
            Serviceaftale.cvr == cvr,
        )
    ).all()
    approved = [row for row in rows if row.status == "approved"]
    if not approved:
        other = rows[0].id if rows else None
        return None, AgreementRefusal.NOT_APPROVED if rows else AgreementRefusal.NONE, other
    if on_behalf_of:
        approved = [row for row in approved if row.on_behalf_of]
        if not approved:
            return None, AgreementRefusal.NO_ON_BEHALF_OF, rows[0].id
    chosen = sorted(approved, key=lambda row: row.id)
    grants: list[tuple[str, tuple[Constraint, ...]]] = []
    for row in chosen:
        values = _constraints(row.constraints)
        grants.extend((role, values) for role in row.roles if (role, values) not in grants)
    first = chosen[0]
    return (
        Agreement(
            id=",".join(row.id for row in chosen),
            cvr=first.cvr,
            anvendersystem_id=first.anvendersystem_id,
            service_id=first.service_id,
            grants=tuple(grants),
            on_behalf_of=any(row.on_behalf_of for row in chosen),
        ),
        None,
        first.id,
    )


@dataclass(frozen=True)
class ServiceRef:
    """A service (fagsystem) as a token names it, detached from any session."""

    id: str
    entity_id: str | None

    @property
    def audience(self) -> str:
        return self.entity_id or self.id


@dataclass(frozen=True)
class AgreementDecision:
    """The answer for (anvendersystem, service, CVR): the agreement, or why there is none."""

    service: ServiceRef
    agreement: Agreement | None
    refusal: AgreementRefusal | None
    agreement_id: str | None


class AgreementCache:
    """Per-process cache of :func:`find_service` + :func:`find_agreement` answers.

    Every token is still checked against an approved agreement; only the database read
    behind the check is reused, for at most ``ttl`` seconds. Bound: a change to a
    serviceaftale or fagsystem (approval revoked, agreement removed, roles changed) is
    seen by every process within ``ttl`` seconds (5 by default, the same bound as the
    client registry), and at once where the change is announced on the authz
    invalidation channel (``stsctl import`` does; :meth:`invalidate` is the hook), which
    empties the cache. A lookup that raced an invalidation is not stored. Refusals and
    unknown services are cached too, so a newly approved agreement takes effect within
    the same bound.
    """

    def __init__(self, ttl: float = 5.0, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[tuple[str, str, str, bool], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0

    def invalidate(self, *_args: Any) -> None:
        """Forget every answer (also usable as a pub/sub handler)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def decide(
        self,
        session: Session,
        anvendersystem_id: str,
        service: str,
        cvr: str,
        *,
        on_behalf_of: bool = False,
    ) -> AgreementDecision | None:
        """The decision for the service named ``service`` (entity ID or id); None: unknown."""
        key = (anvendersystem_id, service, cvr, on_behalf_of)
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(key)
            generation = self._generation
        if cached is not None and cached[0] > now:
            decision: AgreementDecision | None = cached[1]
            return decision
        decision = self._load(session, anvendersystem_id, service, cvr, on_behalf_of)
        with self._lock:
            if generation == self._generation:
                self._entries[key] = (now + self.ttl, decision)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return decision

    @staticmethod
    def _load(
        session: Session, anvendersystem_id: str, service: str, cvr: str, on_behalf_of: bool
    ) -> AgreementDecision | None:
        row = find_service(session, service)
        if row is None:
            return None
        agreement, refusal, agreement_id = find_agreement(
            session, anvendersystem_id, row.id, cvr, on_behalf_of=on_behalf_of
        )
        service_ref = ServiceRef(row.id, row.entity_id)
        return AgreementDecision(service_ref, agreement, refusal, agreement_id)
