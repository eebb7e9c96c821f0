"""Speaker baselines (issue 5).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Empty on purpose: the speaker baseline needed no schema change in the end (speakers are a
column of 0001's clip table), and the revision stays so that databases stamped 0004 keep
their place in the chain.
"""

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
