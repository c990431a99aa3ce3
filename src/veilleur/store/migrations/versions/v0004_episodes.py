"""Episodes: a signal (and a calibration record) keeps the key of the episode it opened and the
count and times of the further events attached to it during its cool-down.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("signals", "calibration_records")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("episode", sa.String(length=64), nullable=True))
            batch.add_column(
                sa.Column("further_count", sa.Integer(), nullable=False, server_default="0")
            )
            batch.add_column(sa.Column("further_times", sa.JSON(), nullable=True))
            batch.create_index(batch.f(f"ix_{table}_episode"), ["episode"])


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(batch.f(f"ix_{table}_episode"))
            batch.drop_column("further_times")
            batch.drop_column("further_count")
            batch.drop_column("episode")
