"""Outbox shipped watermark (ADR 039): the shipper records how far it shipped, not a mark per row.

Each outbox row carries the id of the top-level transaction that wrote it (``txid``, ``xid8``). The shipper
reads in ``(txid, seq)`` order and only rows of transactions older than the oldest one still running
(``pg_snapshot_xmin``): every such transaction is over, so no row can still appear below that position and
a watermark on ``(txid, seq)`` skips nothing -- a seq allocated early but committed late belongs to a
transaction the watermark has not passed yet. ``audit.outbox_shipped`` keeps one row per shipped batch
(position and time); the purge of rows shipped > 24 h ago reads it, so the spool's replay idempotence
(``uq_outbox_event_id``, ADR 010) keeps its 24 h. The per-row ``UPDATE … SET shipped_at`` (never HOT, two
index entries and a row version per event) and ``ix_outbox_unshipped`` go; ``shipped_at`` stays NULL.

Existing rows: the shipped ones get txid 1 (below any real transaction) and the watermark starts at
(1, max bigint), so they are not shipped again; the unshipped ones get this migration's transaction id.

Revision ID: 0022_outbox_watermark
Revises: 0021_order_path_rows
Create Date: 2026-12-03 06:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_outbox_watermark"
down_revision: str | Sequence[str] | None = "0021_order_path_rows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a constant default adds the column without rewriting the table; only the unshipped rows are updated
    op.execute("ALTER TABLE outbox ADD COLUMN txid xid8 NOT NULL DEFAULT '1'")
    op.execute("UPDATE outbox SET txid = pg_current_xact_id() WHERE shipped_at IS NULL")
    op.execute("ALTER TABLE outbox ALTER COLUMN txid SET DEFAULT pg_current_xact_id()")
    op.execute("CREATE INDEX ix_outbox_txid_seq ON outbox (txid, seq)")
    op.drop_index("ix_outbox_unshipped", table_name="outbox", postgresql_where=sa.text("shipped_at IS NULL"))
    op.execute(
        "CREATE TABLE audit.outbox_shipped ("
        " batch bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_outbox_shipped PRIMARY KEY,"
        " txid xid8 NOT NULL, seq bigint NOT NULL, shipped_at timestamptz NOT NULL DEFAULT now())"
    )
    op.execute("INSERT INTO audit.outbox_shipped (txid, seq) VALUES ('1', 9223372036854775807)")


def downgrade() -> None:
    op.execute(
        "UPDATE outbox SET shipped_at = w.shipped_at FROM (SELECT txid, seq, shipped_at FROM audit.outbox_shipped "
        "ORDER BY batch DESC LIMIT 1) AS w "
        "WHERE outbox.shipped_at IS NULL AND (outbox.txid, outbox.seq) <= (w.txid, w.seq)"
    )
    op.execute("DROP TABLE audit.outbox_shipped")
    op.create_index(
        "ix_outbox_unshipped", "outbox", ["seq"], unique=False, postgresql_where=sa.text("shipped_at IS NULL")
    )
    op.execute("DROP INDEX ix_outbox_txid_seq")
    op.execute("ALTER TABLE outbox DROP COLUMN txid")
