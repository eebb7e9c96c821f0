"""Several reviews per clip, adjudication, roles and assignments (issues 7, 8, 9).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

A clip had one review; now each annotator has their own (unique per clip, annotator and
kind), an adjudicator records the final version (at most one per clip: a partial unique
index), and ``assignment`` holds who is to review what. Existing reviews become
annotations made in the review app.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ADJUDICATION = sa.text("kind = 'adjudication'")


def upgrade() -> None:
    with op.batch_alter_table("annotator") as batch:
        batch.add_column(
            sa.Column("role", AutoString(), nullable=False, server_default="annotator")
        )
        batch.add_column(sa.Column("token_hash", AutoString(), nullable=True))
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default="1"))

    with op.batch_alter_table("review") as batch:
        batch.drop_index("ix_review_clip_id")
        batch.add_column(
            sa.Column("kind", AutoString(), nullable=False, server_default="annotation")
        )
        batch.add_column(sa.Column("source", AutoString(), nullable=False, server_default="app"))
        batch.add_column(sa.Column("reject_reason", AutoString(), nullable=True))
        batch.create_index("ix_review_clip_id", ["clip_id"], unique=False)
        batch.create_index("ix_review_annotator_id", ["annotator_id"], unique=False)
        batch.create_index("ix_review_kind", ["kind"], unique=False)
        batch.create_unique_constraint(
            "uq_review_clip_id_annotator_id_kind", ["clip_id", "annotator_id", "kind"]
        )
    op.create_index(
        "uq_review_one_adjudication",
        "review",
        ["clip_id"],
        unique=True,
        sqlite_where=_ADJUDICATION,
        postgresql_where=_ADJUDICATION,
    )

    with op.batch_alter_table("reviewevent") as batch:
        batch.add_column(
            sa.Column("kind", AutoString(), nullable=False, server_default="annotation")
        )
        batch.add_column(sa.Column("source", AutoString(), nullable=False, server_default="app"))
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reject_reason", AutoString(), nullable=True))
        batch.add_column(sa.Column("time_spent_s", sa.Float(), nullable=True))

    op.create_table(
        "assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clip_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["annotator_id"], ["annotator.id"]),
        sa.ForeignKeyConstraint(["clip_id"], ["clip.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("clip_id", "annotator_id"),
    )
    op.create_index("ix_assignment_annotator_id", "assignment", ["annotator_id"], unique=False)
    op.create_index("ix_assignment_clip_id", "assignment", ["clip_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_assignment_clip_id", table_name="assignment")
    op.drop_index("ix_assignment_annotator_id", table_name="assignment")
    op.drop_table("assignment")
    with op.batch_alter_table("reviewevent") as batch:
        batch.drop_column("time_spent_s")
        batch.drop_column("reject_reason")
        batch.drop_column("notes")
        batch.drop_column("source")
        batch.drop_column("kind")
    # Only the first review of a clip survives the way back to one review per clip.
    op.execute(
        "DELETE FROM reviewevent WHERE review_id IN (SELECT id FROM review WHERE id NOT IN "
        "(SELECT MIN(id) FROM review GROUP BY clip_id))"
    )
    op.execute("DELETE FROM review WHERE id NOT IN (SELECT MIN(id) FROM review GROUP BY clip_id)")
    op.drop_index("uq_review_one_adjudication", table_name="review")
    with op.batch_alter_table("review") as batch:
        batch.drop_constraint("uq_review_clip_id_annotator_id_kind", type_="unique")
        batch.drop_index("ix_review_kind")
        batch.drop_index("ix_review_annotator_id")
        batch.drop_index("ix_review_clip_id")
        batch.drop_column("reject_reason")
        batch.drop_column("source")
        batch.drop_column("kind")
        batch.create_index("ix_review_clip_id", ["clip_id"], unique=True)
    with op.batch_alter_table("annotator") as batch:
        batch.drop_column("active")
        batch.drop_column("token_hash")
        batch.drop_column("role")
