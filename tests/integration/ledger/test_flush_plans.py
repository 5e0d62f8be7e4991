"""The order path's batch statements reach rows by key however large the tables grow and whatever plan the
plan cache holds (ADR 053).

PostgreSQL cannot count a jsonb document's rows (``jsonb_array_elements`` is estimated at 100), so the flush's
plain join of its order rows to ``orders`` became a hash join over a scan of the whole table once a scan
looked cheaper than 100 probes; and a plan the cache made in a fresh database's first minutes, when every table
was small, stayed cached until an ANALYZE: the order path's PostgreSQL CPU per order doubled over a
150-second run. These tests run the real statements as the gateway's pool runs them (its server settings,
PREPAREd: the same plan cache as asyncpg's), first on a database of one account and one order, then after the
tables grew tens of thousands of rows without an ANALYZE, and read the plan EXPLAIN EXECUTE really ran: with the
planner's own choice between custom and generic plans, and inside a group-commit transaction, whose setting
makes every plan generic, made once on the small tables (ADR 054)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from gateway.oms import batch, context
from gateway.oms.batch import GROUP_COMMIT_BEGIN
from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import submit
from gateway.oms.store import (
    _COLUMNS,
    _LOCK_ORDERS_AND_STATE,
    SERVER_SETTINGS,
    StoredOrder,
    _flush_sql,
    _values,
    insert_order,
)
from ledger.journal_store import Conn
from ledger.posting_batch import document
from ledger.reservations import OrderReservation

pytestmark = pytest.mark.integration
D = Decimal
_ORDERS, _ACCOUNTS = 32_000, 4_000  # past the sizes where a scan won (about 20,000 orders)
_TABLES = ("accounts", "cash_balances", "holdings", "orders", "order_cl_ord_ids", "journal_entries", "executions")


def _read(node: dict[str, Any], tables: tuple[str, ...]) -> list[tuple[str, str, float]]:
    """(table, how: an index name or a node type such as "Seq Scan", rows read) of each scan of ``tables`` in
    an EXPLAIN (ANALYZE, FORMAT JSON) plan; a bitmap heap scan counts the rows its index scans returned."""
    found: list[tuple[str, str, float]] = []
    table = node.get("Relation Name")
    if table in tables and node["Node Type"] != "ModifyTable":
        if node["Node Type"] == "Bitmap Heap Scan":
            found += [(table, child.get("Index Name", child["Node Type"]),
                       child["Actual Rows"] * child["Actual Loops"]) for child in node["Plans"]]
        else:
            found.append((table, node.get("Index Name", node["Node Type"]),
                          node["Actual Rows"] * node["Actual Loops"] + node.get("Rows Removed by Filter", 0)))
    if node["Node Type"] != "Bitmap Heap Scan":
        for child in node.get("Plans", []):
            found += _read(child, tables)
    return found


def _literal(text: str) -> str:
    assert "$d$" not in text
    return f"$d${text}$d$"


def _array(values: list[str]) -> str:  # the test's own ids: letters, digits and dashes only
    return "'{" + ",".join(values) + "}'::text[]"


async def _first_account_and_order(conn: Conn) -> StoredOrder:
    await conn.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('A0', 'cash', 'x')")
    await conn.execute("INSERT INTO cash_balances (account_id, currency, account_type, amount, blocked) "
                       "VALUES ('A0', 'USD', 'cash', 100000, 125)")
    order = submit(order_id=OrderID("T"), cl_ord_id=ClOrdID("C-T"), account_id=AccountID("A0"), symbol="AAPL",
                   side=Side.BUY, ord_type=OrdType.LIMIT, time_in_force=TimeInForce.DAY, qty=D(10),
                   price=D("12.5"))
    stored = StoredOrder(order, "CLIENT1", order.cl_ord_id, OrderReservation.for_buy(D(10), D("12.5")))
    await insert_order(conn, stored)
    return stored


async def _grow(conn: Conn) -> None:
    """A busy day's rows: accounts with cash and two holdings, orders spread over them (order ``O<n>`` of
    account ``A<n % accounts>``) with their ClOrdID claims (``C<n>``), a journal entry and a report each."""
    await conn.execute(f"INSERT INTO accounts (account_id, account_type, owner_name) SELECT 'A' || n, 'cash', 'x' "
                       f"FROM generate_series(1, {_ACCOUNTS - 1}) n")
    await conn.execute("INSERT INTO cash_balances (account_id, currency, account_type, amount, blocked) "
                       f"SELECT 'A' || n, 'USD', 'cash', 100000, 0 FROM generate_series(1, {_ACCOUNTS - 1}) n")
    await conn.execute("INSERT INTO holdings (account_id, symbol, account_type, qty) SELECT 'A' || n, s, 'cash', 5 "
                       f"FROM generate_series(0, {_ACCOUNTS - 1}) n, unnest('{{AAPL,MSFT}}'::text[]) s")
    rest = _COLUMNS.split(", ", 4)[4]  # after order_id, account_id, session_id, cl_ord_id
    await conn.execute(f"INSERT INTO orders ({_COLUMNS}) SELECT 'O' || n, 'A' || (n % {_ACCOUNTS}), session_id, "
                       f"'C' || n, {rest} FROM orders, generate_series(1, {_ORDERS}) n WHERE order_id = 'T'")
    await conn.execute("INSERT INTO order_cl_ord_ids (session_id, cl_ord_id, trading_day, order_id, kind) "
                       f"SELECT 'CLIENT1', 'C' || n, '2026-12-03', 'O' || n, 'new' "
                       f"FROM generate_series(1, {_ORDERS}) n")
    await conn.execute("INSERT INTO journal_entries (account_id, kind, reference) "
                       f"SELECT 'A' || (n % {_ACCOUNTS}), 'fill', 'X' || n FROM generate_series(1, {_ORDERS}) n")
    await conn.execute("INSERT INTO executions (exec_id, venue_exec_id, order_id, account_id, exec_type, ord_status, "
                       "symbol, side, cum_qty, leaves_qty, avg_px, transact_time) SELECT 'E' || n, 'X' || n, 'O' || n, "
                       f"'A' || (n % {_ACCOUNTS}), 'new', 'new', 'AAPL', 'buy', 0, 10, 0, now() "
                       f"FROM generate_series(1, {_ORDERS}) n")


@pytest.mark.parametrize("begin", ["BEGIN", GROUP_COMMIT_BEGIN], ids=["planner_choice", "group_commit"])
async def test_the_batch_statements_read_by_key_when_their_plans_were_cached_on_small_tables(
        db_pool: asyncpg.Pool, begin: str) -> None:
    async with db_pool.acquire() as conn:
        for name, value in SERVER_SETTINGS.items():  # as the gateway's pool sets them
            await conn.execute(f"SET {name} = '{value}'")
        for table in _TABLES:  # no ANALYZE may come in between: it would drop the cached plans
            await conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        template = await _first_account_and_order(conn)
        row = list(_values(template))

        def flush_doc(numbers: range) -> str:
            return document({"o": [[f"O{n}", f"A{n % _ACCOUNTS}", *row[2:13], "filled", *row[14:]] for n in numbers],
                             "lc": [[f"A{n % _ACCOUNTS}", "USD", D(99000), D(0)] for n in numbers]})

        statements = {  # name: (statement, parameter types, arguments on the small tables, on the grown ones)
            "flush": (_flush_sql(frozenset({"o", "lc"})), "jsonb", _literal(flush_doc(range(0, 1))),
                      _literal(flush_doc(range(5001, 5021)))),
            "lock_and_state": (_LOCK_ORDERS_AND_STATE, "text[], text[], text[]",
                               f"{_array(['A0'])}, {_array(['T'])}, {_array(['X-new'])}",
                               f"{_array(['A1', 'A2'])}, {_array(['O4001', 'O8002'])}, "
                               f"{_array(['X4001', 'X8002', 'X-new'])}"),
            "new_orders": (context._BATCH, "text[], text, text[], date",
                           f"{_array(['A0'])}, 'CLIENT1', {_array(['C-new'])}, '2026-12-03'",
                           f"{_array(['A1', 'A2'])}, 'CLIENT1', {_array(['C4001', 'C-new'])}, '2026-12-03'"),
            "lock_accounts": (batch._LOCK_MANY, "text[]", _array(["A0"]), _array(["A1", "A2"])),
        }
        for name, (sql, types, small, _) in statements.items():
            await conn.execute(f"PREPARE {name} ({types}) AS {sql}")
            for _ in range(8):  # the plan cache settles on a plan within five runs
                await conn.execute(f"{begin}; EXECUTE {name} ({small}); COMMIT")
        await _grow(conn)
        reads = {}
        for name, (_, _, _, grown) in statements.items():
            await conn.execute(begin)
            try:
                plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE {name} ({grown})")
            finally:
                await conn.execute("COMMIT")  # the flush's rows stay (counted below)
            reads[name] = _read(json.loads(plan)[0]["Plan"], _TABLES)
        filled = await conn.fetchval("SELECT count(*) FROM orders WHERE status = 'filled'")
    assert filled == 20  # the flush still updates exactly its document's orders
    for name, scans in reads.items():
        assert scans, name
        # each statement reads its own few rows through an index, never a table or a whole index
        assert all(how != "Seq Scan" and rows <= 100 for _, how, rows in scans), (name, scans)
    assert {table for table, _, _ in reads["flush"]} == {"orders", "cash_balances"}
    assert {table for table, _, _ in reads["new_orders"]} >= {"cash_balances", "holdings", "orders",
                                                             "order_cl_ord_ids"}

