"""indexes for privilege resolution

A user's groups (group_members by member_user_id) and a group's parents (group_nesting
by child_id) are the second columns of composite primary keys, so they need their own
index for authz/engine.py's recursive membership query.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 16:00:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_group_members_member_user_id", "group_members", ["member_user_id"], unique=False
    )
    op.create_index("ix_group_nesting_child_id", "group_nesting", ["child_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_group_nesting_child_id", table_name="group_nesting")
    op.drop_index("ix_group_members_member_user_id", table_name="group_members")
