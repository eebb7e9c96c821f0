"""Draft sampling, grounding and self-consistency columns (issue 6).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

A stub until its issue lands: an empty upgrade keeps the revision chain fixed while
several changes are made side by side. Fill in both directions with the models.
"""

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
