"""SQLAlchemy Core metadata of the ledger schema: the single source Alembic migrations are written against.

Money and quantities are NUMERIC (never float). Cash accounts may never hold negative available cash
or shares: the account type is carried into balance and holding rows (kept honest by a composite
foreign key) so that plain CHECK constraints can enforce it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    TextClause,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.types import UserDefinedType

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

MONEY = Numeric(20, 4)
QTY = Numeric(20, 4)
PRICE = Numeric(20, 6)


def _now() -> TextClause:
    return text("now()")


accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("account_type", String(8), nullable=False),
    Column("currency", String(3), nullable=False, server_default="USD"),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("owner_name", Text, nullable=False),
    Column("short_selling_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("kill_switch", Boolean, nullable=False, server_default=text("false")),
    Column("margin_call_since", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    CheckConstraint("account_type IN ('cash', 'margin')", name="account_type"),
    CheckConstraint("status IN ('active', 'suspended', 'closed')", name="status"),
    UniqueConstraint("account_id", "account_type", name="uq_accounts_id_type"),
    # self-trade prevention at the exchange (migration 0019, ADR 025)
    Column("stp_mode", String(16), nullable=False, server_default="cancel_newest"),
    CheckConstraint("stp_mode IN ('cancel_newest', 'cancel_oldest', 'cancel_both')", name="stp_mode"),
)

cash_balances = Table(
    "cash_balances",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("account_type", String(8), nullable=False),
    Column("amount", MONEY, nullable=False, server_default="0"),
    Column("blocked", MONEY, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    ForeignKeyConstraint(
        ["account_id", "account_type"], ["accounts.account_id", "accounts.account_type"],
        name="fk_cash_balances_account",
    ),
    CheckConstraint("blocked >= 0", name="blocked_non_negative"),
    CheckConstraint("account_type = 'margin' OR amount - blocked >= 0", name="cash_available_non_negative"),
)

holdings = Table(
    "holdings",
    metadata,
    Column("account_id", String(32), primary_key=True),
    Column("symbol", String(16), primary_key=True),
    Column("account_type", String(8), nullable=False),
    Column("qty", QTY, nullable=False, server_default="0"),
    Column("blocked_qty", QTY, nullable=False, server_default="0"),
    Column("avg_cost", PRICE, nullable=False, server_default="0"),
    # book value of the position (its securities:<SYMBOL> journal balance); avg_cost = cost_basis / |qty|
    Column("cost_basis", MONEY, nullable=False, server_default="0"),
    Column("realized_pnl", MONEY, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    ForeignKeyConstraint(
        ["account_id", "account_type"], ["accounts.account_id", "accounts.account_type"],
        name="fk_holdings_account",
    ),
    CheckConstraint("blocked_qty >= 0", name="blocked_qty_non_negative"),
    CheckConstraint("cost_basis >= 0", name="cost_basis_non_negative"),
    CheckConstraint("account_type = 'margin' OR qty - blocked_qty >= 0", name="qty_available_non_negative"),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.account_id"), nullable=False),
    Column("session_id", String(64), nullable=False),  # the FIX session (SenderCompID) or "api:<token>"
    Column("cl_ord_id", String(64), nullable=False),
    Column("orig_cl_ord_id", String(64)),
    Column("symbol", String(16), nullable=False),
    Column("side", String(12), nullable=False),
    Column("ord_type", String(12), nullable=False),
    Column("time_in_force", String(12), nullable=False),  # 12 since 0019 (at_the_close)
    Column("qty", QTY, nullable=False),
    Column("price", PRICE),
    Column("stop_px", PRICE),
    Column("status", String(20), nullable=False),
    Column("cum_qty", QTY, nullable=False, server_default="0"),
    Column("leaves_qty", QTY, nullable=False),
    Column("avg_px", PRICE, nullable=False, server_default="0"),
    Column("reserved_cash", MONEY, nullable=False, server_default="0"),
    Column("reserved_qty", QTY, nullable=False, server_default="0"),
    Column("venue_order_id", String(64)),
    Column("reject_reason", Integer),
    Column("text", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    # order path (migration 0003): the ClOrdID in force, the pending cancel/replace, venue request count
    Column("current_cl_ord_id", String(64)),
    Column("pending_cl_ord_id", String(64)),
    Column("pending_qty", QTY),
    Column("pending_price", PRICE),
    Column("pending_extra_cash", MONEY, nullable=False, server_default="0"),
    Column("pending_extra_qty", QTY, nullable=False, server_default="0"),
    Column("traded_notional", Numeric, nullable=False, server_default="0"),
    Column("venue_requests", Integer, nullable=False, server_default="0"),
    # 0025: the number of our request the venue knows the order by (0: the order id); a request's OrigClOrdID
    Column("venue_in_force", Integer, nullable=False, server_default="0"),
    # h7 halts/margin (migration 0008): who entered the order (a column, never a ClOrdID prefix)
    Column("origin", String(8), nullable=False, server_default="client"),  # client | system
    Column("origin_reason", Text),
    Column("margin_call_id", String(32)),  # a liquidation order: the margin call it was sent for
    CheckConstraint("origin IN ('client', 'system')", name="origin"),
    Index("ix_orders_system_working", "account_id", postgresql_where=text(
        "origin = 'system' AND status IN ('pending_new', 'new', 'partially_filled', 'pending_cancel', "
        "'pending_replace')")),
    CheckConstraint("side IN ('buy', 'sell', 'sell_short')", name="side"),
    CheckConstraint("ord_type IN ('market', 'limit', 'stop', 'stop_limit', 'pegged')", name="ord_type"),
    CheckConstraint("time_in_force IN ('day', 'gtc', 'ioc', 'fok', 'at_the_close')", name="time_in_force"),
    CheckConstraint("qty > 0", name="qty_positive"),
    CheckConstraint("cum_qty >= 0 AND leaves_qty >= 0 AND cum_qty <= qty", name="quantities"),
    CheckConstraint("reserved_cash >= 0 AND reserved_qty >= 0", name="reservations_non_negative"),
    Index("ix_orders_account_created", "account_id", "created_at"),
    Index("ix_orders_open", "account_id", postgresql_where=text(
        "status IN ('pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace')")),
    # ix_orders_working (order_id WHERE open) dropped by 0021: the same predicate as ix_orders_open
)

executions = Table(
    "executions",
    metadata,
    Column("exec_id", String(64), primary_key=True),
    Column("venue_exec_id", String(64), unique=True),  # the exchange's ExecID: exactly-once key
    Column("order_id", String(32), ForeignKey("orders.order_id"), nullable=False),
    Column("account_id", String(32), ForeignKey("accounts.account_id"), nullable=False),
    Column("exec_type", String(20), nullable=False),
    Column("ord_status", String(20), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(12), nullable=False),
    Column("last_qty", QTY, nullable=False, server_default="0"),
    Column("last_px", PRICE, nullable=False, server_default="0"),
    Column("cum_qty", QTY, nullable=False),
    Column("leaves_qty", QTY, nullable=False),
    Column("avg_px", PRICE, nullable=False),
    Column("transact_time", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    # the client ExecutionReport as sent (migration 0003): seq orders them for resend after a crash
    Column("seq", BigInteger, Identity(), nullable=False),
    Column("session_id", String(64)),
    Column("fix_fields", JSONB),  # no planner statistics (SET STATISTICS 0, migration 0024): ANALYZE skips it
    UniqueConstraint("seq", name="uq_executions_seq"),
    Index("ix_executions_session_seq", "session_id", "seq"),
    Index("ix_executions_account_created", "account_id", "created_at"),
    Index("ix_executions_order", "order_id"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("entry_id", BigInteger, Identity(), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.account_id"), nullable=False),
    Column("kind", String(16), nullable=False),  # deposit, withdrawal, fill
    Column("reference", String(128), nullable=False),  # idempotency key, exec id, ...
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    # unique (entry_id alone is): the target of journal_lines' composite foreign key (migration 0023)
    Index("ix_journal_entries_account", "account_id", "entry_id", unique=True),
    # one entry per (account, kind, reference): a deposit key or an exec id can never post twice
    UniqueConstraint("account_id", "kind", "reference", name="uq_journal_entries_reference"),
)

journal_lines = Table(
    "journal_lines",
    metadata,
    Column("line_id", BigInteger, Identity(), primary_key=True),
    Column("entry_id", BigInteger, nullable=False),
    Column("account_id", String(32), nullable=False),
    # chart of accounts: 'cash:USD', 'securities:AAPL', 'external:bank', 'equity:realized_pnl', ...
    Column("ledger_account", String(64), nullable=False),
    Column("debit", MONEY, nullable=False, server_default="0"),
    Column("credit", MONEY, nullable=False, server_default="0"),
    Column("quantity", QTY, nullable=False, server_default="0"),  # share movement for securities lines
    CheckConstraint("debit >= 0 AND credit >= 0 AND NOT (debit > 0 AND credit > 0)", name="one_sided"),
    # one referential check per line (migration 0023): the line's entry, under the entry's own account (that
    # account is the entry's foreign key); the balance check is a statement trigger with transition tables
    ForeignKeyConstraint(["account_id", "entry_id"], ["journal_entries.account_id", "journal_entries.entry_id"],
                         name="fk_journal_lines_entry"),
    Index("ix_journal_lines_entry", "entry_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(96), primary_key=True),  # e.g. "withdrawal:<account_id>"
    Column("key", String(128), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
)


class Xid8(UserDefinedType[str]):
    """PostgreSQL's 64-bit transaction id (SQLAlchemy has no type for it)."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "XID8"


outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("event_type", String(48), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("account_id", String(32)),
    Column("payload", JSONB, nullable=False),  # no planner statistics (SET STATISTICS 0, migration 0024)
    Column("shipped_at", DateTime(timezone=True)),  # unused since 0022 (ADR 039): audit.outbox_shipped instead
    # the writing transaction: with seq, the shipper's order and watermark (migration 0022, ADR 039)
    Column("txid", Xid8(), nullable=False, server_default=text("pg_current_xact_id()")),
    Index("ix_outbox_txid_seq", "txid", "seq"),
)

fix_sessions = Table(
    "fix_sessions",
    metadata,
    Column("sender_comp_id", String(64), primary_key=True),  # the client's CompID
    Column("target_comp_id", String(64), nullable=False),  # ours (BROKER)
    Column("begin_string", String(16), nullable=False, server_default="FIX.4.4"),
    Column("username", String(64)),
    Column("password_hash", Text, nullable=False),  # see ledger.credentials
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    # h12-provisioning (migration 0017_provisioning): client or drop-copy, last change
    Column("kind", String(16), nullable=False, server_default="client"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    # drop copy (migration 0020_drop_copy, ADR 027): a drop-copy session that sees every account
    Column("all_accounts", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint("kind IN ('client', 'drop-copy')", name="kind"),
)

fix_session_accounts = Table(
    "fix_session_accounts",
    metadata,
    Column("sender_comp_id", String(64), ForeignKey("fix_sessions.sender_comp_id", ondelete="CASCADE"),
           primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.account_id"), primary_key=True),
    Column("is_default", Boolean, nullable=False, server_default=text("false")),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the bearer token
    Column("role", String(16), nullable=False),
    Column("label", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("revoked_at", DateTime(timezone=True)),
    # h4-rest (migration 0005_api_tokens): expiry, the operator role, the provisioning-managed admin token
    Column("expires_at", DateTime(timezone=True), nullable=False, server_default=text("now() + interval '90 days'")),
    Column("managed_admin", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint("role IN ('admin', 'operator', 'account', 'compliance')", name="role"),
)

api_token_accounts = Table(
    "api_token_accounts",
    metadata,
    Column("token_id", String(32), ForeignKey("api_tokens.token_id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.account_id"), primary_key=True),
)


# Order path (migration 0003) ------------------------------------------------------------------------

client_report_marks = Table(
    "client_report_marks",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),  # every report up to it reached the FIX store
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
)

order_cl_ord_ids = Table(
    "order_cl_ord_ids",  # every ClOrdID a session used (new, cancel, replace) and the order it names
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("cl_ord_id", String(64), primary_key=True),
    Column("trading_day", Date, primary_key=True),  # h5 (0006): unique per session and trading day
    Column("order_id", String(32), ForeignKey("orders.order_id"), nullable=False),
    Column("kind", String(8), nullable=False),
    CheckConstraint("kind IN ('new', 'cancel', 'replace')", name="kind"),
)

trading_controls = Table(
    "trading_controls",  # 'kill_switch' (global), 'halt' (market-wide)
    metadata,
    Column("name", String(32), primary_key=True),
    Column("engaged", Boolean, nullable=False, server_default=text("false")),
    Column("reason", Text, nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
)

fix_inbound_marks = Table(
    "fix_inbound_marks",  # last inbound MsgSeqNum of a FIX session whose message is committed
    metadata,
    Column("session_key", String(128), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    # h5 (0006): the QuickFIX store's creation time (a new one each session day and on 141=Y)
    Column("session_start", DateTime(timezone=True), primary_key=True,
           server_default=text("'1970-01-01 00:00:00+00'")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
)


# h5 session days (migration 0006) -------------------------------------------------------------------

# a ClOrdID is unique per session and trading day (order_cl_ord_ids), no longer per session for ever
Index("ix_orders_session_cl_ord_id", orders.c.session_id, orders.c.cl_ord_id)

unbooked_fills = Table(
    "unbooked_fills",  # exchange fills the ledger refused, until booked or written off by an operator
    metadata,
    Column("venue_exec_id", String(64), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.order_id"), nullable=False),
    Column("account_id", String(32), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(12), nullable=False),
    Column("last_qty", QTY, nullable=False),
    Column("last_px", PRICE, nullable=False),
    Column("venue_order_id", String(64)),
    Column("error", Text, nullable=False, server_default=""),
    Column("state", String(12), nullable=False, server_default="open"),
    Column("settled_reason", Text),
    Column("settled_by", String(64)),
    Column("settled_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    CheckConstraint("state IN ('open', 'booked', 'written_off')", name="state"),
)

# h7 halts/margin (migration 0008) -------------------------------------------------------------------

market_halts = Table(
    "market_halts",  # one row per halt: circuit breaker level or operator; active while ended_at IS NULL
    metadata,
    Column("halt_id", BigInteger, Identity(), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("level", SmallInteger),
    Column("reason", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("trading_day", Date, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=_now()),
    Column("ends_at", DateTime(timezone=True)),  # automatic resume; NULL: until lifted / end of day
    Column("ended_at", DateTime(timezone=True)),
    Column("ended_by", Text),
    Column("end_reason", Text),
    CheckConstraint("kind IN ('circuit_breaker', 'operator')", name="kind"),
    CheckConstraint("kind = 'operator' OR level BETWEEN 1 AND 3", name="level"),
    Index("ix_market_halts_active", "halt_id", postgresql_where=text("ended_at IS NULL")),
)

circuit_breaker_days = Table(
    "circuit_breaker_days",  # the breaker's state per trading day (ET date): reference close, levels used
    metadata,
    Column("trading_day", Date, primary_key=True),
    Column("prev_close", Numeric(20, 6), nullable=False),
    Column("triggered", ARRAY(SmallInteger), nullable=False, server_default="{}"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
)

margin_calls = Table(
    "margin_calls",  # a margin call has an id; liquidation attempts are counted and spaced per call
    metadata,
    Column("call_id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.account_id"), nullable=False),
    Column("status", String(16), nullable=False),  # open | liquidating | met
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("equity", MONEY),
    Column("requirement", MONEY),
    Column("valuation", Text, nullable=False, server_default="ok"),  # or "valuation unavailable: ..."
    Column("valued_at", DateTime(timezone=True)),
    Column("liquidation_attempts", Integer, nullable=False, server_default="0"),
    Column("last_liquidation_at", DateTime(timezone=True)),
    CheckConstraint("status IN ('open', 'liquidating', 'met')", name="status"),
    Index("uq_margin_calls_open", "account_id", unique=True, postgresql_where=text("status <> 'met'")),
)


# h12-provisioning (migration 0017_provisioning) ------------------------------------------------------

fix_session_state = Table(
    "fix_session_state",  # what the gateway serving a session publishes every few seconds
    metadata,
    Column("sender_comp_id", String(64), primary_key=True),
    Column("gateway", Text, nullable=False),  # host:pid
    Column("backend_port", Integer, nullable=False),  # its QuickFIX acceptor (loopback)
    Column("logged_on", Boolean, nullable=False),
    Column("next_sender_seq", BigInteger),
    Column("next_target_seq", BigInteger),
    Column("last_message_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now()),
)
