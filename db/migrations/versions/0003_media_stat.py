"""Cheap rerun checks: file size, mtime and partial hash on clip paths (issue 5).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

A stub until its issue lands: an empty upgrade keeps the revision chain fixed while
several changes are made side by side. Fill in both directions with the models.
"""

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
