"""certificates of anvendersystemer for the KOMBIT STS drop-in

- ``system_certificates``: certificates registered to a fagsystem (catalogue
  ``certificates:``); the STS endpoints identify their caller by an exact match.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "system_certificates",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("fagsystem_id", sa.String(length=64), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["fagsystem_id"],
            ["fagsystemer.id"],
            name=op.f("fk_system_certificates_fagsystem_id_fagsystemer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_system_certificates")),
    )
    op.create_index(
        op.f("ix_system_certificates_fagsystem_id"),
        "system_certificates",
        ["fagsystem_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_system_certificates_sha1"), "system_certificates", ["sha1"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_system_certificates_sha1"), table_name="system_certificates")
    op.drop_index(op.f("ix_system_certificates_fagsystem_id"), table_name="system_certificates")
    op.drop_table("system_certificates")
