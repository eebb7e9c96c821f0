"""Work claims and leases for parallel workers (issue 9).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

``workitem``: one row per (queue, clip), claimed by a worker for a lease it renews while it
works (``run --workers N``, ``annotator worker``, Ray actors). A dead worker's lease runs out
and the item is claimable again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workitem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_key", AutoString(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("phase", AutoString(), nullable=False),
        sa.Column("state", AutoString(), nullable=False),
        sa.Column("worker_id", AutoString(), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", AutoString(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("outcome_json", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["clip_id"], ["clip.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("queue_key", "clip_id"),
    )
    op.create_index("ix_workitem_clip_id", "workitem", ["clip_id"], unique=False)
    op.create_index("ix_workitem_queue_state", "workitem", ["queue_key", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_workitem_queue_state", table_name="workitem")
    op.drop_index("ix_workitem_clip_id", table_name="workitem")
    op.drop_table("workitem")
