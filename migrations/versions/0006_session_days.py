"""Session days: inbound marks per FIX session day, ClOrdIDs per trading day, unbooked fills, audit spool.

* ``fix_inbound_marks`` is keyed by (session, ``session_start``): ``session_start`` is the QuickFIX store's
  creation time (QuickFIX starts a new store, with sequence numbers from 1, at each session day and on every
  141=Y reset), so recovery compares a session's expected MsgSeqNum with the mark of the same day only.
* ``order_cl_ord_ids`` gets ``trading_day``: a ClOrdID is unique per session and trading day (FIX 4.4).
* ``unbooked_fills``: exchange fills the ledger refused, until an operator books or writes them off.

Revision ID: 0006_session_days
Revises: 0003_order_path
Create Date: 2026-12-02 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_session_days"
down_revision: str | Sequence[str] | None = "0005_api_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = "'1970-01-01 00:00:00+00'"


def _drop_primary_key(table: str) -> None:
    op.execute(f"""
        DO $$ DECLARE n text; BEGIN
          SELECT conname INTO n FROM pg_constraint WHERE conrelid = '{table}'::regclass AND contype = 'p';
          IF n IS NOT NULL THEN EXECUTE format('ALTER TABLE {table} DROP CONSTRAINT %I', n); END IF;
        END $$""")


def upgrade() -> None:
    # marks written before this migration belong to no known store: recovery treats them as another day
    op.add_column("fix_inbound_marks", sa.Column("session_start", sa.DateTime(timezone=True), nullable=False,
                                                 server_default=sa.text(EPOCH)))
    op.add_column("fix_inbound_marks", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                                                 server_default=sa.text("now()")))
    _drop_primary_key("fix_inbound_marks")
    op.create_primary_key("pk_fix_inbound_marks", "fix_inbound_marks", ["session_key", "session_start"])

    op.add_column("order_cl_ord_ids", sa.Column("trading_day", sa.Date, nullable=True))
    op.execute("UPDATE order_cl_ord_ids k SET trading_day = (o.created_at AT TIME ZONE 'UTC')::date "
               "FROM orders o WHERE o.order_id = k.order_id")
    op.execute("UPDATE order_cl_ord_ids SET trading_day = DATE '1970-01-01' WHERE trading_day IS NULL")
    op.alter_column("order_cl_ord_ids", "trading_day", nullable=False)
    _drop_primary_key("order_cl_ord_ids")
    op.create_primary_key("pk_order_cl_ord_ids", "order_cl_ord_ids", ["session_id", "cl_ord_id", "trading_day"])
    # the same ClOrdID may enter another order on another trading day
    op.drop_constraint("uq_orders_session_cl_ord_id", "orders", type_="unique")
    op.create_index("ix_orders_session_cl_ord_id", "orders", ["session_id", "cl_ord_id"])

    op.create_table(
        "unbooked_fills",
        sa.Column("venue_exec_id", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(32), sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(12), nullable=False),
        sa.Column("last_qty", sa.Numeric(20, 4), nullable=False),
        sa.Column("last_px", sa.Numeric(20, 6), nullable=False),
        sa.Column("venue_order_id", sa.String(64)),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("state", sa.String(12), nullable=False, server_default="open"),
        sa.Column("settled_reason", sa.Text),
        sa.Column("settled_by", sa.String(64)),
        sa.Column("settled_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("state IN ('open', 'booked', 'written_off')", name="ck_unbooked_fills_state"),
    )


def downgrade() -> None:
    op.drop_table("unbooked_fills")
    op.drop_index("ix_orders_session_cl_ord_id", "orders")
    op.execute("DELETE FROM order_cl_ord_ids k USING orders o WHERE k.order_id = o.order_id AND EXISTS "
               "(SELECT 1 FROM orders p WHERE p.session_id = o.session_id AND p.cl_ord_id = o.cl_ord_id "
               "AND p.created_at > o.created_at)")
    op.execute("UPDATE orders o SET cl_ord_id = o.cl_ord_id || '~' || o.order_id WHERE EXISTS "
               "(SELECT 1 FROM orders p WHERE p.session_id = o.session_id AND p.cl_ord_id = o.cl_ord_id "
               "AND p.created_at > o.created_at)")
    op.create_unique_constraint("uq_orders_session_cl_ord_id", "orders", ["session_id", "cl_ord_id"])
    _drop_primary_key("order_cl_ord_ids")
    op.execute("DELETE FROM order_cl_ord_ids a USING order_cl_ord_ids b WHERE a.session_id = b.session_id "
               "AND a.cl_ord_id = b.cl_ord_id AND a.trading_day < b.trading_day")
    op.drop_column("order_cl_ord_ids", "trading_day")
    op.create_primary_key("order_cl_ord_ids_pkey", "order_cl_ord_ids", ["session_id", "cl_ord_id"])
    _drop_primary_key("fix_inbound_marks")
    op.execute("DELETE FROM fix_inbound_marks a USING fix_inbound_marks b WHERE a.session_key = b.session_key "
               "AND a.session_start < b.session_start")
    op.drop_column("fix_inbound_marks", "updated_at")
    op.drop_column("fix_inbound_marks", "session_start")
    op.create_primary_key("fix_inbound_marks_pkey", "fix_inbound_marks", ["session_key"])
