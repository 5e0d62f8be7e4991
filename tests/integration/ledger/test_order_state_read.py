"""An exchange-report batch locks its orders and reads its ledger state in one statement
(``store.lock_orders_and_state``): the orders come back locked, the state rows are exactly those of the
locked accounts and of the orders' holdings, and both exactly-once checks see what is already recorded."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import submit
from gateway.oms.store import _LOCK_ORDERS_AND_STATE, StoredOrder, insert_execution, insert_order, lock_orders_and_state
from ledger.reservations import OrderReservation

pytestmark = pytest.mark.integration
D = Decimal


async def _order(conn: asyncpg.Connection, order_id: str, account_id: str, symbol: str) -> StoredOrder:
    order = submit(order_id=OrderID(order_id), cl_ord_id=ClOrdID(f"C-{order_id}"), account_id=AccountID(account_id),
                   symbol=symbol, side=Side.BUY, ord_type=OrdType.LIMIT, time_in_force=TimeInForce.DAY, qty=D(10),
                   price=D("12.5"))
    stored = StoredOrder(order, "CLIENT1", order.cl_ord_id, OrderReservation.for_buy(D(10), D("12.5")))
    await insert_order(conn, stored)
    return stored


async def test_orders_locked_and_state_of_the_locked_accounts_in_one_read(db_pool: asyncpg.Pool) -> None:
    for account in ("A1", "A2"):
        await db_pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ($1, 'cash', 'x')",
                              account)
        await db_pool.execute("INSERT INTO cash_balances (account_id, currency, account_type, amount, blocked) "
                              "VALUES ($1, 'USD', 'cash', 1000, 125)", account)
        await db_pool.execute("INSERT INTO holdings (account_id, symbol, account_type, qty, blocked_qty, avg_cost, "
                              "cost_basis, realized_pnl) VALUES ($1, 'AAPL', 'cash', 3, 0, 10, 30, 0)", account)
    await db_pool.execute("INSERT INTO journal_entries (account_id, kind, reference) VALUES ('A1', 'fill', 'X-old'), "
                          "('A2', 'fill', 'X-a2')")
    async with db_pool.acquire() as conn:
        o1 = await _order(conn, "O1", "A1", "AAPL")
        await _order(conn, "O2", "A2", "AAPL")
        await insert_execution(conn, exec_id="E1", venue_exec_id="X-seen", stored=o1, exec_type="new",
                               last_qty=D(0), last_px=D(0), fix_fields=[(35, "8")])
        async with conn.transaction():
            # fills are checked per (account, venue ExecID): A2's entry X-a2 is not A1's
            orders, state = await lock_orders_and_state(conn, ["A1"], ["O1", "O2", "O-none"],
                                                        [("A1", "X-old"), ("A1", "X-seen"), ("A1", "X-new"),
                                                         ("A1", "X-a2")])
            assert orders["O1"] == o1 and sorted(orders) == ["O1", "O2"]
            got = sorted((r["k"], r["a"], r["s"], r["n1"], r["n2"]) for r in state)
            # only A1 is locked: its cash, the holding of its order; A2's rows are not read
            assert got == [("c", "A1", "USD", D(1000), D(125)), ("h", "A1", "AAPL", D(3), D(30)),
                           ("j", "A1", "X-old", None, None), ("x", None, "X-seen", None, None)]
            async with db_pool.acquire() as other:
                for order_id in ("O1", "O2"):  # both order rows are locked by this transaction
                    with pytest.raises(asyncpg.LockNotAvailableError):
                        await other.execute("SELECT 1 FROM orders WHERE order_id = $1 FOR UPDATE NOWAIT", order_id)


async def test_the_journal_check_probes_its_unique_key_on_a_table_never_analyzed(db_pool: asyncpg.Pool) -> None:
    """The plan must not depend on statistics: before ADR 048 an un-analyzed journal (a fresh database, or the
    first minute of a busy one) was read through the account's index, every fill entry of the account per batch."""
    await db_pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('A1', 'cash', 'x')")
    await db_pool.execute("INSERT INTO journal_entries (account_id, kind, reference) "
                          "SELECT 'A1', 'fill', 'X-' || n FROM generate_series(1, 3000) n")
    async with db_pool.acquire() as conn:
        plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + _LOCK_ORDERS_AND_STATE, ["A1"], ["O1"], ["X-7", "X-9"],
                                   ["A1", "A1"], ["X-7", "X-9"])
    scans = _scans(json.loads(plan)[0]["Plan"], "journal_entries")
    assert scans and all(index == "uq_journal_entries_reference" for index in scans), scans
    async with db_pool.acquire() as conn, conn.transaction():
        _, state = await lock_orders_and_state(conn, ["A1"], [], [("A1", "X-7"), ("A1", "X-9"), ("A1", "X-0")])
    assert sorted(r["s"] for r in state if r["k"] == "j") == ["X-7", "X-9"]


def _scans(node: dict[str, Any], table: str) -> list[str]:
    """The index (or "Seq Scan") each scan of ``table`` in an EXPLAIN JSON plan uses (a bitmap scan: its
    bitmap index scans' indexes)."""
    children = node.get("Plans", [])
    if node.get("Relation Name") == table:
        if node["Node Type"] == "Bitmap Heap Scan":
            return [name for child in children for name in _bitmap_indexes(child)]
        return [node.get("Index Name", node["Node Type"])]
    return [name for child in children for name in _scans(child, table)]


def _bitmap_indexes(node: dict[str, Any]) -> list[str]:
    own = [node["Index Name"]] if "Index Name" in node else []
    return own + [name for child in node.get("Plans", []) for name in _bitmap_indexes(child)]
