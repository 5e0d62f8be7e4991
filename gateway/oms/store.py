"""asyncpg order repository: orders, the ClOrdIDs a session used, client ExecutionReports, controls.

Every function runs on a connection already inside the caller's transaction (the account row locked
first, see ``ledger.journal_store.lock_account``) and never commits.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdRejReason, OrdStatus, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import Order, PendingRequest
from gateway.oms.session_days import trading_day
from ledger.journal_store import Conn
from ledger.money import ZERO, quantize_price
from ledger.posting_batch import document, json_rows, state_sql, write_ctes
from ledger.reservations import CashBalance, OrderReservation

__all__ = ["SERVER_SETTINGS", "StoredOrder", "new_id"]

# The order path's connections (``Bootstrap.configure``'s pool) plan without sequential scans: each of its
# statements reaches rows by key, and a plan cached while a table was small (a fresh database's first
# minutes) kept scanning it as it grew, until an ANALYZE came; where no index applies a scan still runs (ADR 053)
SERVER_SETTINGS = {"enable_seqscan": "off"}

_OPEN = ("pending_new", "new", "partially_filled", "pending_cancel", "pending_replace")
# named literally, as the open-order partial indexes' predicate names them: a generic plan (plan_cache_mode, or
# the plan cache's own choice) cannot prove a parameter's list implies the predicate, a literal list it can
_OPEN_SQL = "status IN (" + ", ".join(f"'{s}'" for s in _OPEN) + ")"


def _fields_json(fix_fields: list[tuple[int, str]]) -> str:
    """A report's (tag, value) list as the JSON text of ``executions.fix_fields`` (orjson: a tenth of the
    standard encoder's cost; the same jsonb)."""
    return orjson.dumps(fix_fields).decode()


