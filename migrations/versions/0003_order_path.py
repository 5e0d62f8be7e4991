"""Order path: pending requests and venue routing on orders, client ExecutionReports kept for resend,
every ClOrdID a session used, trading controls (global kill switch, halt).

Merges the two 0002 heads (ledger, audit) back into one history.

Revision ID: 0003_order_path
Revises: 0002, 0002_audit
Create Date: 2026-11-21 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003_order_path"
down_revision: str | Sequence[str] | None = ("0002", "0002_audit")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QTY = sa.Numeric(20, 4)
PRICE = sa.Numeric(20, 6)
MONEY = sa.Numeric(20, 4)


def upgrade() -> None:
    # orders.cl_ord_id stays the ClOrdID the order was entered with (unique per session); the ClOrdID now
    # in force after a cancel/replace lives in current_cl_ord_id.
    op.add_column("orders", sa.Column("current_cl_ord_id", sa.String(64)))
    op.add_column("orders", sa.Column("pending_cl_ord_id", sa.String(64)))
    op.add_column("orders", sa.Column("pending_qty", QTY))
    op.add_column("orders", sa.Column("pending_price", PRICE))
    op.add_column("orders", sa.Column("pending_extra_cash", MONEY, nullable=False, server_default="0"))
    op.add_column("orders", sa.Column("pending_extra_qty", QTY, nullable=False, server_default="0"))
    op.add_column("orders", sa.Column("traded_notional", sa.Numeric, nullable=False, server_default="0"))
    op.add_column("orders", sa.Column("venue_requests", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_orders_working", "orders", ["order_id"], postgresql_where=sa.text(
        "status IN ('pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace')"))

    # Every ExecutionReport sent to a client is an executions row (in the transaction of the change it
    # reports): seq orders them for resend after a crash; fix_fields is the report as sent.
    op.add_column("executions", sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False))
    op.add_column("executions", sa.Column("session_id", sa.String(64)))
    op.add_column("executions", sa.Column("fix_fields", JSONB))
    op.create_unique_constraint("uq_executions_seq", "executions", ["seq"])
    op.create_index("ix_executions_session_seq", "executions", ["session_id", "seq"])

    op.create_table(
        "client_report_marks",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),  # every report up to it reached the FIX store
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.create_table(
        "order_cl_ord_ids",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("cl_ord_id", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(32), sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),  # new, cancel, replace
        sa.CheckConstraint("kind IN ('new', 'cancel', 'replace')", name="ck_order_cl_ord_ids_kind"),
    )
    op.create_table(
        "trading_controls",
        sa.Column("name", sa.String(32), primary_key=True),  # 'kill_switch', 'halt'
        sa.Column("engaged", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.execute("INSERT INTO trading_controls (name) VALUES ('kill_switch'), ('halt')")
    # The last inbound MsgSeqNum of a FIX session whose message is committed: on restart the session's
    # expected number is set back to it + 1, so what arrived but was never applied comes again by resend.
    op.create_table(
        "fix_inbound_marks",
        sa.Column("session_key", sa.String(128), primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("fix_inbound_marks")
    op.drop_table("trading_controls")
    op.drop_table("order_cl_ord_ids")
    op.drop_table("client_report_marks")
    op.drop_index("ix_executions_session_seq", "executions")
    op.drop_constraint("uq_executions_seq", "executions")
    for column in ("fix_fields", "session_id", "seq"):
        op.drop_column("executions", column)
    op.drop_index("ix_orders_working", "orders")
    for column in ("venue_requests", "traded_notional", "pending_extra_qty", "pending_extra_cash",
                   "pending_price", "pending_qty", "pending_cl_ord_id", "current_cl_ord_id"):
        op.drop_column("orders", column)
