"""Service-agreement (serviceaftale) decisions for system-to-system and on-behalf-of tokens.

``decide_service_access(session, anvendersystem, service, cvr)`` answers: may system X
obtain a token for service S in the context of municipality Z, and with which
service-system roles and constraint values? Only an *approved* agreement for exactly
(X, S, Z) allows it (DOMAIN.md, REFERENCE-KOMBIT.md §2.6); requested, rejected and
revoked agreements do not. Roles named by the agreement that are not roles of the
service are left out (fail closed), as are constraint values that the service's
constraint type does not accept.

Unknown systems or municipalities are typed errors; a known triple without an approved
agreement is a decision with ``allowed=False`` and the reason, which the token endpoint
turns into ``unauthorized_client`` / ``access_denied`` and audits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from authz.engine import (
    _ConstraintKind,
    _Draft,
    _session,
    _to_group,
    merge_groups,
    normalise_values,
)
from authz.errors import UnknownAnvendersystem, UnknownFagsystem, UnknownMunicipality
from authz.model import PrivilegeGroup, Source
from store.db import Database
from store.models import ConstraintType, Fagsystem, Municipality, Serviceaftale, SystemRole

# Why a decision refuses, for callers that map it to a protocol error: no agreement at all
# for the triple, none of them approved, or none approved for on-behalf-of.
NO_AGREEMENT = "no_agreement"
NOT_APPROVED = "not_approved"
NO_ON_BEHALF_OF = "no_on_behalf_of"


@dataclass(frozen=True)
class ServiceDecision:
    """The answer for (anvendersystem, service, CVR)."""

    allowed: bool
    reason: str
    anvendersystem_id: str
    service_id: str
    service_entity_id: str | None
    cvr: str
    agreement_ids: tuple[str, ...] = ()
    groups: tuple[PrivilegeGroup, ...] = ()
    on_behalf_of: bool = False
    notes: tuple[str, ...] = field(default=())
    refusal: str | None = None  # NO_AGREEMENT, NOT_APPROVED or NO_ON_BEHALF_OF when refused
    considered_ids: tuple[str, ...] = ()  # every agreement for the triple, whatever its status

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(sorted({group.privilege for group in self.groups}))

    def token_groups(self) -> tuple[PrivilegeGroup, ...]:
        """The groups as a token carries them, without the explanation."""
        return tuple(group.bare() for group in self.groups)


def find_fagsystem(session: Session, reference: str) -> Any:
    """(id, entity_id, kinds) of the fagsystem named by id or entity ID, or None."""
    return session.execute(
        select(Fagsystem.id, Fagsystem.entity_id, Fagsystem.kinds).where(
            or_(Fagsystem.id == reference, Fagsystem.entity_id == reference)
        )
    ).first()


def decide_service_access(
    db_or_session: Database | Session,
    anvendersystem: str,
    service: str,
    cvr: str,
    *,
    on_behalf_of: bool = False,
) -> ServiceDecision:
    """May ``anvendersystem`` get a token for ``service`` (id or entity id) for ``cvr``?

    With ``on_behalf_of`` the question is whether it may exchange a user's token for
    one to ``service`` (RFC 8693 / bootstrap tokens); that needs an approved agreement
    with ``on_behalf_of`` set. The user's own privileges for the service then come from
    :func:`authz.engine.resolve`.
    """
    with _session(db_or_session) as session:
        caller = find_fagsystem(session, anvendersystem)
        if caller is None:
            raise UnknownAnvendersystem(anvendersystem)
        target = find_fagsystem(session, service)
        if target is None:
            raise UnknownFagsystem(service)
        if session.get(Municipality, cvr) is None:
            raise UnknownMunicipality(cvr)
        base: dict[str, Any] = {
            "anvendersystem_id": caller.id,
            "service_id": target.id,
            "service_entity_id": target.entity_id,
            "cvr": cvr,
        }
        agreements = session.scalars(
            select(Serviceaftale)
            .where(
                Serviceaftale.anvendersystem_id == caller.id,
                Serviceaftale.service_id == target.id,
                Serviceaftale.cvr == cvr,
            )
            .order_by(Serviceaftale.id)
        ).all()
        base["considered_ids"] = tuple(a.id for a in agreements)
        approved = [a for a in agreements if a.status == "approved"]
        if not approved:
            states = ", ".join(f"{a.id}: {a.status}" for a in agreements) or "none"
            return ServiceDecision(
                allowed=False,
                reason=f"no approved service agreement for {caller.id} → {target.id} in CVR {cvr} "
                f"(agreements: {states})",
                refusal=NOT_APPROVED if agreements else NO_AGREEMENT,
                **base,
            )
        if on_behalf_of:
            approved = [a for a in approved if a.on_behalf_of]
            if not approved:
                return ServiceDecision(
                    allowed=False,
                    reason="the approved agreement does not allow on-behalf-of (token exchange)",
                    refusal=NO_ON_BEHALF_OF,
                    **base,
                )
        service_roles = {
            row.id: tuple(row.constraint_uris or ())
            for row in session.execute(
                select(SystemRole.id, SystemRole.constraint_uris).where(
                    SystemRole.fagsystem_id == target.id
                )
            )
        }
        kinds = {
            row.uri: _ConstraintKind(
                row.uri, row.kind, tuple(row.values) if row.values else None, row.regex
            )
            for row in session.scalars(
                select(ConstraintType).where(ConstraintType.fagsystem_id == target.id)
            )
        }
        notes: list[str] = []
        drafts: list[_Draft] = []
        for agreement in approved:
            source = Source(
                assignment_id=agreement.id,
                jfr_id=agreement.id,
                jfr_name=f"serviceaftale {agreement.id}",
                subject_type="system",
                subject_id=caller.id,
                via="service agreement",
            )
            for role in agreement.roles:
                if role not in service_roles:
                    notes.append(f"{agreement.id}: {role} is not a role of {target.id}; left out")
                    continue
                constraints = _constraints(agreement.constraints or {}, service_roles[role], kinds)
                if isinstance(constraints, str):
                    notes.append(f"{agreement.id}: {role} left out: {constraints}")
                    continue
                drafts.append(_Draft(role, cvr, constraints, [source]))
        groups = tuple(_to_group(d) for d in merge_groups(drafts, kinds))
        return ServiceDecision(
            allowed=True,
            reason=f"approved service agreement {', '.join(a.id for a in approved)}",
            agreement_ids=tuple(a.id for a in approved),
            groups=groups,
            on_behalf_of=any(a.on_behalf_of for a in approved),
            notes=tuple(notes),
            **base,
        )


def _constraints(
    given: dict[str, Any], required: Sequence[str], kinds: dict[str, _ConstraintKind]
) -> dict[str, tuple[str, ...]] | str:
    """Normalised values for the role's constraint types, or the reason it cannot be granted."""
    result: dict[str, tuple[str, ...]] = {}
    for uri in required:  # the agreement's values for types this role does not have are not its
        if uri not in given:
            return f"required constraint {uri} has no value in the agreement"
        raw = given[uri]
        if isinstance(raw, dict):
            raw = raw.get("fixed", [])
        values = [raw] if isinstance(raw, str) else [str(v) for v in raw or ()]
        kind = kinds.get(uri)
        if kind is None:
            return f"constraint {uri} is not a constraint type of the service"
        normalised = normalise_values(kind, values)
        if not normalised:
            return f"constraint {uri}: no valid value"
        result[uri] = normalised
    return result
