"""Draft sampling, grounding and self-consistency columns (issue 6).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

``chosen`` marks the sample used downstream; older drafts get ``false`` and
``db.queries.chosen_draft`` falls back to the newest valid one for them.
``model_confidence`` keeps the model's own number when ``confidence`` becomes the
samples' agreement. ``grounding_rate``/``ungrounded_clues`` say which clues name a cue
that is in the cue text; ``sampling_json`` holds temperature, top_p, seed, n and
max_new_tokens.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("draft") as batch:
        batch.add_column(
            sa.Column("chosen", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("model_confidence", sa.Float(), nullable=True))
        batch.add_column(sa.Column("grounding_rate", sa.Float(), nullable=True))
        batch.add_column(sa.Column("ungrounded_clues", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("sampling_json", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("draft") as batch:
        batch.drop_column("sampling_json")
        batch.drop_column("ungrounded_clues")
        batch.drop_column("grounding_rate")
        batch.drop_column("model_confidence")
        batch.drop_column("chosen")