class _IdTails:
    """The 8 hex digits after an id's milliseconds: a counter from a random start drawn once per process (a
    forked child draws its own), not an ``os.urandom`` per id. ``os.urandom`` is a system call that releases
    the GIL, and the order path makes four ids per lifecycle on the event loop's thread, each a chance for a
    QuickFIX thread to take the GIL from it (the same reasoning as the audit event ids, ADR 037). Two ids of one
    process never share a tail within 2^32 ids; two processes (restarts, shards) share one in the same ms with
    the odds two random draws had."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._count = itertools.count(int.from_bytes(os.urandom(4), "big"))  # next() is atomic under the GIL

    def __call__(self) -> int:
        return next(self._count) & 0xFFFF_FFFF


_id_tail = _IdTails()


def new_id(prefix: str) -> str:
    """Sortable unique id: prefix + 12 hex digits of milliseconds + 8 hex digits unique within the process
    (21 characters)."""
    return f"{prefix}{time.time_ns() // 1_000_000:012x}{_id_tail():08x}"


@dataclass(frozen=True, slots=True)
class StoredOrder:
    order: Order
    session_id: str
    entry_cl_ord_id: ClOrdID  # the ClOrdID it was entered with (orders.cl_ord_id)
    reservation: OrderReservation
    pending_extra_cash: Decimal = ZERO  # blocked ahead for a pending replace that grows the order
    pending_extra_qty: Decimal = ZERO
    venue_requests: int = 0  # cancel/replace requests sent to the venue (their ClOrdIDs: <order_id>.<n>)
    # the request the venue knows the order by: the last replace it accepted (a refused request changes
    # nothing there), so the next request's OrigClOrdID (41); 0 is the order id itself
    venue_in_force: int = 0

    @property
    def venue_cl_ord_id(self) -> str:
        """The ClOrdID of our latest request to the venue (the order id before any cancel/replace)."""
        return venue_cl_ord_id(self.order.order_id, self.venue_requests)

    @property
    def venue_cl_ord_id_in_force(self) -> str:
        return venue_cl_ord_id(self.order.order_id, self.venue_in_force)


def venue_cl_ord_id(order_id: str, request: int) -> str:
    """Our ClOrdID at the venue for request ``request`` of the order (0: the order itself)."""
    return order_id if request == 0 else f"{order_id}.{request}"


_COLUMNS = (
    "order_id, account_id, session_id, cl_ord_id, current_cl_ord_id, orig_cl_ord_id, symbol, side, ord_type, "
    "time_in_force, qty, price, stop_px, status, cum_qty, leaves_qty, avg_px, reserved_cash, reserved_qty, "
    "venue_order_id, reject_reason, text, pending_cl_ord_id, pending_qty, pending_price, pending_extra_cash, "
    "pending_extra_qty, traded_notional, venue_requests, venue_in_force"
)


def from_row(row: asyncpg.Record) -> StoredOrder:
    pending = None
    if row["pending_cl_ord_id"] is not None:
        pending = PendingRequest(ClOrdID(row["pending_cl_ord_id"]), row["pending_qty"], row["pending_price"])
    order = Order(
        order_id=OrderID(row["order_id"]), cl_ord_id=ClOrdID(row["current_cl_ord_id"] or row["cl_ord_id"]),
        account_id=AccountID(row["account_id"]), symbol=row["symbol"], side=Side.from_ledger(row["side"]),
        ord_type=OrdType.from_ledger(row["ord_type"]), time_in_force=TimeInForce.from_ledger(row["time_in_force"]),
        qty=row["qty"], price=row["price"], stop_px=row["stop_px"], status=OrdStatus.from_ledger(row["status"]),
        cum_qty=row["cum_qty"], leaves_qty=row["leaves_qty"], avg_px=row["avg_px"],
        traded_notional=row["traded_notional"],
        orig_cl_ord_id=ClOrdID(row["orig_cl_ord_id"]) if row["orig_cl_ord_id"] else None,
        venue_order_id=row["venue_order_id"], pending=pending,
        reject_reason=OrdRejReason.from_fix(row["reject_reason"]) if row["reject_reason"] is not None else None,
        text=row["text"],
    )
    reservation = OrderReservation(row["leaves_qty"], row["reserved_cash"], row["reserved_qty"])
    return StoredOrder(order, row["session_id"], ClOrdID(row["cl_ord_id"]), reservation,
                       row["pending_extra_cash"], row["pending_extra_qty"], row["venue_requests"],
                       row["venue_in_force"])


def _values(s: StoredOrder) -> tuple[Any, ...]:
    o, p = s.order, s.order.pending
    return (
        o.order_id, o.account_id, s.session_id, s.entry_cl_ord_id, o.cl_ord_id, o.orig_cl_ord_id, o.symbol,
        o.side.ledger, o.ord_type.ledger, o.time_in_force.ledger, o.qty, o.price, o.stop_px, o.status.ledger,
        o.cum_qty, o.leaves_qty, quantize_price(o.avg_px), s.reservation.cash, s.reservation.shares,
        o.venue_order_id, o.reject_reason.value if o.reject_reason is not None else None, o.text,
        p.cl_ord_id if p else None, p.qty if p else None, p.price if p else None, s.pending_extra_cash,
        s.pending_extra_qty, o.traded_notional, s.venue_requests, s.venue_in_force,
    )


_NAMES = [c.strip() for c in _COLUMNS.split(",")]
_N = len(_NAMES)  # the order row's parameters come first; a statement's own follow from $<_N + 1>


async def insert_order(conn: Conn, stored: StoredOrder) -> None:
    placeholders = ", ".join(f"${i}" for i in range(1, _N + 1))
    await conn.execute(f"INSERT INTO orders ({_COLUMNS}) VALUES ({placeholders})", *_values(stored))


_SAVE = ("UPDATE orders SET " + ", ".join(f"{name} = ${i}" for i, name in enumerate(_NAMES, start=1) if i > 1)
         + ", updated_at = now() WHERE order_id = $1")


_ENTER = (
    f"WITH o AS (INSERT INTO orders ({_COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, _N + 1))}) "
    "RETURNING order_id), "
    f"c AS (UPDATE cash_balances SET amount = ${_N + 4}, blocked = ${_N + 5}, updated_at = now() "
    f"WHERE ${_N + 3}::text IS NOT NULL AND account_id = $2 AND currency = ${_N + 3}), "
    "k AS (INSERT INTO order_cl_ord_ids (session_id, cl_ord_id, trading_day, order_id, kind) "
    f"SELECT $3, $4, ${_N + 6}::date, o.order_id, 'new' FROM o ON CONFLICT DO NOTHING) "
    "INSERT INTO executions (exec_id, venue_exec_id, order_id, account_id, exec_type, ord_status, symbol, side, "
    "last_qty, last_px, cum_qty, leaves_qty, avg_px, transact_time, session_id, fix_fields) "
    f"SELECT ${_N + 1}::text, NULL, o.order_id, $2, 'pending_new', $14, $7, $8, 0, 0, $15, $16, $17, now(), $3, "
    f"${_N + 2}::jsonb FROM o RETURNING seq"
)


async def enter_order(conn: Conn, stored: StoredOrder, exec_id: str, fix_fields: list[tuple[int, str]],
                      cash: CashBalance | None = None, day: date | None = None) -> int:
    """A new order in one round trip: its row, its ClOrdID claim ('new', on trading day ``day``: today's
    session day when not given), its PendingNew client report
    (``executions``) and, if given, the account's cash row with the order's block (``cash_after_block``);
    returns the report's ``seq``."""
    seq: int = await conn.fetchval(_ENTER, *_values(stored), exec_id, _fields_json(fix_fields),
                                   cash.currency if cash else None, cash.cash if cash else None,
                                   cash.blocked if cash else None, day or trading_day(datetime.now(UTC)))
    return seq


