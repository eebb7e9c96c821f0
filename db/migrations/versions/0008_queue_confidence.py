"""The chosen draft and its confidence on the clip, for the review queue (issue 7).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

"Most uncertain first" over 50,000 clips sorted every clip by a correlated subquery;
with the key on the clip and an index on (queue_confidence, id) it is an index walk.
Existing databases are backfilled with the rule of ``db.queries.chosen_draft``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clip") as batch:
        batch.add_column(sa.Column("chosen_draft_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("queue_confidence", sa.Float(), nullable=True))
        batch.create_index("ix_clip_queue_confidence", ["queue_confidence", "id"], unique=False)
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    """Per clip: the newest run's (config) chosen valid sample, else its first valid one,
    else its first sample; confidence -1 unless that draft is valid and scored."""
    rows = conn.execute(
        sa.text(
            "SELECT id, clip_id, config_hash, sample_index, status, chosen, confidence "
            "FROM draft ORDER BY clip_id, id"
        )
    ).all()
    newest: dict[int, str] = {}
    for row in rows:
        newest[row.clip_id] = row.config_hash  # rows are in id order: the last one wins
    best: dict[int, tuple[tuple[int, int, int], int, float]] = {}
    for row in rows:
        if row.config_hash != newest[row.clip_id]:
            continue
        valid = row.status == "valid"
        rank = 0 if valid and row.chosen else 1 if valid else 2
        key = (rank, row.sample_index, row.id)
        score = row.confidence if valid and row.confidence is not None else -1.0
        if row.clip_id not in best or key < best[row.clip_id][0]:
            best[row.clip_id] = (key, row.id, float(score))
    update = sa.text(
        "UPDATE clip SET chosen_draft_id = :draft, queue_confidence = :score WHERE id = :clip"
    )
    params = [{"draft": d, "score": s, "clip": c} for c, (_, d, s) in best.items()]
    for start in range(0, len(params), 5000):
        conn.execute(update, params[start : start + 5000])


def downgrade() -> None:
    with op.batch_alter_table("clip") as batch:
        batch.drop_index("ix_clip_queue_confidence")
        batch.drop_column("queue_confidence")
        batch.drop_column("chosen_draft_id")
