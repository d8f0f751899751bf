"""``--prune``: delete what a catalogue no longer names, for the municipalities it names.

See :mod:`store.catalogue.importer` for what is pruned and what is deliberately not. The
deletes are set-wise, against the temporary tables the importer filled with what the
file names (``cat_org_units``, ``cat_users``, ``cat_jfrs``, ``cat_assignments``).
"""

# ruff: noqa: S608 - SQL is assembled from this module's own identifiers; values are bound

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from store.catalogue.report import ImportReport

if TYPE_CHECKING:
    from store.catalogue.importer import Bulk

Item = dict[str, Any]


class Pruner:
    """Deletes what the file no longer names, for the municipalities it names."""

    def __init__(self, session: Session, bulk: Bulk, report: ImportReport, data: Item) -> None:
        self.session = session
        self.bulk = bulk
        self.report = report
        self.named = sorted({m["cvr"] for m in data.get("municipalities", [])})
        self.kept_aftaler = sorted({a["id"] for a in data.get("serviceaftaler", [])})

    def run(self) -> None:
        """Dependants first, so every delete is explicit and counted."""
        if not self.named:
            return
        bulk, named = self.bulk, self.named
        bulk.temp("cat_gone_jfrs", {"id": "text"})
        bulk.execute(
            "INSERT INTO cat_gone_jfrs (id) SELECT s.id FROM jobfunktionsroller AS s"
            " WHERE s.cvr IN :named AND NOT EXISTS (SELECT 1 FROM cat_jfrs AS x WHERE x.id = s.id)",
            named=named,
        )
        bulk.temp("cat_gone_users", {"id": "text"})
        bulk.execute(
            "INSERT INTO cat_gone_users (id) SELECT s.id FROM users AS s"
            " WHERE s.cvr IN :named AND s.source = 'local' AND NOT EXISTS"
            " (SELECT 1 FROM cat_users AS x WHERE x.cvr = s.cvr AND x.username = s.username)",
            named=named,
        )
        self.delete(
            "assignment",
            "DELETE FROM assignments WHERE (cvr IN :named AND NOT EXISTS"
            " (SELECT 1 FROM cat_assignments AS x WHERE x.kept_id = assignments.id))"
            " OR jfr_id IN (SELECT id FROM cat_gone_jfrs)"
            " OR user_id IN (SELECT id FROM cat_gone_users)",
        )
        self.delete(
            "jobfunktionsrolle",
            "DELETE FROM jobfunktionsroller WHERE id IN (SELECT id FROM cat_gone_jfrs)",
        )
        kept = " AND id NOT IN :kept" if self.kept_aftaler else ""
        self.delete("serviceaftale", f"DELETE FROM serviceaftaler WHERE cvr IN :named{kept}")
        self.delete("user", "DELETE FROM users WHERE id IN (SELECT id FROM cat_gone_users)")
        self.delete(
            "org_unit",
            "DELETE FROM org_units WHERE cvr IN :named AND external_id IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM cat_org_units AS x WHERE x.uuid = org_units.uuid)",
        )

    def delete(self, kind: str, sql: str) -> None:
        params: dict[str, Any] = {"named": self.named} if ":named" in sql else {}
        if ":kept" in sql:
            params["kept"] = self.kept_aftaler
        deleted = self.bulk.execute(sql, **params).rowcount
        if deleted:
            self.report.deleted[kind] += deleted
