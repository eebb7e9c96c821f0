"""Work claims and leases for parallel workers (issue 9).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

A stub until its issue lands: an empty upgrade keeps the revision chain fixed while
several changes are made side by side. Fill in both directions with the models.
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
