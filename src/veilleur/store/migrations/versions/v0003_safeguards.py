"""Safeguards: authorisations, access scopes and expiry dates, the unblurred-view privilege,
calibration records, statistics, operators' missed-situation reports, journal checkpoints.

The journal's DELETE trigger now lets through only entries covered by a checkpoint (a
retention purge writes the checkpoint first, in the same transaction); checkpoints themselves
are append-only.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TS = sa.DateTime(timezone=True)

PG_JOURNAL_FUNCTION = """
CREATE OR REPLACE FUNCTION veilleur_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.id <= COALESCE(
        (SELECT max(upto_id) FROM journal_checkpoints), 0) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the journal is append-only: % of entry % refused', TG_OP, OLD.id;
END
$$
"""
PG_JOURNAL_FUNCTION_0002 = """
CREATE OR REPLACE FUNCTION veilleur_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % of entry % refused', TG_OP, OLD.id;
END
$$
"""
PG_CHECKPOINT_FUNCTION = """
CREATE FUNCTION veilleur_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'journal checkpoints are append-only: % refused', TG_OP;
END
$$
"""
PG_CHECKPOINT_TRIGGER = """
CREATE TRIGGER journal_checkpoints_append_only BEFORE UPDATE OR DELETE ON journal_checkpoints
FOR EACH ROW EXECUTE FUNCTION veilleur_checkpoints_append_only()
"""
SQLITE_JOURNAL_DELETE = """
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
WHEN OLD.id > COALESCE((SELECT max(upto_id) FROM journal_checkpoints), 0)
BEGIN
    SELECT RAISE(ABORT, 'the journal is append-only: DELETE refused');
END
"""
SQLITE_JOURNAL_DELETE_0002 = """
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN
    SELECT RAISE(ABORT, 'the journal is append-only: DELETE refused');
END
"""
SQLITE_CHECKPOINT_TRIGGERS = [
    f"""
CREATE TRIGGER journal_checkpoints_no_{name.lower()} BEFORE {name} ON journal_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'journal checkpoints are append-only: {name} refused');
END
"""
    for name in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("service", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("training_expires_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("habilitation_expires_on", sa.Date(), nullable=True))
        batch.add_column(
            sa.Column("may_view_unblurred", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index(batch.f("ix_users_service"), ["service"])
    with op.batch_alter_table("cameras") as batch:
        batch.add_column(
            sa.Column("services", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )

    op.create_table(
        "authorisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("controller", sa.String(length=200), nullable=False),
        sa.Column("rights_contact", sa.String(length=300), nullable=False),
        sa.Column("served_kind", sa.String(length=32), nullable=False),
        sa.Column("served_name", sa.String(length=200), nullable=False),
        sa.Column("perimeter", sa.Text(), nullable=False),
        sa.Column("cameras", sa.JSON(), nullable=False),
        sa.Column("situations", sa.JSON(), nullable=False),
        sa.Column("recipient_services", sa.JSON(), nullable=False),
        sa.Column("starts_at", UTC_TS, nullable=False),
        sa.Column("ends_at", UTC_TS, nullable=False),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("renews_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", UTC_TS, nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "served_kind IN ('sporting_event', 'recreational_event', 'cultural_event', "
            "'transport_network')",
            name=op.f("ck_authorisations_served_kind"),
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_authorisations_bounds")),
        sa.ForeignKeyConstraint(
            ["renews_id"],
            ["authorisations.id"],
            name=op.f("fk_authorisations_renews_id_authorisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authorisations")),
    )
    op.create_index(op.f("ix_authorisations_reference"), "authorisations", ["reference"])
    op.create_index(op.f("ix_authorisations_starts_at"), "authorisations", ["starts_at"])
    op.create_index(op.f("ix_authorisations_ends_at"), "authorisations", ["ends_at"])

    op.create_table(
        "calibration_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("situation", sa.String(length=32), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=True),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.Column("bbox", sa.JSON(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("config_version", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", UTC_TS, nullable=False),
        sa.Column("snapshot_path", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibration_records")),
    )
    for column in ("situation", "camera", "occurred_at"):
        op.create_index(op.f(f"ix_calibration_records_{column}"), "calibration_records", [column])

    op.create_table(
        "statistics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", UTC_TS, nullable=False),
        sa.Column("bucket_s", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "metric IN ('zone_entries', 'line_crossings', 'occupancy_mean', 'occupancy_max', "
            "'density')",
            name=op.f("ck_statistics_metric"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statistics")),
        sa.UniqueConstraint(
            "camera",
            "bucket_start",
            "metric",
            "subject",
            "direction",
            name="uq_statistics_bucket",
        ),
    )
    op.create_index(op.f("ix_statistics_camera"), "statistics", ["camera"])
    op.create_index(op.f("ix_statistics_bucket_start"), "statistics", ["bucket_start"])

    op.create_table(
        "missed_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("situation", sa.String(length=32), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", UTC_TS, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TS, nullable=False),
        sa.CheckConstraint("length(situation) > 0", name=op.f("ck_missed_reports_situation")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_missed_reports_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_missed_reports")),
    )
    for column in ("situation", "camera", "occurred_at", "user_id"):
        op.create_index(op.f(f"ix_missed_reports_{column}"), "missed_reports", [column])

    op.create_table(
        "journal_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upto_id", sa.Integer(), nullable=False),
        sa.Column("upto_hash", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("at", UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_checkpoints")),
        sa.UniqueConstraint("upto_id", name=op.f("uq_journal_checkpoints_upto_id")),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_JOURNAL_FUNCTION)
        op.execute(PG_CHECKPOINT_FUNCTION)
        op.execute(PG_CHECKPOINT_TRIGGER)
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER journal_no_delete")
        op.execute(SQLITE_JOURNAL_DELETE)
        for statement in SQLITE_CHECKPOINT_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_JOURNAL_FUNCTION_0002)
        op.execute("DROP TRIGGER IF EXISTS journal_checkpoints_append_only ON journal_checkpoints")
        op.execute("DROP FUNCTION IF EXISTS veilleur_checkpoints_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER journal_no_delete")
        op.execute(SQLITE_JOURNAL_DELETE_0002)
    op.drop_table("journal_checkpoints")
    op.drop_table("missed_reports")
    op.drop_table("statistics")
    op.drop_table("calibration_records")
    op.drop_table("authorisations")
    with op.batch_alter_table("cameras") as batch:
        batch.drop_column("services")
    with op.batch_alter_table("users") as batch:
        batch.drop_index(batch.f("ix_users_service"))
        batch.drop_column("may_view_unblurred")
        batch.drop_column("habilitation_expires_on")
        batch.drop_column("training_expires_on")
        batch.drop_column("service")
