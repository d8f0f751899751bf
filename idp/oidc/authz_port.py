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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from authz import agreements
from authz.engine import resolve
from authz.errors import UnknownFagsystem, UnknownMunicipality
from authz.model import PrivilegeGroup
from authz.priv import encode_priv
from idp import metrics

__all__ = [
    "AgreementCache",
    "AgreementDecision",
    "AgreementRefusal",
    "PrivilegeSource",
    "ServiceRef",
    "encode_priv",
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


_REFUSALS = {
    agreements.NO_AGREEMENT: AgreementRefusal.NONE,
    agreements.NOT_APPROVED: AgreementRefusal.NOT_APPROVED,
    agreements.NO_ON_BEHALF_OF: AgreementRefusal.NO_ON_BEHALF_OF,
}


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
    """The answer for (anvendersystem, service, CVR): what a token carries, or why none.

    ``groups`` is None when refused; otherwise the agreement's service-system roles with
    their constraint values (possibly empty), as :mod:`authz.agreements` decided them.
    """

    service: ServiceRef
    groups: tuple[PrivilegeGroup, ...] | None
    refusal: AgreementRefusal | None
    agreement_id: str | None


class AgreementCache:
    """Per-process cache of :func:`authz.agreements.decide_service_access` answers.

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
            metrics.AGREEMENT_HIT.inc()
            decision: AgreementDecision | None = cached[1]
            return decision
        metrics.AGREEMENT_MISS.inc()
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
        try:
            decision = agreements.decide_service_access(
                session, anvendersystem_id, service, cvr, on_behalf_of=on_behalf_of
            )
        except UnknownFagsystem:
            return None
        except UnknownMunicipality:  # no municipality, so certainly no agreement
            row = agreements.find_fagsystem(session, service)
            return AgreementDecision(
                ServiceRef(row.id, row.entity_id), None, AgreementRefusal.NONE, None
            )
        ref = ServiceRef(decision.service_id, decision.service_entity_id)
        if not decision.allowed:
            refusal = _REFUSALS[decision.refusal or agreements.NO_AGREEMENT]
            first = decision.considered_ids[0] if decision.considered_ids else None
            return AgreementDecision(ref, None, refusal, first)
        return AgreementDecision(
            ref, decision.token_groups(), None, ",".join(decision.agreement_ids)
        )