async def save_order(conn: Conn, stored: StoredOrder) -> None:
    await conn.execute(_SAVE, *_values(stored))


async def save_orders(conn: Conn, stored: list[StoredOrder]) -> None:
    """Several order rows (already locked by this transaction) in one pipelined round trip."""
    await conn.executemany(_SAVE, [_values(s) for s in stored])


async def lock_order_seen(conn: Conn, order_id: str, venue_exec_id: str | None) -> tuple[StoredOrder | None, bool]:
    """Lock the order and, in the same round trip, whether the venue ExecID was already applied."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS}, EXISTS (SELECT 1 FROM executions WHERE venue_exec_id = $2) AS seen "
        "FROM orders WHERE order_id = $1 FOR UPDATE OF orders", order_id, venue_exec_id)
    return (from_row(row), bool(row["seen"]) and venue_exec_id is not None) if row is not None else (None, False)


async def lock_order(conn: Conn, order_id: str) -> StoredOrder | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM orders WHERE order_id = $1 FOR UPDATE", order_id)
    return from_row(row) if row is not None else None


async def load_order(conn: Conn | asyncpg.Pool, order_id: str) -> StoredOrder | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM orders WHERE order_id = $1", order_id)
    return from_row(row) if row is not None else None


async def find_by_cl_ord_id(conn: Conn | asyncpg.Pool, session_id: str, cl_ord_id: str, since: date = date.min,
                            ) -> tuple[StoredOrder, str] | None:
    """The session's order that ClOrdID names (entered with it, or a cancel/replace of it) and the kind: the
    latest trading day's, on ``since`` or later (ClOrdIDs are unique per session and trading day)."""
    row = await conn.fetchrow(
        f"SELECT k.kind, {', '.join('o.' + c.strip() for c in _COLUMNS.split(','))} "
        "FROM order_cl_ord_ids k JOIN orders o USING (order_id) WHERE k.session_id = $1 AND k.cl_ord_id = $2 "
        "AND k.trading_day >= $3 ORDER BY k.trading_day DESC LIMIT 1",
        session_id, cl_ord_id, since,
    )
    return (from_row(row), row["kind"]) if row is not None else None


async def claim_cl_ord_id(conn: Conn, session_id: str, cl_ord_id: str, order_id: str, kind: str,
                          day: date | None = None) -> bool:
    """Record that the session used ``cl_ord_id`` on trading day ``day`` (today's when not given); False when it
    already had that day."""
    done = await conn.fetchval(
        "INSERT INTO order_cl_ord_ids (session_id, cl_ord_id, trading_day, order_id, kind) "
        "VALUES ($1, $2, $5, $3, $4) ON CONFLICT DO NOTHING RETURNING true", session_id, cl_ord_id, order_id, kind,
        day or trading_day(datetime.now(UTC)))
    return bool(done)


