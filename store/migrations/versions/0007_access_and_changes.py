"""ending a user's access, TOTP activation codes, and the change marker

- ``users.access_not_before``: sessions and refresh-token families older than this end;
- ``mfa_activation_codes``: one-time codes (hashed) for a first TOTP enrolment;
- ``change_markers``: a version bumped with every announced change, read once a second
  by processes without Redis.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("access_not_before", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "mfa_activation_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=256), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mfa_activation_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mfa_activation_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_mfa_activation_codes_code_hash")),
    )
    op.create_index(
        op.f("ix_mfa_activation_codes_user_id"), "mfa_activation_codes", ["user_id"], unique=False
    )
    markers = op.create_table(
        "change_markers",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_markers")),
    )
    op.execute(markers.insert().values(name="catalogue", version=0, changed_at=sa.func.now()))


def downgrade() -> None:
    op.drop_table("change_markers")
    op.drop_index(op.f("ix_mfa_activation_codes_user_id"), table_name="mfa_activation_codes")
    op.drop_table("mfa_activation_codes")
    op.drop_column("users", "access_not_before")
