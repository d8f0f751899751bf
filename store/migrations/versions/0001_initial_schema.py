"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 14:54:01.704415
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _manager_fk_inline() -> list[sa.ForeignKeyConstraint]:
    # org_units and users refer to each other; SQLite cannot add a foreign key later,
    # PostgreSQL cannot refer to a table that does not exist yet.
    if not _sqlite():
        return []
    return [
        sa.ForeignKeyConstraint(
            ["manager_user_id"],
            ["users.id"],
            name=op.f("fk_org_units_manager_user_id_users"),
            ondelete="SET NULL",
        )
    ]


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("object_type", sa.String(length=100), nullable=True),
        sa.Column("object_id", sa.String(length=400), nullable=True),
        sa.Column("cvr", sa.String(length=8), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    op.create_index(op.f("ix_audit_events_action"), "audit_events", ["action"], unique=False)
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], unique=False)
    op.create_index(op.f("ix_audit_events_cvr"), "audit_events", ["cvr"], unique=False)
    op.create_table(
        "fagsystemer",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("entity_id", sa.String(length=400), nullable=True),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("personal_data", sa.Boolean(), nullable=False),
        sa.Column("min_loa", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "min_loa in ('Low', 'Substantial', 'High')", name=op.f("ck_fagsystemer_min_loa")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fagsystemer")),
        sa.UniqueConstraint("entity_id", name=op.f("uq_fagsystemer_entity_id")),
    )
    op.create_table(
        "municipalities",
        sa.Column("cvr", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("cvr", name=op.f("pk_municipalities")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("kty", sa.String(length=8), nullable=False),
        sa.Column("alg", sa.String(length=10), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("private_key_file", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kty in ('RSA', 'EC')", name=op.f("ck_signing_keys_kty")),
        sa.CheckConstraint(
            "state in ('next', 'active', 'retired')", name=op.f("ck_signing_keys_state")
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_index(op.f("ix_signing_keys_state"), "signing_keys", ["state"], unique=False)
    op.create_table(
        "constraint_types",
        sa.Column("fagsystem_id", sa.String(length=64), nullable=False),
        sa.Column("uri", sa.String(length=400), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("values", sa.JSON(), nullable=True),
        sa.Column("regex", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "kind in ('kle', 'orgenhed', 'values', 'text')", name=op.f("ck_constraint_types_kind")
        ),
        sa.ForeignKeyConstraint(
            ["fagsystem_id"],
            ["fagsystemer.id"],
            name=op.f("fk_constraint_types_fagsystem_id_fagsystemer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fagsystem_id", "uri", name=op.f("pk_constraint_types")),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("cvr", sa.String(length=8), nullable=False),
        sa.Column("dn", sa.String(length=1000), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("object_guid", sa.String(length=36), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["cvr"],
            ["municipalities.cvr"],
            name=op.f("fk_groups_cvr_municipalities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("cvr", "dn", name=op.f("uq_groups_cvr_dn")),
        sa.UniqueConstraint("object_guid", name=op.f("uq_groups_object_guid")),
    )
    op.create_table(
        "jobfunktionsroller",
        sa.Column("id", sa.String(length=400), nullable=False),
        sa.Column("cvr", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("delegated_to", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["cvr"],
            ["municipalities.cvr"],
            name=op.f("fk_jobfunktionsroller_cvr_municipalities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobfunktionsroller")),
    )
    op.create_index(op.f("ix_jobfunktionsroller_cvr"), "jobfunktionsroller", ["cvr"], unique=False)
    op.create_table(
        "oidc_clients",
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("fagsystem_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False),
        sa.Column("token_endpoint_auth_method", sa.String(length=40), nullable=False),
        sa.Column("client_secret_env", sa.String(length=200), nullable=True),
        sa.Column("client_secret_hash", sa.String(length=300), nullable=True),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("tls_client_auth_subject_dn", sa.String(length=500), nullable=True),
        sa.Column("backchannel_logout_uri", sa.String(length=1000), nullable=True),
        sa.Column("signing_alg", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["fagsystem_id"],
            ["fagsystemer.id"],
            name=op.f("fk_oidc_clients_fagsystem_id_fagsystemer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oidc_clients")),
    )
    op.create_index(
        op.f("ix_oidc_clients_fagsystem_id"), "oidc_clients", ["fagsystem_id"], unique=False
    )
    op.create_table(
        "org_units",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("cvr", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_uuid", sa.String(length=36), nullable=True),
        sa.Column("kle", sa.JSON(), nullable=False),
        sa.Column("manager_user_id", sa.String(length=36), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["cvr"],
            ["municipalities.cvr"],
            name=op.f("fk_org_units_cvr_municipalities"),
            ondelete="CASCADE",
        ),
        *_manager_fk_inline(),
        sa.ForeignKeyConstraint(
            ["parent_uuid"],
            ["org_units.uuid"],
            name=op.f("fk_org_units_parent_uuid_org_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_org_units")),
    )
    op.create_index("ix_org_units_cvr", "org_units", ["cvr"], unique=False)
    op.create_index(op.f("ix_org_units_external_id"), "org_units", ["external_id"], unique=False)
    op.create_index(
        op.f("ix_org_units_manager_user_id"), "org_units", ["manager_user_id"], unique=False
    )
    op.create_index(op.f("ix_org_units_parent_uuid"), "org_units", ["parent_uuid"], unique=False)
    op.create_table(
        "saml_sps",
        sa.Column("entity_id", sa.String(length=400), nullable=False),
        sa.Column("fagsystem_id", sa.String(length=64), nullable=False),
        sa.Column("metadata_xml", sa.Text(), nullable=False),
        sa.Column("metadata_source", sa.String(length=1000), nullable=True),
        sa.Column("sign_response", sa.Boolean(), nullable=False),
        sa.Column("sign_assertion", sa.Boolean(), nullable=False),
        sa.Column("encrypt_assertion", sa.Boolean(), nullable=False),
        sa.Column("require_signed_requests", sa.Boolean(), nullable=False),
        sa.Column("allow_idp_initiated", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["fagsystem_id"],
            ["fagsystemer.id"],
            name=op.f("fk_saml_sps_fagsystem_id_fagsystemer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entity_id", name=op.f("pk_saml_sps")),
    )
    op.create_index(op.f("ix_saml_sps_fagsystem_id"), "saml_sps", ["fagsystem_id"], unique=False)
    op.create_table(
        "serviceaftaler",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("cvr", sa.String(length=8), nullable=False),
        sa.Column("anvendersystem_id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("constraints", sa.JSON(), nullable=False),
        sa.Column("on_behalf_of", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=256), nullable=True),
        sa.Column("decided_by", sa.String(length=256), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status in ('requested', 'approved', 'rejected', 'revoked')",
            name=op.f("ck_serviceaftaler_status"),
        ),
        sa.ForeignKeyConstraint(
            ["anvendersystem_id"],
            ["fagsystemer.id"],
            name=op.f("fk_serviceaftaler_anvendersystem_id_fagsystemer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cvr"],
            ["municipalities.cvr"],
            name=op.f("fk_serviceaftaler_cvr_municipalities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["fagsystemer.id"],
            name=op.f("fk_serviceaftaler_service_id_fagsystemer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serviceaftaler")),
    )
    op.create_index(
        op.f("ix_serviceaftaler_anvendersystem_id"),
        "serviceaftaler",
        ["anvendersystem_id"],
        unique=False,
    )
    op.create_index(op.f("ix_serviceaftaler_cvr"), "serviceaftaler", ["cvr"], unique=False)
    op.create_index(
        op.f("ix_serviceaftaler_service_id"), "serviceaftaler", ["service_id"], unique=False
    )
    op.create_table(
        "system_roles",
        sa.Column("id", sa.String(length=400), nullable=False),
        sa.Column("fagsystem_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("constraint_uris", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["fagsystem_id"],
            ["fagsystemer.id"],
            name=op.f("fk_system_roles_fagsystem_id_fagsystemer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_roles")),
    )
    op.create_index(
        op.f("ix_system_roles_fagsystem_id"), "system_roles", ["fagsystem_id"], unique=False
    )
    op.create_table(
        "group_nesting",
        sa.Column("parent_id", sa.String(length=36), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["groups.id"],
            name=op.f("fk_group_nesting_child_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["groups.id"],
            name=op.f("fk_group_nesting_parent_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("parent_id", "child_id", name=op.f("pk_group_nesting")),
    )
    op.create_table(
        "jfr_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("jfr_id", sa.String(length=400), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.String(length=400), nullable=False),
        sa.Column("constraints", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["jfr_id"],
            ["jobfunktionsroller.id"],
            name=op.f("fk_jfr_grants_jfr_id_jobfunktionsroller"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["system_roles.id"],
            name=op.f("fk_jfr_grants_role_id_system_roles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jfr_grants")),
    )
    op.create_index(op.f("ix_jfr_grants_jfr_id"), "jfr_grants", ["jfr_id"], unique=False)
    op.create_index(op.f("ix_jfr_grants_role_id"), "jfr_grants", ["role_id"], unique=False)
    op.create_table(
        "serviceaftale_status",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("aftale_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["aftale_id"],
            ["serviceaftaler.id"],
            name=op.f("fk_serviceaftale_status_aftale_id_serviceaftaler"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_serviceaftale_status")),
    )
    op.create_index(
        op.f("ix_serviceaftale_status_aftale_id"),
        "serviceaftale_status",
        ["aftale_id"],
        unique=False,
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("cvr", sa.String(length=8), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("given_name", sa.String(length=200), nullable=True),
        sa.Column("surname", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("upn", sa.String(length=320), nullable=True),
        sa.Column("org_unit_uuid", sa.String(length=36), nullable=True),
        sa.Column("kle", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=300), nullable=True),
        sa.Column("password_env", sa.String(length=200), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("source in ('local', 'ad')", name=op.f("ck_users_source")),
        sa.ForeignKeyConstraint(
            ["cvr"],
            ["municipalities.cvr"],
            name=op.f("fk_users_cvr_municipalities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_uuid"],
            ["org_units.uuid"],
            name=op.f("fk_users_org_unit_uuid_org_units"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("cvr", "username", name=op.f("uq_users_cvr_username")),
    )
    if not _sqlite():
        op.create_foreign_key(
            op.f("fk_org_units_manager_user_id_users"),
            "org_units",
            "users",
            ["manager_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_index(op.f("ix_users_external_id"), "users", ["external_id"], unique=False)
    op.create_index(op.f("ix_users_org_unit_uuid"), "users", ["org_unit_uuid"], unique=False)
    op.create_table(
        "admin_role_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("cvr", sa.String(length=8), nullable=True),
        sa.Column("granted_by", sa.String(length=256), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role in ('administrator', 'brugeradministrator', 'jobfunktionsrolleadministrator', 'godkender', 'organisation_redaktoer', 'operator')",
            name=op.f("ck_admin_role_assignments_role"),
        ),
        sa.ForeignKeyConstraint(
            ["cvr"],
            ["municipalities.cvr"],
            name=op.f("fk_admin_role_assignments_cvr_municipalities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_admin_role_assignments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_role_assignments")),
        sa.UniqueConstraint(
            "user_id", "role", "cvr", name=op.f("uq_admin_role_assignments_user_id_role_cvr")
        ),
    )
    op.create_index(
        op.f("ix_admin_role_assignments_user_id"),
        "admin_role_assignments",
        ["user_id"],
        unique=False,
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("cvr", sa.String(length=8), nullable=False),
        sa.Column("jfr_id", sa.String(length=400), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("group_id", sa.String(length=36), nullable=True),
        sa.Column("org_unit_uuid", sa.String(length=36), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("case_number", sa.String(length=100), nullable=True),
        sa.Column("inherit", sa.Boolean(), nullable=False),
        sa.Column("constraints", sa.JSON(), nullable=False),
        sa.Column("excepted_user_ids", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "(subject_type = 'user' AND user_id IS NOT NULL AND group_id IS NULL AND org_unit_uuid IS NULL) OR (subject_type = 'group' AND group_id IS NOT NULL AND user_id IS NULL AND org_unit_uuid IS NULL) OR (subject_type = 'org_unit' AND org_unit_uuid IS NOT NULL AND user_id IS NULL AND group_id IS NULL)",
            name=op.f("ck_assignments_one_subject"),
        ),
        sa.CheckConstraint(
            "valid_from IS NULL OR valid_to IS NULL OR valid_from <= valid_to",
            name=op.f("ck_assignments_dates"),
        ),
        sa.ForeignKeyConstraint(
            ["cvr"],
            ["municipalities.cvr"],
            name=op.f("fk_assignments_cvr_municipalities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_assignments_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["jfr_id"],
            ["jobfunktionsroller.id"],
            name=op.f("fk_assignments_jfr_id_jobfunktionsroller"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_uuid"],
            ["org_units.uuid"],
            name=op.f("fk_assignments_org_unit_uuid_org_units"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_assignments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    op.create_index(op.f("ix_assignments_cvr"), "assignments", ["cvr"], unique=False)
    op.create_index(op.f("ix_assignments_group_id"), "assignments", ["group_id"], unique=False)
    op.create_index(op.f("ix_assignments_jfr_id"), "assignments", ["jfr_id"], unique=False)
    op.create_index(
        op.f("ix_assignments_org_unit_uuid"), "assignments", ["org_unit_uuid"], unique=False
    )
    op.create_index(op.f("ix_assignments_user_id"), "assignments", ["user_id"], unique=False)
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("member_user_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_group_members_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_user_id"],
            ["users.id"],
            name=op.f("fk_group_members_member_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "member_user_id", name=op.f("pk_group_members")),
    )


def downgrade() -> None:
    if not _sqlite():
        op.drop_constraint(
            op.f("fk_org_units_manager_user_id_users"), "org_units", type_="foreignkey"
        )
    op.drop_table("group_members")
    op.drop_index(op.f("ix_assignments_user_id"), table_name="assignments")
    op.drop_index(op.f("ix_assignments_org_unit_uuid"), table_name="assignments")
    op.drop_index(op.f("ix_assignments_jfr_id"), table_name="assignments")
    op.drop_index(op.f("ix_assignments_group_id"), table_name="assignments")
    op.drop_index(op.f("ix_assignments_cvr"), table_name="assignments")
    op.drop_table("assignments")
    op.drop_index(op.f("ix_admin_role_assignments_user_id"), table_name="admin_role_assignments")
    op.drop_table("admin_role_assignments")
    op.drop_index(op.f("ix_users_org_unit_uuid"), table_name="users")
    op.drop_index(op.f("ix_users_external_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_serviceaftale_status_aftale_id"), table_name="serviceaftale_status")
    op.drop_table("serviceaftale_status")
    op.drop_index(op.f("ix_jfr_grants_role_id"), table_name="jfr_grants")
    op.drop_index(op.f("ix_jfr_grants_jfr_id"), table_name="jfr_grants")
    op.drop_table("jfr_grants")
    op.drop_table("group_nesting")
    op.drop_index(op.f("ix_system_roles_fagsystem_id"), table_name="system_roles")
    op.drop_table("system_roles")
    op.drop_index(op.f("ix_serviceaftaler_service_id"), table_name="serviceaftaler")
    op.drop_index(op.f("ix_serviceaftaler_cvr"), table_name="serviceaftaler")
    op.drop_index(op.f("ix_serviceaftaler_anvendersystem_id"), table_name="serviceaftaler")
    op.drop_table("serviceaftaler")
    op.drop_index(op.f("ix_saml_sps_fagsystem_id"), table_name="saml_sps")
    op.drop_table("saml_sps")
    op.drop_index(op.f("ix_org_units_parent_uuid"), table_name="org_units")
    op.drop_index(op.f("ix_org_units_manager_user_id"), table_name="org_units")
    op.drop_index(op.f("ix_org_units_external_id"), table_name="org_units")
    op.drop_index("ix_org_units_cvr", table_name="org_units")
    op.drop_table("org_units")
    op.drop_index(op.f("ix_oidc_clients_fagsystem_id"), table_name="oidc_clients")
    op.drop_table("oidc_clients")
    op.drop_index(op.f("ix_jobfunktionsroller_cvr"), table_name="jobfunktionsroller")
    op.drop_table("jobfunktionsroller")
    op.drop_table("groups")
    op.drop_table("constraint_types")
    op.drop_index(op.f("ix_signing_keys_state"), table_name="signing_keys")
    op.drop_table("signing_keys")
    op.drop_table("municipalities")
    op.drop_table("fagsystemer")
    op.drop_index(op.f("ix_audit_events_cvr"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_action"), table_name="audit_events")
    op.drop_table("audit_events")
