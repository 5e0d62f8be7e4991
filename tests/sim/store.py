"""The fake ledger database: durable state that a transaction changes all at once or not at all.

``FakeStore.begin()`` hands out a ``Txn`` holding private copies of the tables (values are frozen
dataclasses, so a shallow copy of each table is a snapshot); ``commit`` swaps them in at once. A crash is
simply dropping every ``Txn`` and every object of the gateway: only ``FakeStore.state`` survives, as
PostgreSQL's committed rows do. The tables mirror the columns of ``ledger.tables`` that the order path
reads back (orders with their reservation and pending extra, order_cl_ord_ids, executions with the venue
ExecID and the client report, journal entries, cash_balances, holdings, fix_inbound_marks,
client_report_marks, the outbox's ``order.fill_unbooked`` events).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.oms.model import OrdStatus
from gateway.oms.store import StoredOrder
from ledger.fills import AccountType, Position
from ledger.postings import JournalEntry
from ledger.reservations import CashBalance


@dataclass(frozen=True, slots=True)
class ClientReportRow:
    """``executions`` row of a client ExecutionReport (what recovery re-sends after a crash)."""

    seq: int
    session_id: str
    order_id: str
    exec_id: str  # ours, the client's dedupe key
    venue_exec_id: str | None
    exec_type: str
    ord_status: OrdStatus
    cl_ord_id: str


@dataclass(frozen=True, slots=True)
class Mark:
    """``fix_inbound_marks`` row: the last inbound MsgSeqNum handled, and the FIX session day it counts in."""

    day: int
    seq: int


@dataclass
class Tables:
    account_types: dict[str, AccountType] = field(default_factory=dict)
    cash: dict[str, CashBalance] = field(default_factory=dict)
    holdings: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: dict[str, StoredOrder] = field(default_factory=dict)
    cl_ord_ids: dict[tuple[str, str], str] = field(default_factory=dict)  # (session, ClOrdID) -> order id
    order_entries: list[tuple[str, str, str]] = field(default_factory=list)  # (session, ClOrdID, order id)
    venue_exec_ids: dict[str, str] = field(default_factory=dict)  # venue ExecID -> order id (UNIQUE)
    reports: list[ClientReportRow] = field(default_factory=list)
    journal: list[tuple[str, JournalEntry]] = field(default_factory=list)  # (account, entry)
    fill_refs: set[tuple[str, str]] = field(default_factory=set)  # (account, reference) of fill entries
    marks: dict[str, Mark] = field(default_factory=dict)
    client_marks: dict[str, int] = field(default_factory=dict)
    unbooked: list[tuple[str, str]] = field(default_factory=list)  # (venue ExecID, reason)
    next_seq: int = 1

    def copy(self) -> Tables:
        return Tables(
            dict(self.account_types), dict(self.cash), dict(self.holdings), dict(self.orders), dict(self.cl_ord_ids),
            list(self.order_entries), dict(self.venue_exec_ids), list(self.reports), list(self.journal),
            set(self.fill_refs), dict(self.marks), dict(self.client_marks), list(self.unbooked), self.next_seq)


class Txn:
    """One transaction: reads and writes its own copy; ``FakeStore.commit`` publishes it."""

    def __init__(self, tables: Tables) -> None:
        self.t = tables

    def position(self, account_id: str, symbol: str) -> Position:
        return self.t.holdings.get((account_id, symbol), Position(symbol))

    def positions(self, account_id: str) -> tuple[Position, ...]:
        return tuple(p for (a, _), p in sorted(self.t.holdings.items()) if a == account_id)

    def open_orders(self, account_id: str) -> list[StoredOrder]:
        return [s for s in self.t.orders.values() if s.order.account_id == account_id and s.order.status.is_open]

    def find_by_cl_ord_id(self, session_id: str, cl_ord_id: str) -> StoredOrder | None:
        order_id = self.t.cl_ord_ids.get((session_id, cl_ord_id))
        return None if order_id is None else self.t.orders[order_id]

    def add_report(self, stored: StoredOrder, exec_id: str, exec_type: str, venue_exec_id: str | None) -> int:
        seq = self.t.next_seq
        self.t.next_seq += 1
        self.t.reports.append(ClientReportRow(seq, stored.session_id, stored.order.order_id, exec_id, venue_exec_id,
                                              exec_type, stored.order.status, stored.order.cl_ord_id))
        if venue_exec_id is not None:
            if venue_exec_id in self.t.venue_exec_ids:
                raise AssertionError(f"UNIQUE executions.venue_exec_id violated by {venue_exec_id}")
            self.t.venue_exec_ids[venue_exec_id] = stored.order.order_id
        return seq


class FakeStore:
    def __init__(self) -> None:
        self.state = Tables()
        self.commits = 0

    def begin(self) -> Txn:
        return Txn(self.state.copy())

    def commit(self, txn: Txn) -> None:
        self.state = txn.t
        self.commits += 1

    def snapshot(self) -> Tables:
        return copy.copy(self.state)

    def add_account(self, account_id: str, account_type: AccountType, cash: Decimal,
                    entries: list[JournalEntry], holdings: list[Position]) -> None:
        txn = self.begin()
        txn.t.account_types[account_id] = account_type
        txn.t.cash[account_id] = CashBalance(cash)
        for position in holdings:
            txn.t.holdings[(account_id, position.symbol)] = position
        txn.t.journal.extend((account_id, e) for e in entries)
        self.commit(txn)
