"""The delivery outbox: signals on their way to MQTT brokers and webhooks (docs/delivery.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# UTC, stored naive by SQLite (see veilleur.store.models.UTCDateTime).
UTC_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "delivery_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=36), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=48), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTC_TS, nullable=False),
        sa.Column("lease_until", UTC_TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("delivered_at", UTC_TS, nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'delivered', 'dead')", name=op.f("ck_delivery_outbox_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_delivery_outbox_key")),
    )
    for column in ("recipient", "signal_id", "state", "next_at"):
        op.create_index(op.f(f"ix_delivery_outbox_{column}"), "delivery_outbox", [column])


def downgrade() -> None:
    op.drop_table("delivery_outbox")
