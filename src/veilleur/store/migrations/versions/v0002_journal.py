"""The journal: append-only, hash-chained (SPEC S7).

On PostgreSQL a trigger refuses UPDATE and DELETE of journal rows; on SQLite two triggers do
the same. Neither stops the database's owner (who can drop them): the hash chain, checked by
`veilleur journal verify`, is what shows a change.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)

PG_FUNCTION = """
CREATE FUNCTION veilleur_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % of entry % refused', TG_OP, OLD.id;
END
$$
"""
PG_TRIGGER = """
CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
FOR EACH ROW EXECUTE FUNCTION veilleur_journal_append_only()
"""
SQLITE_TRIGGERS = [
    f"""
CREATE TRIGGER journal_no_{op_name.lower()} BEFORE {op_name} ON journal
BEGIN
    SELECT RAISE(ABORT, 'the journal is append-only: {op_name} refused');
END
"""
    for op_name in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal")),
        sa.UniqueConstraint("hash", name=op.f("uq_journal_hash")),
    )
    op.create_index(op.f("ix_journal_at"), "journal", ["at"])
    op.create_index(op.f("ix_journal_actor"), "journal", ["actor"])
    op.create_index(op.f("ix_journal_action"), "journal", ["action"])
    op.create_index(op.f("ix_journal_target"), "journal", ["target"])
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    elif dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS journal_append_only ON journal")
        op.execute("DROP FUNCTION IF EXISTS veilleur_journal_append_only()")
    op.drop_table("journal")  # SQLite drops the table's triggers with it
