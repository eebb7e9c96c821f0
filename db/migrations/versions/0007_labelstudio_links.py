"""Label Studio links: pushed draft and pulled annotations (issue 7).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

A stub until its issue lands: an empty upgrade keeps the revision chain fixed while
several changes are made side by side. Fill in both directions with the models.
"""

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
