"""Halts and margin calls in PostgreSQL: market halts (circuit breaker levels and operator halts) with
who, why, start and end; the breaker's per-day state; margin calls with an id, their valuation state and
the liquidation attempts made for them; orders' origin (client or system), so a ClOrdID never decides it.

Revision ID: 0008_halts_margin
Revises: 0003_order_path
Create Date: 2026-12-02 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision: str = "0008_halts_margin"
down_revision: str | Sequence[str] | None = "0006_session_days"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # One row per halt. Active: ended_at IS NULL and (ends_at IS NULL or ends_at > now()); the gateway
    # closes a timed one when its window has passed (ended_at = ends_at). trading_controls 'halt' stays the
    # flag the order transaction reads, written in the same transaction as these rows.
    op.create_table(
        "market_halts",
        sa.Column("halt_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),  # circuit_breaker | operator
        sa.Column("level", sa.SmallInteger),  # breaker level 1..3 (NULL for an operator halt)
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),  # who started it
        sa.Column("trading_day", sa.Date, nullable=False),
        sa.Column("started_at", TS, nullable=False, server_default=sa.text("now()")),
        sa.Column("ends_at", TS),  # automatic resume at; NULL: until lifted (or, level 3, the day is over)
        sa.Column("ended_at", TS),
        sa.Column("ended_by", sa.Text),
        sa.Column("end_reason", sa.Text),
        sa.CheckConstraint("kind IN ('circuit_breaker', 'operator')", name="ck_market_halts_kind"),
        sa.CheckConstraint("kind = 'operator' OR level BETWEEN 1 AND 3", name="ck_market_halts_level"),
    )
    op.create_index("ix_market_halts_active", "market_halts", ["halt_id"],
                    postgresql_where=sa.text("ended_at IS NULL"))
    # The breaker's state for a trading day (ET date): the reference close and the levels already used.
    op.create_table(
        "circuit_breaker_days",
        sa.Column("trading_day", sa.Date, primary_key=True),
        sa.Column("prev_close", sa.Numeric(20, 6), nullable=False),
        sa.Column("triggered", ARRAY(sa.SmallInteger), nullable=False, server_default="{}"),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.text("now()")),
    )
    # A margin call has an id; liquidation is attempted per call, at most once per attempt window.
    op.create_table(
        "margin_calls",
        sa.Column("call_id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(32), sa.ForeignKey("accounts.account_id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),  # open | liquidating | met
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_at", TS),
        sa.Column("equity", sa.Numeric(20, 4)),
        sa.Column("requirement", sa.Numeric(20, 4)),
        sa.Column("valuation", sa.Text, nullable=False, server_default="ok"),  # or "valuation unavailable: ..."
        sa.Column("valued_at", TS),
        sa.Column("liquidation_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_liquidation_at", TS),
        sa.CheckConstraint("status IN ('open', 'liquidating', 'met')", name="ck_margin_calls_status"),
    )
    op.create_index("uq_margin_calls_open", "margin_calls", ["account_id"], unique=True,
                    postgresql_where=sa.text("status <> 'met'"))
    # Who entered an order: a client (any FIX session or token) or the system (liquidation, ...).
    op.add_column("orders", sa.Column("origin", sa.String(8), nullable=False, server_default="client"))
    op.add_column("orders", sa.Column("origin_reason", sa.Text))
    op.add_column("orders", sa.Column("margin_call_id", sa.String(32)))
    op.create_check_constraint(op.f("ck_orders_origin"), "orders", "origin IN ('client', 'system')")
    op.create_index("ix_orders_system_working", "orders", ["account_id"], postgresql_where=sa.text(
        "origin = 'system' AND status IN ('pending_new', 'new', 'partially_filled', 'pending_cancel', "
        "'pending_replace')"))


def downgrade() -> None:
    op.drop_index("ix_orders_system_working", "orders")
    op.drop_constraint(op.f("ck_orders_origin"), "orders")
    for column in ("margin_call_id", "origin_reason", "origin"):
        op.drop_column("orders", column)
    op.drop_index("uq_margin_calls_open", "margin_calls")
    op.drop_table("margin_calls")
    op.drop_table("circuit_breaker_days")
    op.drop_index("ix_market_halts_active", "market_halts")
    op.drop_table("market_halts")
