"""An exchange-report batch locks its orders and reads its ledger state in one statement
(``store.lock_orders_and_state``): the orders come back locked, the state rows are exactly those of the
locked accounts and of the orders' holdings, and both exactly-once checks see what is already recorded."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from gateway.oms.batch import GROUP_COMMIT_BEGIN
from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import submit
from gateway.oms.store import (
    _LOCK_ORDERS_AND_STATE,
    SERVER_SETTINGS,
    StoredOrder,
    insert_execution,
    insert_order,
    lock_orders_and_state,
)
from ledger.journal_store import Conn
from ledger.reservations import OrderReservation

pytestmark = pytest.mark.integration
D = Decimal


async def _order(conn: Conn, order_id: str, account_id: str, symbol: str) -> StoredOrder:
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
    await db_pool.execute("INSERT INTO journal_entries (account_id, kind, reference) VALUES ('A1', 'fill', 'X-old')")
    async with db_pool.acquire() as conn:
        o1 = await _order(conn, "O1", "A1", "AAPL")
        await _order(conn, "O2", "A2", "AAPL")
        await insert_execution(conn, exec_id="E1", venue_exec_id="X-seen", stored=o1, exec_type="new",
                               last_qty=D(0), last_px=D(0), fix_fields=[(35, "8")])
        async with conn.transaction():
            orders, state = await lock_orders_and_state(conn, ["A1"], ["O1", "O2", "O-none"],
                                                        ["X-old", "X-seen", "X-new"])
            assert orders["O1"] == o1 and sorted(orders) == ["O1", "O2"]
            got = sorted((r["k"], r["a"], r["s"], r["n1"], r["n2"]) for r in state)
            # only A1 is locked: its cash, the holding of its order; A2's rows are not read
            assert got == [("c", "A1", "USD", D(1000), D(125)), ("h", "A1", "AAPL", D(3), D(30)),
                           ("j", "A1", "X-old", None, None), ("x", None, "X-seen", None, None)]
            async with db_pool.acquire() as other:
                for order_id in ("O1", "O2"):  # both order rows are locked by this transaction
                    with pytest.raises(asyncpg.LockNotAvailableError):
                        await other.execute("SELECT 1 FROM orders WHERE order_id = $1 FOR UPDATE NOWAIT", order_id)



@pytest.mark.parametrize("gateway_settings", [False, True], ids=["default_planner", "group_commit"])
async def test_the_state_read_stays_a_probe_while_a_fresh_journal_grows(db_pool: asyncpg.Pool,
                                                                        gateway_settings: bool) -> None:
    """A busy first hour: the gateway's connection runs the state read (a prepared statement) batch after batch
    while the journal grows from empty, before autovacuum's first ANALYZE; PostgreSQL soon caches a generic plan
    for it. That plan must still probe the journal's unique key, not read the journal: the per-pair join of ADR
    049 got a cached plan that scanned every entry, and the order path's PostgreSQL CPU grew with the journal
    (ADR 051). A PREPAREd statement goes through the same plan cache as asyncpg's, and EXPLAIN EXECUTE shows
    the plan it really runs. Once with PostgreSQL's default planner, once as the gateway runs it: the pool's
    settings, in a group-commit transaction (a generic plan from the first batch, on an empty journal)."""
    begin = GROUP_COMMIT_BEGIN if gateway_settings else "BEGIN"
    accounts = [f"A{n}" for n in range(1, 9)]
    for account in accounts:
        await db_pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ($1, 'cash', 'x')",
                              account)
        await db_pool.execute("INSERT INTO cash_balances (account_id, currency, account_type, amount, blocked) "
                              "VALUES ($1, 'USD', 'cash', 1000, 0)", account)

    def text_array(values: list[str]) -> str:  # the test's own ids: letters, digits and dashes only
        return "'{" + ",".join(values) + "}'::text[]"

    async with db_pool.acquire() as conn:
        if gateway_settings:
            for name, value in SERVER_SETTINGS.items():
                await conn.execute(f"SET {name} = '{value}'")
        await conn.execute("PREPARE state_read AS " + _LOCK_ORDERS_AND_STATE)
        for batch in range(60):  # 60 batches of 400 fills: the journal grows 0 -> 24,000 entries
            await conn.execute("INSERT INTO journal_entries (account_id, kind, reference) SELECT 'A' || (1 + n % 8), "
                               "'fill', $1 || n FROM generate_series(1, 400) n", f"X-{batch}-")
            locked = accounts[batch % 8:batch % 8 + 1] if batch % 2 else accounts[:4]
            fills = [f"X-{batch}-{n}" for n in range(8 * len(locked))]
            await conn.execute(f"{begin}; EXECUTE state_read({text_array(locked)}, '{{}}', {text_array(fills)}); "
                               "COMMIT")
        await conn.execute(begin)
        try:
            plan = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE state_read("
                                       f"{text_array(['A1', 'A2'])}, '{{}}', "
                                       f"{text_array(['X-59-8', 'X-59-1', 'X-new'])})")
        finally:
            await conn.execute("COMMIT")
        _, state = await lock_orders_and_state(conn, ["A1", "A2"], [], ["X-59-8", "X-59-1", "X-new"])
    assert sorted((r["a"], r["s"]) for r in state if r["k"] == "j") == [("A1", "X-59-8"), ("A2", "X-59-1")]
    scans = _scans(json.loads(plan)[0]["Plan"], "journal_entries")
    assert scans and all(scan == "uq_journal_entries_reference" for scan in scans), scans


def _scans(node: dict[str, Any], table: str) -> list[str]:
    """The index (or the node type, e.g. "Seq Scan") each scan of ``table`` in an EXPLAIN JSON plan uses."""
    own = [node.get("Index Name", node["Node Type"])] if node.get("Relation Name") == table else []
    return own + [name for child in node.get("Plans", []) for name in _scans(child, table)]