async def insert_execution(conn: Conn, *, exec_id: str, venue_exec_id: str | None, stored: StoredOrder,
                           exec_type: str, last_qty: Decimal, last_px: Decimal, fix_fields: list[tuple[int, str]],
                           ) -> int | None:
    """Record a client ExecutionReport; None when ``venue_exec_id`` was already applied (a redelivery)."""
    o = stored.order
    seq: int | None = await conn.fetchval(
        "INSERT INTO executions (exec_id, venue_exec_id, order_id, account_id, exec_type, ord_status, symbol, "
        "side, last_qty, last_px, cum_qty, leaves_qty, avg_px, transact_time, session_id, fix_fields) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now(), $14, $15::jsonb) "
        "ON CONFLICT (venue_exec_id) DO NOTHING RETURNING seq",
        exec_id, venue_exec_id, o.order_id, o.account_id, exec_type, o.status.ledger, o.symbol, o.side.ledger,
        last_qty, last_px, o.cum_qty, o.leaves_qty, quantize_price(o.avg_px), stored.session_id,
        _fields_json(fix_fields),
    )
    return seq


def execution_row(*, exec_id: str, venue_exec_id: str | None, stored: StoredOrder, exec_type: str,
                  last_qty: Decimal, last_px: Decimal, fix_fields: list[tuple[int, str]]) -> tuple[Any, ...]:
    """A client ExecutionReport's ``executions`` row (its FIX fields as the list), for ``flush_batch`` and
    ``insert_executions``."""
    o = stored.order
    return (exec_id, venue_exec_id, o.order_id, o.account_id, exec_type, o.status.ledger, o.symbol, o.side.ledger,
            last_qty, last_px, o.cum_qty, o.leaves_qty, quantize_price(o.avg_px), stored.session_id, fix_fields)


async def insert_executions(conn: Conn, rows: list[tuple[Any, ...]]) -> dict[str, int]:
    """Several client ExecutionReports (``execution_row``s) in one round trip, in the given order; exec id ->
    seq. A row whose ``venue_exec_id`` was already applied is left out (and has no seq)."""
    return await flush_batch(conn, rows, [], [], {})


# column types of ``_COLUMNS`` (``_values``) and of a report row (``execution_row``), for set-wise writes
_TYPES = ("text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "numeric", "numeric",
          "numeric", "text", "numeric", "numeric", "numeric", "numeric", "numeric", "text", "int", "text", "text",
          "numeric", "numeric", "numeric", "numeric", "numeric", "int", "int")
_EXECUTION_COLUMNS = ("exec_id, venue_exec_id, order_id, account_id, exec_type, ord_status, symbol, side, last_qty, "
                      "last_px, cum_qty, leaves_qty, avg_px, transact_time, session_id, fix_fields")
_EXECUTION_TYPES = ("text", "text", "text", "text", "text", "text", "text", "text", "numeric", "numeric", "numeric",
                    "numeric", "numeric", "text", "jsonb")
_EXECUTION_NAMES = tuple(c.strip() for c in _EXECUTION_COLUMNS.split(",") if c.strip() != "transact_time")


def _rows_of(part: str, names: Sequence[str], types: Sequence[str], ordered: bool = False) -> str:
    return json_rows("($1::jsonb)", part, tuple(zip(names, types, strict=True)), ordered)


