"""What one group-commit transaction keeps in memory so its decisions cost fewer round trips.

A batch (several NewOrderSingles of a session, or several exchange reports of a lane) runs in ONE
transaction. Inside it an account row locked once stays locked, an order row locked once stays ours, so:

* each account is locked (and read) once per batch, not once per decision;
* each order row is read once; later reports of the same order in the batch see the in-memory row, and
  the changed rows are written back together just before the commit (one ``executemany``);
* client ExecutionReports of exchange reports and outbox events are written together just before the commit
  (a venue ExecID seen earlier in the batch counts as applied).

Nothing here commits: the caller's transaction still makes the whole batch (or, on the per-item
fallback, each item) all or nothing.
"""

from __future__ import annotations

from typing import Any

import orjson

from audit.events import AuditEvent
from gateway.oms.store import (
    StoredOrder,
    insert_executions,
    lock_order_seen,
    lock_orders_seen,
    save_orders,
    venue_exec_seen,
)
from ledger.fills import AccountType
from ledger.journal_store import Conn, LockedAccount, lock_account

__all__ = ["Batch"]

_OUTBOX = ("INSERT INTO outbox (event_id, event_type, occurred_at, account_id, payload) "
           "VALUES ($1, $2, $3, $4, $5::jsonb)")


class Batch:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._accounts: dict[str, LockedAccount] = {}
        self._orders: dict[str, StoredOrder] = {}
        self._dirty: dict[str, StoredOrder] = {}
        self._events: list[AuditEvent] = []
        self._executions: list[tuple[Any, ...]] = []
        self._venue_exec_ids: set[str] = set()
        self.seqs: dict[str, int] = {}  # exec id -> executions.seq, once flushed
        self._checked: set[str] = set()  # venue ExecIDs whose applied-or-not is known (prefetch)

    async def prefetch(self, account_ids: list[str], order_ids: list[str], venue_exec_ids: list[str]) -> None:
        """Lock the batch's accounts (ascending: no deadlock between batches), then its orders, and learn
        which venue ExecIDs were already applied: three round trips for the whole batch. An account that
        does not exist is left for ``account`` to report."""
        rows = await self.conn.fetch(
            "SELECT account_id, account_type, currency, status, short_selling_enabled, kill_switch FROM accounts "
            "WHERE account_id = ANY($1::text[]) ORDER BY account_id FOR UPDATE", sorted(set(account_ids)))
        for r in rows:
            self._accounts[r["account_id"]] = LockedAccount(
                r["account_id"], AccountType(r["account_type"]), r["currency"], r["status"],
                r["short_selling_enabled"], r["kill_switch"])
        # with the accounts locked nobody else changes these orders or applies reports to them
        orders, seen = await lock_orders_seen(self.conn, sorted(set(order_ids)), list(set(venue_exec_ids)))
        self._orders.update(orders)
        self._venue_exec_ids |= seen
        self._checked.update(venue_exec_ids)

    async def account(self, account_id: str) -> LockedAccount:
        """The account row, locked (FOR UPDATE) the first time the batch asks for it."""
        account = self._accounts.get(account_id)
        if account is None:
            account = self._accounts[account_id] = await lock_account(self.conn, account_id)
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
        return stored, venue_exec_id not in self._checked and await venue_exec_seen(self.conn, venue_exec_id)

    def add_execution(self, row: tuple[Any, ...]) -> None:
        """A client ExecutionReport row (``store.execution_row``), written by ``flush``; its seq then in
        ``seqs``. Its venue ExecID counts as applied for the rest of the batch."""
        self._executions.append(row)
        if row[1] is not None:
            self._venue_exec_ids.add(row[1])

    def save_order(self, stored: StoredOrder) -> None:
        """The order's new row, written with the batch's other changed rows by ``flush``."""
        self._orders[stored.order.order_id] = self._dirty[stored.order.order_id] = stored

    def append_event(self, event: AuditEvent) -> None:
        self._events.append(event)

    async def flush(self) -> None:
        """Write what the batch kept back; call inside the transaction, before the commit."""
        if self._executions:
            self.seqs.update(await insert_executions(self.conn, self._executions))
            self._executions.clear()
        if self._dirty:
            await save_orders(self.conn, list(self._dirty.values()))
            self._dirty.clear()
        if self._events:
            await self.conn.executemany(_OUTBOX, [
                (e.event_id, e.event_type, e.occurred_at, e.account_id,
                 orjson.dumps(e.to_payload(), default=str).decode()) for e in self._events])
            self._events.clear()
