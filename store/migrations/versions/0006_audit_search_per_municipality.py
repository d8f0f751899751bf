"""audit search within a municipality: (cvr, actor, id) and (cvr, object_id, id)

A municipality's Administrator searches its audit trail by actor or object; with only
(actor, id) and (cvr, id) such a search reads every event of the actor or of the
municipality (a generic plan of a prepared statement does, measured at 0.5 s on five
million events). These indexes make it one index range.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_events_cvr_actor_id", "audit_events", ["cvr", "actor", "id"])
    op.create_index("ix_audit_events_cvr_object_id_id", "audit_events", ["cvr", "object_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_cvr_object_id_id", table_name="audit_events")
    op.drop_index("ix_audit_events_cvr_actor_id", table_name="audit_events")