def _flush_sql(parts: frozenset[str]) -> str:
    """A batch's deferred writes in ONE statement (ADR 021), of only the ``parts`` it has (ADR 031: an empty
    part still costs planning and executor start-up): its client ExecutionReports (``x``: seq in the given
    order; a venue ExecID already applied is left out, as ``insert_executions``), changed order rows (``o``),
    outbox events (``b``), new order rows (``n``), ClOrdID claims (``k``) and the ledger's rows (``lc`` cash,
    ``lh`` holdings, ``j`` journal: ``ledger.posting_batch.write_ctes``). Its one parameter is a jsonb
    document of each part's rows (ADR 036); the statement returns (exec_id, seq) of ``x``."""
    ctes: list[str] = []
    if "x" in parts:
        ctes.append(
            "x AS (INSERT INTO executions (" + _EXECUTION_COLUMNS + ") "
            "SELECT u.exec_id, u.venue_exec_id, u.order_id, u.account_id, u.exec_type, u.ord_status, u.symbol, "
            "u.side, u.last_qty, u.last_px, u.cum_qty, u.leaves_qty, u.avg_px, now(), u.session_id, u.fix_fields "
            f"FROM ({_rows_of('x', _EXECUTION_NAMES, _EXECUTION_TYPES, ordered=True)}) AS u ORDER BY u.i "
            "ON CONFLICT (venue_exec_id) DO NOTHING RETURNING exec_id, seq)")
    if "o" in parts:
        ctes.append(
            "o AS (UPDATE orders SET " + ", ".join(f"{name} = u.{name}" for name in _NAMES[1:])
            + f", updated_at = now() FROM ({_rows_of('o', _NAMES, _TYPES)}) AS u "
            # the key list as well as the join: the planner takes a document for 100 rows, and a join alone
            # became a hash join over every order once a scan looked cheaper than 100 probes (ADR 053)
            "WHERE orders.order_id = u.order_id AND orders.order_id = ANY(ARRAY(SELECT r->>0 FROM "
            "jsonb_array_elements(($1::jsonb)->'o') r)))")
    if "b" in parts:
        ctes.append(
            "b AS (INSERT INTO outbox (event_id, event_type, occurred_at, account_id, payload) "
            "SELECT u.a, u.b, u.c, u.d, u.e FROM ("
            + _rows_of("b", "abcde", ("uuid", "text", "timestamptz", "text", "jsonb"), ordered=True)
            + ") AS u ORDER BY u.i)")
    if "n" in parts:
        ctes.append(f"n AS (INSERT INTO orders ({_COLUMNS}) SELECT {_COLUMNS} FROM ({_rows_of('n', _NAMES, _TYPES)}) "
                    "AS u)")
    if "k" in parts:
        ctes.append(
            "k AS (INSERT INTO order_cl_ord_ids (session_id, cl_ord_id, trading_day, order_id, kind) "
            "SELECT u.a, u.b, u.c, u.d, u.e FROM (" + _rows_of("k", "abcde", ("text", "text", "date", "text", "text"))
            + ") AS u ON CONFLICT DO NOTHING)")
    ledger = write_ctes("($1::jsonb)", journal="j" in parts, cash="lc" in parts, holdings="lh" in parts)
    if not ctes:  # the ledger's CTEs start with a comma
        ctes.append("z AS (SELECT 1)")
    final = " SELECT exec_id, seq FROM x" if "x" in parts else " SELECT NULL::text AS exec_id, 0::bigint AS seq " \
        "WHERE false"
    return "WITH " + ", ".join(ctes) + ledger + final


_FLUSH: dict[frozenset[str], str] = {}


async def flush_batch(conn: Conn, executions: list[tuple[Any, ...]], orders: list[StoredOrder],
                      events: list[tuple[Any, ...]], ledger: dict[str, list[list[Any]]],
                      new_orders: list[StoredOrder] | None = None,
                      claims: list[tuple[str, str, date, str, str]] | None = None) -> dict[str, int]:
    """Write a batch's deferred changes in one round trip: ``executions`` (``execution_row``s), ``orders``
    (rows this transaction locked), ``events`` (outbox rows: event id, type, occurred at, account, payload:
    JSON-able or an ``orjson.Fragment``), ``ledger`` (``PostingBatch.write_args``), ``new_orders`` (rows to
    insert) and ``claims`` (``order_cl_ord_ids`` rows: session, ClOrdID, trading day, order id, kind; one
    already there is kept); exec id -> seq of the reports written. The statement has only the parts with
    rows (one prepared statement per combination and connection) and one parameter, a jsonb document of
    every part's rows (ADR 036: no array parameters, whose encoding costs an ABC check per element)."""
    doc: dict[str, Any] = {}
    for name, part in (("x", executions), ("o", [_values(s) for s in orders]), ("b", events),
                       ("n", [_values(s) for s in new_orders or []]), ("k", claims)):
        if part:
            doc[name] = part
    # ledger: cash, holdings, and with fills to book the journal (else no lock on its tables)
    for name, rows in ledger.items():
        if rows:
            doc[name] = rows
    if not doc:
        return {}
    key = frozenset("j" if name in ("je", "jl", "jo") else name for name in doc)
    sql = _FLUSH.get(key)
    if sql is None:
        sql = _FLUSH[key] = _flush_sql(key)
    written = await conn.fetch(sql, document(doc))
    return {r["exec_id"]: r["seq"] for r in written}


