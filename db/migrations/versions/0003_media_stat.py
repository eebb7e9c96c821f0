"""Cheap rerun checks: file size, mtime and partial hash on clip paths (issue 5).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

A rerun trusts a path whose size and mtime match what was recorded when its content
was last verified, so it reads no media; older rows (NULL) are verified once in full.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clippath") as batch:
        batch.add_column(sa.Column("size_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("mtime_ns", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("partial_hash", AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clippath") as batch:
        batch.drop_column("partial_hash")
        batch.drop_column("mtime_ns")
        batch.drop_column("size_bytes")
