"""``--prune``: delete what a catalogue no longer names, for the municipalities it names.

See :mod:`store.catalogue.importer` for what is pruned and what is deliberately not.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.catalogue_legacy.report import ImportReport
from store.models import Assignment, Jobfunktionsrolle, OrgUnit, Serviceaftale, User

Item = dict[str, Any]


class Pruner:
    """Deletes what the file no longer names, for the municipalities it names."""

    def __init__(
        self, session: Session, report: ImportReport, data: Item, kept_assignments: set[str]
    ) -> None:
        self.session = session
        self.report = report
        self.named = {m["cvr"] for m in data.get("municipalities", [])}
        self.kept_assignments = kept_assignments
        self.kept_units = {
            u["uuid"] for m in data.get("municipalities", []) for u in m.get("org_units", [])
        }
        self.kept_users = {(u["cvr"], u["username"]) for u in data.get("users", [])}
        self.kept_jfrs = {j["id"] for j in data.get("jobfunktionsroller", [])}
        self.kept_aftaler = {a["id"] for a in data.get("serviceaftaler", [])}

    def run(self) -> None:
        """Dependants first, so every delete is explicit and counted."""
        if not self.named:
            return
        gone_jfrs = [
            jfr
            for jfr in self.session.scalars(
                select(Jobfunktionsrolle).where(Jobfunktionsrolle.cvr.in_(self.named))
            )
            if jfr.id not in self.kept_jfrs
        ]
        gone_users = [
            user
            for user in self.session.scalars(
                select(User).where(User.cvr.in_(self.named), User.source == "local")
            )
            if (user.cvr, user.username) not in self.kept_users
        ]
        self.delete_assignments({jfr.id for jfr in gone_jfrs}, {user.id for user in gone_users})
        self.delete("jobfunktionsrolle", gone_jfrs)
        self.delete(
            "serviceaftale",
            [
                aftale
                for aftale in self.session.scalars(
                    select(Serviceaftale).where(Serviceaftale.cvr.in_(self.named))
                )
                if aftale.id not in self.kept_aftaler
            ],
        )
        self.delete("user", gone_users)
        self.delete(
            "org_unit",
            [
                unit
                for unit in self.session.scalars(
                    select(OrgUnit).where(
                        OrgUnit.cvr.in_(self.named), OrgUnit.external_id.is_(None)
                    )
                )
                if unit.uuid not in self.kept_units
            ],
        )
        self.session.expire_all()  # the database nulled references to deleted rows

    def delete_assignments(self, gone_jfrs: set[str], gone_users: set[str]) -> None:
        """Unnamed assignments of the named CVRs, and any assignment of a pruned JFR or user."""
        doomed = [
            obj
            for obj in self.session.scalars(select(Assignment))
            if (obj.cvr in self.named and obj.id not in self.kept_assignments)
            or obj.jfr_id in gone_jfrs
            or obj.user_id in gone_users
        ]
        self.delete("assignment", doomed)

    def delete(self, kind: str, objects: list[Any]) -> None:
        for obj in objects:
            self.session.delete(obj)
            self.report.deleted[kind] += 1
        self.session.flush()
