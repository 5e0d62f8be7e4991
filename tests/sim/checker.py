"""The ledger invariants (ARCHITECTURE.md, "The order path"), checked on the durable state after every step,
and what must hold once everything in flight has been delivered (``check_quiescent``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

from exchange.reports import DONE
from gateway.oms.venue import order_id_of
from ledger.fills import AccountType
from ledger.money import ZERO
from ledger.postings import share_balances, trial_balance
from tests.sim.clients import FakeClient
from tests.sim.store import Tables
from tests.sim.venue_link import FakeExchange


class Violation(AssertionError):
    pass


def _fail(text: str) -> None:
    raise Violation(text)


def check_step(t: Tables) -> None:
    blocked: dict[str, Decimal] = defaultdict(lambda: ZERO)
    blocked_qty: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    for stored in t.orders.values():
        order, held = stored.order, stored.reservation
        if order.status.is_open:
            blocked[order.account_id] += held.cash
            blocked_qty[(order.account_id, order.symbol)] += held.shares
        elif held.cash or held.shares:
            _fail(f"finished order {order.order_id} ({order.status.ledger}) still holds {held}")
    for account_id, cash in t.cash.items():
        if cash.blocked < 0:
            _fail(f"{account_id}: blocked {cash.blocked} < 0")
        if t.account_types[account_id] is AccountType.CASH and cash.cash < 0:
            _fail(f"{account_id}: cash {cash.cash} < 0 on a cash account")
        if cash.blocked != blocked[account_id]:
            _fail(f"{account_id}: blocked {cash.blocked} != Σ open orders' reservations {blocked[account_id]}")
    for (account_id, symbol), position in t.holdings.items():
        if position.blocked_qty < 0 or position.blocked_qty != blocked_qty[(account_id, symbol)]:
            _fail(f"{account_id} {symbol}: blocked_qty {position.blocked_qty} != Σ open sells' reservations "
                  f"{blocked_qty[(account_id, symbol)]}")
        if t.account_types[account_id] is AccountType.CASH and position.qty < 0:
            _fail(f"{account_id} {symbol}: short {position.qty} on a cash account")
    _check_journal(t)
    _check_exactly_once(t)
    entries = Counter((session, cl_ord_id) for session, cl_ord_id, _ in t.order_entries)
    for key, count in entries.items():
        if count > 1:
            _fail(f"(session, ClOrdID) {key} created {count} orders")
    finals = {row.order_id for row in t.reports if row.ord_status.is_terminal}
    for stored in t.orders.values():
        if stored.order.is_terminal and stored.order.order_id not in finals:
            _fail(f"finished order {stored.order.order_id} has no final client report stored")


def _check_journal(t: Tables) -> None:
    by_account: dict[str, list] = defaultdict(list)  # type: ignore[type-arg]
    for account_id, entry in t.journal:
        if sum((line.debit for line in entry.lines), ZERO) != sum((line.credit for line in entry.lines), ZERO):
            _fail(f"unbalanced journal entry {entry.reference}")
        by_account[account_id].append(entry)
    for account_id, cash in t.cash.items():
        entries = by_account[account_id]
        balances, quantities = trial_balance(entries), share_balances(entries)
        if balances.get("cash:USD", ZERO) != cash.cash:
            _fail(f"{account_id}: journal replay gives cash {balances.get('cash:USD')} but the balance is {cash.cash}")
        for (holder, symbol), position in t.holdings.items():
            if holder != account_id:
                continue
            account = f"securities:{symbol}"
            if quantities.get(account, ZERO) != position.qty:
                _fail(f"{account_id} {symbol}: journal replay gives {quantities.get(account)} shares, holding "
                      f"{position.qty}")
            book = balances.get(account, ZERO)
            if book != (position.cost_basis if position.qty >= 0 else -position.cost_basis):
                _fail(f"{account_id} {symbol}: journal book value {book} != cost basis {position.cost_basis}")


def _check_exactly_once(t: Tables) -> None:
    refs = Counter(entry.reference for _, entry in t.journal if entry.kind == "fill")
    for ref, count in refs.items():
        if count > 1:
            _fail(f"venue ExecID {ref} booked {count} times")
    venue_rows = Counter(row.venue_exec_id for row in t.reports if row.venue_exec_id is not None)
    for ref, count in venue_rows.items():
        if count > 1:
            _fail(f"venue ExecID {ref} applied {count} times")
    trades = {row.venue_exec_id or "" for row in t.reports if row.exec_type == "F"}
    if set(refs) != trades:
        _fail(f"fills booked without their trade report or the reverse: {sorted(set(refs) ^ trades)[:5]}")
    cum: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for _, entry in t.journal:
        if entry.kind == "fill":
            order_id = t.venue_exec_ids[entry.reference]
            cum[order_id] += sum((abs(line.quantity) for line in entry.lines), ZERO)
    for stored in t.orders.values():
        order = stored.order
        if order.cum_qty != cum[order.order_id]:
            _fail(f"order {order.order_id}: cum_qty {order.cum_qty} != booked {cum[order.order_id]}")


def check_quiescent(t: Tables, exchange: FakeExchange, clients: dict[str, FakeClient]) -> None:
    """Everything delivered: every fill the venue reported booked once, every order agrees with the venue,
    every client holds a final report for each finished order of its session."""
    check_step(t)
    for client in clients.values():
        if client.conflicts:
            _fail(f"client {client.session_id} was told two different final states: {client.conflicts[:3]}")
    if t.unbooked:
        _fail(f"fills the ledger refused (order.fill_unbooked): {t.unbooked[:3]}")
    booked = {entry.reference for _, entry in t.journal if entry.kind == "fill"}
    missing = set(exchange.trades) - booked
    if missing:
        sample = sorted(missing)[:5]
        _fail(f"{len(missing)} venue fills never booked (lost), e.g. "
              f"{[(m, order_id_of(exchange.trades[m].venue_cl_ord_id)) for m in sample]}")
    for stored in t.orders.values():
        order = stored.order
        venue = exchange.status_of_order(order.order_id)
        if venue is None:
            if order.status.is_open:
                _fail(f"order {order.order_id} is {order.status.ledger} but the venue never saw it")
            continue
        if (venue in DONE) != order.is_terminal:
            _fail(f"order {order.order_id} is {order.status.ledger} here, {venue} at the venue (stuck)")
        if order.is_terminal:
            client = clients[stored.session_id]
            if order.order_id not in client.final:
                _fail(f"client {stored.session_id} never got the final report of {order.order_id}")