async def lock_orders(conn: Conn, order_ids: list[str]) -> dict[str, StoredOrder]:
    """Lock several orders (in order_id order); call with their accounts locked."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM orders WHERE order_id = ANY($1::text[]) ORDER BY order_id "
                            "FOR UPDATE", order_ids)
    return {r["order_id"]: from_row(r) for r in rows}


# The orders of an exchange-report batch locked (in order_id order) and its ledger state read in ONE statement
# (``lock_orders_and_state``): the holdings to read are the locked orders' (account, symbol) pairs. Both run
# after the batch's account locks, so one snapshot serves (ADR 021: every writer of these rows holds the
# account lock; the order rows are locked all the same, as ``lock_orders`` does).
_LOCK_ORDERS_AND_STATE = (
    f"WITH o AS MATERIALIZED (SELECT {_COLUMNS} FROM orders WHERE order_id = ANY($2::text[]) ORDER BY order_id "
    "FOR UPDATE) SELECT 'o' AS k, NULL::text AS a, NULL::text AS s, NULL::numeric AS n1, NULL::numeric AS n2, "
    f"NULL::numeric AS n3, NULL::numeric AS n4, {_COLUMNS} FROM o UNION ALL "
    + state_sql("$1", "SELECT account_id, symbol FROM o WHERE account_id = ANY($1::text[])", "$3",
                ", " + ", ".join(f"NULL::{t}" for t in _TYPES)))


async def lock_orders_and_state(conn: Conn, accounts: list[str], order_ids: list[str], venue_exec_ids: list[str],
                                ) -> tuple[dict[str, StoredOrder], list[asyncpg.Record]]:
    """Lock several orders (call with their ``accounts`` locked) and read the ledger state of those accounts
    (``ledger.posting_batch.state_sql``: cash, the orders' holdings, which ``venue_exec_ids`` the journal or a
    client report already holds) in one round trip: the orders, and the state rows for ``PostingBatch.load``."""
    rows = await conn.fetch(_LOCK_ORDERS_AND_STATE, accounts, order_ids, venue_exec_ids)
    return {r["order_id"]: from_row(r) for r in rows if r["k"] == "o"}, [r for r in rows if r["k"] != "o"]


async def recorded_order_of(conn: Conn, venue_exec_id: str) -> str | None:
    """The order whose client report records this venue ExecID (None: none does)."""
    found = await conn.fetchval("SELECT order_id FROM executions WHERE venue_exec_id = $1", venue_exec_id)
    return str(found) if found is not None else None


@dataclass(frozen=True, slots=True)
class OpenExposure:
    open_orders: int
    open_buy_qty: Decimal
    open_sell_qty: Decimal


_OPEN_EXPOSURE = (
    "SELECT count(*) AS n, "
    "coalesce(sum(leaves_qty) FILTER (WHERE symbol = $2 AND side = 'buy'), 0) AS buys, "
    "coalesce(sum(leaves_qty) FILTER (WHERE symbol = $2 AND side <> 'buy'), 0) AS sells "
    f"FROM orders WHERE account_id = $1 AND {_OPEN_SQL}")
_WORKING = (f"SELECT {_COLUMNS} FROM orders WHERE {_OPEN_SQL} AND ($1::text IS NULL OR account_id = $1) "
            "ORDER BY created_at")


async def open_exposure(conn: Conn, account_id: str, symbol: str) -> OpenExposure:
    row = await conn.fetchrow(_OPEN_EXPOSURE, account_id, symbol)
    assert row is not None
    return OpenExposure(int(row["n"]), row["buys"], row["sells"])


async def working_orders(conn: Conn | asyncpg.Pool, account_id: str | None = None) -> list[StoredOrder]:
    rows = await conn.fetch(_WORKING, account_id)
    return [from_row(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Controls:
    global_kill: bool = False
    halted: bool = False
    halt_reason: str = ""


async def load_controls(conn: Conn | asyncpg.Pool) -> Controls:
    rows = {r["name"]: r for r in await conn.fetch("SELECT name, engaged, reason FROM trading_controls")}
    kill, halt = rows.get("kill_switch"), rows.get("halt")
    return Controls(bool(kill and kill["engaged"]), bool(halt and halt["engaged"]), halt["reason"] if halt else "")


def with_order(stored: StoredOrder, order: Order, **changes: Any) -> StoredOrder:
    return replace(stored, order=order, **changes)
