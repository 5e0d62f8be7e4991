"""What one group-commit transaction keeps in memory so its decisions cost fewer round trips.

A batch (several NewOrderSingles of a session, or several exchange reports of a lane) runs in ONE
transaction. Inside it an account row locked once stays locked, an order row locked once stays ours, so:

* each account is locked (and read) once per batch, not once per decision;
* each order row is read once; later reports of the same order in the batch see the in-memory row, and
  the changed rows are written back together just before the commit (one ``executemany``);
* client ExecutionReports of exchange reports and outbox events are written together just before the commit
  (a venue ExecID seen earlier in the batch counts as applied);
* an exchange-report batch reads its accounts' cash rows, the holdings its orders touch and which of its
  fills the journal holds in one statement, books fills, blocks and releases in memory
  (``ledger.posting_batch``) and writes journal entries, lines, cash, holdings, order rows, client reports
  and outbox events in ONE statement before the commit (ADR 021).

Nothing here commits: the caller's transaction still makes the whole batch (or, on the per-item
fallback, each item) all or nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import orjson

from audit.events import AuditEvent
from gateway.oms.store import (
    StoredOrder,
    flush_batch,
    lock_order_seen,
    lock_orders_and_state,
    recorded_order_of,
)
from ledger.fills import AccountType, Fill, FillOutcome
from ledger.journal_store import Conn, LockedAccount, lock_account, lock_cash, lock_position
from ledger.posting_batch import PostingBatch
from ledger.reservations import CashBalance, OrderReservation, Release

__all__ = ["GROUP_COMMIT_BEGIN", "GROUP_COMMIT_SETTINGS", "Batch", "group_commit"]

# A group-commit transaction runs its statements with generic plans. asyncpg prepares each statement once per
# connection, but PostgreSQL re-plans a prepared statement on every call when the custom plan looks cheaper,
# and with an ``= ANY($n)`` array the real length (one, at low rates) always looks cheaper than the generic
# plan's guess: the exchange-report batch's lock-and-state read and the new-order batch's risk read were
# planned on every batch, 0.3-0.4 ms each, about a quarter of PostgreSQL's CPU per order at low rates. The
# pool plans without sequential scans (``store.SERVER_SETTINGS``, ADR 053), so a generic plan made while the
# tables are small still reads by key when they are large (tests/integration/ledger/test_flush_plans.py).
# Only these transactions: the pool's other statements keep the planner's choice (ADR 041, 054).
GROUP_COMMIT_SETTINGS = {"plan_cache_mode": "force_generic_plan"}
GROUP_COMMIT_BEGIN = "BEGIN; " + "; ".join(f"SET LOCAL {name} = {value}"
                                            for name, value in GROUP_COMMIT_SETTINGS.items())


@asynccontextmanager
async def group_commit(conn: Conn) -> AsyncIterator[None]:
    """One transaction for a batch on ``conn``, its settings set in BEGIN's round trip (``conn.transaction()``
    would need one more for them): COMMIT when the block ends, ROLLBACK when it raises (the exception goes on).
    Nothing inside may open ``conn.transaction()``: asyncpg refuses that within a transaction it did not
    begin."""
    try:
        await conn.execute(GROUP_COMMIT_BEGIN)
        yield
    except BaseException:
        if not conn.is_closed() and conn.is_in_transaction():
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")

_LOCKED = "SELECT account_id, account_type, currency, status, short_selling_enabled, kill_switch FROM accounts "
_LOCK_ONE = _LOCKED + "WHERE account_id = $1 FOR UPDATE"
_LOCK_MANY = _LOCKED + "WHERE account_id = ANY($1::text[]) ORDER BY account_id FOR UPDATE"


class Batch:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._accounts: dict[str, LockedAccount] = {}
        self._orders: dict[str, StoredOrder] = {}
        self._dirty: dict[str, StoredOrder] = {}
        self._events: list[AuditEvent] = []
        self._executions: list[tuple[Any, ...]] = []
        self._venue_exec_ids: set[str] = set()
        # venue ExecID -> the order whose client report records it, where known without another query (reports
        # added in this batch, ExecIDs looked up one by one)
        self._venue_exec_orders: dict[str, str] = {}
        self.seqs: dict[str, int] = {}  # exec id -> executions.seq, once flushed
        self.locked_at: float | None = None  # perf_counter when the first account lock was answered (metrics)
        self._checked: set[str] = set()  # venue ExecIDs whose applied-or-not is known (prefetch)
        self._new_orders: list[StoredOrder] = []
        self._claims: list[tuple[str, str, date, str, str]] = []
        self.ledger = PostingBatch()  # cash, holdings, journal of the batch (exchange reports)
        self._refs_checked: set[tuple[str, str]] = set()  # (account, venue ExecID) looked up in the journal

    def __repr__(self) -> str:  # short: error tracebacks render their frames' locals
        return (f"Batch({len(self._accounts)} accounts, {len(self._orders)} orders, {len(self._executions)} reports, "
                f"{len(self._events)} events pending)")

    async def lock_accounts(self, account_ids: list[str]) -> None:
        """Lock these accounts (ascending: no deadlock between batches) in one statement; ``account`` then
        answers from memory. An account that does not exist is left for ``account`` to report."""
        ids = sorted(set(account_ids))
        # one account (nearly every batch): ``= $1``, whose generic plan costs what a custom one does, so the
        # plan cache keeps it after five calls; ``= ANY($1)`` is custom-planned on every call (a generic plan
        # guesses the array's length) and was ~17 % of the order path's planning
        rows = await (self.conn.fetch(_LOCK_ONE, ids[0]) if len(ids) == 1 else self.conn.fetch(_LOCK_MANY, ids))
        if self.locked_at is None:
            self.locked_at = time.perf_counter()
        for r in rows:
            self._accounts[r["account_id"]] = LockedAccount(
                r["account_id"], AccountType(r["account_type"]), r["currency"], r["status"],
                r["short_selling_enabled"], r["kill_switch"])

    def locked_accounts(self) -> list[LockedAccount]:
        return [self._accounts[a] for a in sorted(self._accounts)]

    def enter_order(self, stored: StoredOrder, execution: tuple[Any, ...], day: date) -> None:
        """A new order's row, its ClOrdID claim ('new' on ``day``) and its PendingNew report
        (``execution_row``), written by ``flush``; the report's seq then in ``seqs``."""
        self._new_orders.append(stored)
        self._claims.append((stored.session_id, stored.order.cl_ord_id, day, stored.order.order_id, "new"))
        self._executions.append(execution)

    async def prefetch(self, account_ids: list[str], order_ids: list[str], venue_exec_ids: list[str]) -> None:
        """Lock the batch's accounts (ascending: no deadlock between batches), then, in one statement, its
        orders and the accounts' cash rows, the orders' holdings, which fills the journal holds and which venue
        ExecIDs a client report records: two statements for the whole batch, none per report. An account that
        does not exist is left for ``account`` to report."""
        await self.lock_accounts(account_ids)
        # with the accounts locked nobody else changes these orders or applies reports to them: lock them and
        # read the ledger rows and both exactly-once checks (journal references, client reports' venue
        # ExecIDs) in one statement
        exec_ids = list(set(venue_exec_ids))
        locked = sorted(self._accounts)
        orders, state = await lock_orders_and_state(self.conn, locked, sorted(set(order_ids)), exec_ids)
        self._orders.update(orders)
        pairs = sorted({(o.order.account_id, o.order.symbol) for o in orders.values()
                        if o.order.account_id in self._accounts})
        self._venue_exec_ids |= self.ledger.load(state, pairs)
        self._checked.update(venue_exec_ids)
        self._refs_checked.update((a, x) for a in locked for x in exec_ids)

    async def _ledger_rows(self, account: LockedAccount, symbol: str) -> None:
        """The account's cash row and the holding, read (and locked) now if the prefetch did not."""
        if not self.ledger.has_cash(account.account_id):
            self.ledger.cash[account.account_id] = await lock_cash(self.conn, account)
        if not self.ledger.has_position(account.account_id, symbol):
            self.ledger.positions[(account.account_id, symbol)] = await lock_position(self.conn, account, symbol)

    async def book_fill(self, account: LockedAccount, symbol: str, reservation: OrderReservation, fill: Fill,
                        ) -> FillOutcome | None:
        """``ledger.order_postings.post_fill`` for this batch: None when the journal already holds the fill."""
        await self._ledger_rows(account, symbol)
        key = (account.account_id, fill.reference)
        if key not in self._refs_checked:
            if await self.conn.fetchval(
                    "SELECT true FROM journal_entries WHERE account_id = $1 AND kind = 'fill' AND reference = $2",
                    account.account_id, fill.reference):
                self.ledger.journal_refs.add(key)
            self._refs_checked.add(key)
        return self.ledger.book_fill(account, symbol, reservation, fill)

    async def block(self, account: LockedAccount, symbol: str, reservation: OrderReservation) -> CashBalance:
        """``ledger.order_postings.block_reservation`` for this batch."""
        await self._ledger_rows(account, symbol)
        return self.ledger.block(account, symbol, reservation)

    async def release(self, account: LockedAccount, symbol: str, release: Release) -> CashBalance:
        """``ledger.order_postings.release_reservation`` for this batch."""
        await self._ledger_rows(account, symbol)
        return self.ledger.release(account, symbol, release)

    async def account(self, account_id: str) -> LockedAccount:
        """The account row, locked (FOR UPDATE) the first time the batch asks for it."""
        account = self._accounts.get(account_id)
        if account is None:
            account = self._accounts[account_id] = await lock_account(self.conn, account_id)
            if self.locked_at is None:
                self.locked_at = time.perf_counter()
        return account

    async def order_for_report(self, order_id: str, venue_exec_id: str | None) -> tuple[StoredOrder | None, bool]:
        """The order (locked; as this batch left it) and whether ``venue_exec_id`` was already applied."""
        stored = self._orders.get(order_id)
        if stored is None:
            stored, seen = await lock_order_seen(self.conn, order_id, venue_exec_id)
            if stored is not None:
                self._orders[order_id] = stored
            return stored, seen
        if venue_exec_id is None:
            return stored, False
        if venue_exec_id in self._venue_exec_ids:
            return stored, True
        if venue_exec_id in self._checked:
            return stored, False
        recorded = await recorded_order_of(self.conn, venue_exec_id)
        if recorded is not None:  # kept: a duplicate's recorded order is asked next (``recorded_order``)
            self._venue_exec_orders[venue_exec_id] = recorded
        return stored, recorded is not None

    def add_execution(self, row: tuple[Any, ...]) -> None:
        """A client ExecutionReport row (``store.execution_row``), written by ``flush``; its seq then in
        ``seqs``. Its venue ExecID counts as applied for the rest of the batch."""
        self._executions.append(row)
        if row[1] is not None:
            self._venue_exec_ids.add(row[1])
            self._venue_exec_orders[row[1]] = row[2]

    async def recorded_order(self, venue_exec_id: str) -> str | None:
        """The order whose client report already records ``venue_exec_id`` (this batch's, or the table's), if any:
        asked only for a report dropped as already applied, to tell a resend from a venue ExecID reused for
        another order."""
        if venue_exec_id in self._venue_exec_orders:
            return self._venue_exec_orders[venue_exec_id]
        return await recorded_order_of(self.conn, venue_exec_id)

    def save_order(self, stored: StoredOrder) -> None:
        """The order's new row, written with the batch's other changed rows by ``flush``."""
        self._orders[stored.order.order_id] = self._dirty[stored.order.order_id] = stored

    def append_event(self, event: AuditEvent) -> None:
        self._events.append(event)

    async def flush(self) -> None:
        """Write what the batch kept back, in one statement; call inside the transaction, before the commit."""
        if not (self._executions or self._dirty or self._events or self.ledger.changed or self._new_orders):
            return
        # each payload as the JSON it always was (``default=str``), embedded in the statement's document
        events = [(e.event_id, e.event_type, e.occurred_at, e.account_id,
                   orjson.Fragment(orjson.dumps(e.to_payload(), default=str))) for e in self._events]
        self.seqs.update(await flush_batch(self.conn, self._executions, list(self._dirty.values()), events,
                                           self.ledger.write_args(self.ledger.has_fills), self._new_orders,
                                           self._claims))
        self._new_orders.clear()
        self._claims.clear()
        self._executions.clear()
        self._dirty.clear()
        self._events.clear()
        self.ledger.written()
