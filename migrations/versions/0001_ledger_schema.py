"""Ledger schema: accounts, balances, holdings, orders, executions, journal, outbox, FIX sessions, API tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 19:33:41.953532
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("account_type", sa.String(length=8), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("owner_name", sa.Text(), nullable=False),
        sa.Column("short_selling_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("kill_switch", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("margin_call_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("account_type IN ('cash', 'margin')", name=op.f("ck_accounts_account_type")),
        sa.CheckConstraint("status IN ('active', 'suspended', 'closed')", name=op.f("ck_accounts_status")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("account_id", "account_type", name="uq_accounts_id_type"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("label", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'account', 'compliance')", name=op.f("ck_api_tokens_role")),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "fix_sessions",
        sa.Column("sender_comp_id", sa.String(length=64), nullable=False),
        sa.Column("target_comp_id", sa.String(length=64), nullable=False),
        sa.Column("begin_string", sa.String(length=16), server_default="FIX.4.4", nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("sender_comp_id", name=op.f("pk_fix_sessions")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=96), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=48), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    op.create_index(
        "ix_outbox_unshipped", "outbox", ["seq"], unique=False, postgresql_where=sa.text("shipped_at IS NULL")
    )
    op.create_table(
        "api_token_accounts",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name=op.f("fk_api_token_accounts_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.token_id"],
            name=op.f("fk_api_token_accounts_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "account_id", name=op.f("pk_api_token_accounts")),
    )
    op.create_table(
        "cash_balances",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("account_type", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("blocked", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "account_type = 'margin' OR amount - blocked >= 0",
            name=op.f("ck_cash_balances_cash_available_non_negative"),
        ),
        sa.CheckConstraint("blocked >= 0", name=op.f("ck_cash_balances_blocked_non_negative")),
        sa.ForeignKeyConstraint(
            ["account_id", "account_type"],
            ["accounts.account_id", "accounts.account_type"],
            name="fk_cash_balances_account",
        ),
        sa.PrimaryKeyConstraint("account_id", "currency", name=op.f("pk_cash_balances")),
    )
    op.create_table(
        "fix_session_accounts",
        sa.Column("sender_comp_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name=op.f("fk_fix_session_accounts_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["sender_comp_id"],
            ["fix_sessions.sender_comp_id"],
            name=op.f("fk_fix_session_accounts_sender_comp_id_fix_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sender_comp_id", "account_id", name=op.f("pk_fix_session_accounts")),
    )
    op.create_table(
        "holdings",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("account_type", sa.String(length=8), nullable=False),
        sa.Column("qty", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("blocked_qty", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("avg_cost", sa.Numeric(precision=20, scale=6), server_default="0", nullable=False),
        sa.Column("realized_pnl", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "account_type = 'margin' OR qty - blocked_qty >= 0", name=op.f("ck_holdings_qty_available_non_negative")
        ),
        sa.CheckConstraint("blocked_qty >= 0", name=op.f("ck_holdings_blocked_qty_non_negative")),
        sa.ForeignKeyConstraint(
            ["account_id", "account_type"], ["accounts.account_id", "accounts.account_type"], name="fk_holdings_account"
        ),
        sa.PrimaryKeyConstraint("account_id", "symbol", name=op.f("pk_holdings")),
    )
    op.create_table(
        "journal_entries",
        sa.Column("entry_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name=op.f("fk_journal_entries_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_journal_entries")),
    )
    op.create_index("ix_journal_entries_account", "journal_entries", ["account_id", "entry_id"], unique=False)
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("cl_ord_id", sa.String(length=64), nullable=False),
        sa.Column("orig_cl_ord_id", sa.String(length=64), nullable=True),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=12), nullable=False),
        sa.Column("ord_type", sa.String(length=12), nullable=False),
        sa.Column("time_in_force", sa.String(length=4), nullable=False),
        sa.Column("qty", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("price", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("stop_px", sa.Numeric(precision=20, scale=6), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("cum_qty", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("leaves_qty", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("avg_px", sa.Numeric(precision=20, scale=6), server_default="0", nullable=False),
        sa.Column("reserved_cash", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("reserved_qty", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("venue_order_id", sa.String(length=64), nullable=True),
        sa.Column("reject_reason", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("ord_type IN ('market', 'limit', 'stop', 'stop_limit')", name=op.f("ck_orders_ord_type")),
        sa.CheckConstraint("side IN ('buy', 'sell', 'sell_short')", name=op.f("ck_orders_side")),
        sa.CheckConstraint("time_in_force IN ('day', 'gtc', 'ioc', 'fok')", name=op.f("ck_orders_time_in_force")),
        sa.CheckConstraint("cum_qty >= 0 AND leaves_qty >= 0 AND cum_qty <= qty", name=op.f("ck_orders_quantities")),
        sa.CheckConstraint("qty > 0", name=op.f("ck_orders_qty_positive")),
        sa.CheckConstraint(
            "reserved_cash >= 0 AND reserved_qty >= 0", name=op.f("ck_orders_reservations_non_negative")
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"], name=op.f("fk_orders_account_id_accounts")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
        sa.UniqueConstraint("session_id", "cl_ord_id", name="uq_orders_session_cl_ord_id"),
    )
    op.create_index("ix_orders_account_created", "orders", ["account_id", "created_at"], unique=False)
    op.create_index(
        "ix_orders_open",
        "orders",
        ["account_id"],
        unique=False,
        postgresql_where=sa.text(
            "status IN ('pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace')"
        ),
    )
    op.create_table(
        "executions",
        sa.Column("exec_id", sa.String(length=64), nullable=False),
        sa.Column("venue_exec_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("exec_type", sa.String(length=20), nullable=False),
        sa.Column("ord_status", sa.String(length=20), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=12), nullable=False),
        sa.Column("last_qty", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("last_px", sa.Numeric(precision=20, scale=6), server_default="0", nullable=False),
        sa.Column("cum_qty", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("leaves_qty", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("avg_px", sa.Numeric(precision=20, scale=6), nullable=False),
        sa.Column("transact_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name=op.f("fk_executions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"], name=op.f("fk_executions_order_id_orders")),
        sa.PrimaryKeyConstraint("exec_id", name=op.f("pk_executions")),
        sa.UniqueConstraint("venue_exec_id", name=op.f("uq_executions_venue_exec_id")),
    )
    op.create_index("ix_executions_account_created", "executions", ["account_id", "created_at"], unique=False)
    op.create_index("ix_executions_order", "executions", ["order_id"], unique=False)
    op.create_table(
        "journal_lines",
        sa.Column("line_id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("ledger_account", sa.String(length=64), nullable=False),
        sa.Column("debit", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("credit", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.Column("quantity", sa.Numeric(precision=20, scale=4), server_default="0", nullable=False),
        sa.CheckConstraint(
            "debit >= 0 AND credit >= 0 AND NOT (debit > 0 AND credit > 0)", name=op.f("ck_journal_lines_one_sided")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.account_id"], name=op.f("fk_journal_lines_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.entry_id"], name=op.f("fk_journal_lines_entry_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("line_id", name=op.f("pk_journal_lines")),
    )
    op.create_index("ix_journal_lines_entry", "journal_lines", ["entry_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_journal_lines_entry", table_name="journal_lines")
    op.drop_table("journal_lines")
    op.drop_index("ix_executions_order", table_name="executions")
    op.drop_index("ix_executions_account_created", table_name="executions")
    op.drop_table("executions")
    op.drop_index(
        "ix_orders_open",
        table_name="orders",
        postgresql_where=sa.text(
            "status IN ('pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace')"
        ),
    )
    op.drop_index("ix_orders_account_created", table_name="orders")
    op.drop_table("orders")
    op.drop_index("ix_journal_entries_account", table_name="journal_entries")
    op.drop_table("journal_entries")
    op.drop_table("holdings")
    op.drop_table("fix_session_accounts")
    op.drop_table("cash_balances")
    op.drop_table("api_token_accounts")
    op.drop_index("ix_outbox_unshipped", table_name="outbox", postgresql_where=sa.text("shipped_at IS NULL"))
    op.drop_table("outbox")
    op.drop_table("idempotency_keys")
    op.drop_table("fix_sessions")
    op.drop_table("api_tokens")
    op.drop_table("accounts")
