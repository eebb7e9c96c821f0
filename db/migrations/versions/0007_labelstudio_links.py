"""Label Studio links: the pushed draft and its prediction (issue 7).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

A push compares the clip's chosen draft with ``pushed_draft_id`` instead of listing every
task, so only redrafted clips are sent again. Links made before this revision have NULL
there: the next push looks their tasks up in Label Studio once and fills it in.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("labelstudiolink") as batch:
        batch.add_column(sa.Column("pushed_draft_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prediction_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("labelstudiolink") as batch:
        batch.drop_column("prediction_id")
        batch.drop_column("pushed_draft_id")
