"""directory sync state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "directory_sync_state",
        sa.Column("cvr", sa.String(length=8), nullable=False),
        sa.Column("server_url", sa.String(length=500), nullable=False),
        sa.Column("invocation_id", sa.String(length=36), nullable=False),
        sa.Column("highest_usn", sa.BigInteger(), nullable=False),
        sa.Column("last_full_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["cvr"],
            ["municipalities.cvr"],
            name=op.f("fk_directory_sync_state_cvr_municipalities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cvr", name=op.f("pk_directory_sync_state")),
    )


def downgrade() -> None:
    op.drop_table("directory_sync_state")
