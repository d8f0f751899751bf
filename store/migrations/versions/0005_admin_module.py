"""admin module: roles for clients and fagsystemer; audit search indexes; append-only audit

- ``admin_role_assignments`` may be held by an OIDC client as well as a user, and the new
  Leverandøradministrator role is held for a fagsystem (not a CVR). ``holder`` and
  ``scope`` are non-null text forms used by one unique constraint. Existing rows keep
  their meaning (an operator row's CVR, which never counted, is cleared).
- ``audit_events`` gets composite indexes for searches by actor, object and CVR that page
  backwards by id; the single-column CVR index is subsumed by (cvr, id).
- On PostgreSQL a trigger refuses UPDATE and DELETE on ``audit_events``.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_ROLES = (
    "role in ('administrator', 'brugeradministrator', 'jobfunktionsrolleadministrator',"
    " 'godkender', 'organisation_redaktoer', 'operator')"
)
_ROLES = (
    "role in ('administrator', 'brugeradministrator', 'jobfunktionsrolleadministrator',"
    " 'godkender', 'organisation_redaktoer', 'leverandoeradministrator', 'operator')"
)
_ONE_HOLDER = (
    "(user_id IS NOT NULL AND client_id IS NULL) OR (user_id IS NULL AND client_id IS NOT NULL)"
)
_SCOPE = (
    "(role = 'operator' AND cvr IS NULL AND fagsystem_id IS NULL)"
    " OR (role = 'leverandoeradministrator' AND cvr IS NULL AND fagsystem_id IS NOT NULL)"
    " OR (role NOT IN ('operator', 'leverandoeradministrator') AND cvr IS NOT NULL"
    " AND fagsystem_id IS NULL)"
)

_APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
_APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
"""


def upgrade() -> None:
    bind = op.get_bind()
    orphans = bind.execute(
        sa.text(
            "SELECT count(*) FROM admin_role_assignments WHERE role <> 'operator' AND cvr IS NULL"
        )
    ).scalar()
    if orphans:
        raise RuntimeError(
            f"{orphans} administrative role(s) other than operator have no CVR; give each a "
            "CVR (or delete it) in admin_role_assignments and run the migration again"
        )
    with op.batch_alter_table("admin_role_assignments") as batch:
        batch.add_column(sa.Column("client_id", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("fagsystem_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("holder", sa.String(length=220), nullable=True))
        batch.add_column(sa.Column("scope", sa.String(length=80), nullable=True))
    op.execute(
        "UPDATE admin_role_assignments SET holder = 'user:' || user_id,"
        " scope = CASE WHEN role = 'operator' THEN '*' ELSE cvr END,"
        " cvr = CASE WHEN role = 'operator' THEN NULL ELSE cvr END"
    )
    with op.batch_alter_table("admin_role_assignments", recreate="always") as batch:
        batch.drop_constraint(op.f("uq_admin_role_assignments_user_id_role_cvr"), type_="unique")
        batch.drop_constraint(op.f("ck_admin_role_assignments_role"), type_="check")
        batch.alter_column("user_id", existing_type=sa.String(length=36), nullable=True)
        batch.alter_column("holder", existing_type=sa.String(length=220), nullable=False)
        batch.alter_column("scope", existing_type=sa.String(length=80), nullable=False)
        batch.create_check_constraint("role", _ROLES)
        batch.create_check_constraint("one_holder", _ONE_HOLDER)
        batch.create_check_constraint("scope", _SCOPE)
        batch.create_unique_constraint(
            op.f("uq_admin_role_assignments_holder_role_scope"), ["holder", "role", "scope"]
        )
        batch.create_foreign_key(
            op.f("fk_admin_role_assignments_client_id_oidc_clients"),
            "oidc_clients",
            ["client_id"],
            ["client_id"],
            ondelete="CASCADE",
        )
        batch.create_foreign_key(
            op.f("fk_admin_role_assignments_fagsystem_id_fagsystemer"),
            "fagsystemer",
            ["fagsystem_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index("ix_admin_role_assignments_client_id", ["client_id"])
        batch.create_index("ix_admin_role_assignments_fagsystem_id", ["fagsystem_id"])
        batch.create_index("ix_admin_role_assignments_cvr", ["cvr"])

    op.drop_index("ix_audit_events_cvr", table_name="audit_events")
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor", "id"])
    op.create_index("ix_audit_events_object_id_id", "audit_events", ["object_id", "id"])
    op.create_index("ix_audit_events_cvr_id", "audit_events", ["cvr", "id"])
    if bind.dialect.name == "postgresql":
        op.execute(_APPEND_ONLY_FUNCTION)
        op.execute(_APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    op.drop_index("ix_audit_events_cvr_id", table_name="audit_events")
    op.drop_index("ix_audit_events_object_id_id", table_name="audit_events")
    op.drop_index("ix_audit_events_actor_id", table_name="audit_events")
    op.create_index("ix_audit_events_cvr", "audit_events", ["cvr"])

    # Roles the old schema cannot hold (clients, Leverandøradministrator) have no place there.
    op.execute(
        "DELETE FROM admin_role_assignments"
        " WHERE client_id IS NOT NULL OR role = 'leverandoeradministrator'"
    )
    with op.batch_alter_table("admin_role_assignments", recreate="always") as batch:
        batch.drop_index("ix_admin_role_assignments_cvr")
        batch.drop_index("ix_admin_role_assignments_fagsystem_id")
        batch.drop_index("ix_admin_role_assignments_client_id")
        batch.drop_constraint(
            op.f("fk_admin_role_assignments_fagsystem_id_fagsystemer"), "foreignkey"
        )
        batch.drop_constraint(
            op.f("fk_admin_role_assignments_client_id_oidc_clients"), "foreignkey"
        )
        batch.drop_constraint(op.f("uq_admin_role_assignments_holder_role_scope"), type_="unique")
        batch.drop_constraint(op.f("ck_admin_role_assignments_scope"), type_="check")
        batch.drop_constraint(op.f("ck_admin_role_assignments_one_holder"), type_="check")
        batch.drop_constraint(op.f("ck_admin_role_assignments_role"), type_="check")
        batch.create_check_constraint("role", _OLD_ROLES)
        batch.alter_column("user_id", existing_type=sa.String(length=36), nullable=False)
        batch.create_unique_constraint(
            op.f("uq_admin_role_assignments_user_id_role_cvr"), ["user_id", "role", "cvr"]
        )
        batch.drop_column("scope")
        batch.drop_column("holder")
        batch.drop_column("fagsystem_id")
        batch.drop_column("client_id")
