from dataclasses import dataclass, replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import InsufficientFunds, InsufficientShares, ReservationError
from ledger.fills import AccountType, Fill, Position, Side, apply_fill
from ledger.postings import REALIZED_PNL, JournalEntry, deposit_entry, securities_account, share_balances, trial_balance
from ledger.reservations import CashBalance, OrderReservation, ShareBalance, block_cash, block_shares

D = Decimal
SYMBOLS = ("AAA", "BBB")


def _fill(cash: CashBalance, position: Position, reservation: OrderReservation, side: Side, qty: str, px: str,
          account_type: AccountType = AccountType.CASH, ref: str = "e") -> tuple[
        CashBalance, Position, OrderReservation, JournalEntry, Decimal]:
    out = apply_fill(cash=cash, position=position, reservation=reservation, fill=Fill(side, D(qty), D(px), ref),
                     account_type=account_type)
    return out.cash, out.position, out.reservation, out.entry, out.realized_pnl


def test_buy_then_sell_moves_cash_holdings_average_cost_and_pnl() -> None:
    cash = CashBalance(D(10000))
    res = OrderReservation.for_buy(D(100), D(50))
    cash = block_cash(cash, res.cash)
    cash, pos, res, _, _ = _fill(cash, Position("AAA"), res, Side.BUY, "60", "49")
    cash, pos, res, _, _ = _fill(cash, pos, res, Side.BUY, "40", "50")
    assert res.is_empty and cash.blocked == 0
    assert cash.cash == D(10000) - 60 * 49 - 40 * 50
    assert pos.qty == 100 and pos.avg_cost == D("49.4")
    sell = OrderReservation.for_sell(D(30))
    pos = replace(pos, blocked_qty=D(30))
    cash, pos, sell, entry, pnl = _fill(cash, pos, sell, Side.SELL, "30", "55")
    assert pnl == 30 * (D(55) - D("49.4"))
    assert pos.qty == 70 and pos.blocked_qty == 0 and pos.avg_cost == D("49.4")
    assert entry.net_of(REALIZED_PNL) == -pnl and entry.net_of("cash:USD") == 30 * 55


def test_short_sale_and_cover_on_margin() -> None:
    cash = CashBalance(D(1000))
    short = OrderReservation.for_buy(D(10), D(100))  # a short sale blocks buying power like a buy
    cash = block_cash(cash, short.cash)
    cash, pos, _, _, _ = _fill(cash, Position("AAA"), short, Side.SELL_SHORT, "10", "100", AccountType.MARGIN)
    assert pos.qty == -10 and pos.cost_basis == 1000 and cash == CashBalance(D(2000), D(0))
    cover = OrderReservation.for_buy(D(15), D(90))
    cash = block_cash(cash, cover.cash)
    cash, pos, _, entry, pnl = _fill(cash, pos, cover, Side.BUY, "15", "90", AccountType.MARGIN)
    assert pnl == 100  # shorted at 100, covered at 90
    assert pos.qty == 5 and pos.cost_basis == 450 and pos.avg_cost == 90  # flipped long the rest
    assert cash == CashBalance(D(2000) - 1350, D(0))
    assert sum(line.quantity for line in entry.lines) == 15


def test_cash_account_refuses_short_sales_and_overdrafts() -> None:
    with pytest.raises(ReservationError):
        _fill(CashBalance(D(100)), Position("AAA"), OrderReservation(D(1)), Side.SELL_SHORT, "1", "1")
    with pytest.raises(InsufficientShares):
        _fill(CashBalance(D(100)), Position("AAA"), OrderReservation.for_sell(D(1)), Side.SELL, "1", "1")
    with pytest.raises(InsufficientFunds):  # nothing was blocked for this buy
        _fill(CashBalance(D(100)), Position("AAA"), OrderReservation(D(1)), Side.BUY, "1", "101")


@dataclass
class Book:
    cash: CashBalance
    positions: dict[str, Position]
    open_orders: list[tuple[str, Side, OrderReservation, Decimal]]
    entries: list[JournalEntry]


order_specs = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.BUY, Side.SELL]),
        st.sampled_from(SYMBOLS),
        st.integers(1, 50_000).map(lambda n: D(n) / 100),  # qty, 2 dp
        st.integers(1, 40_000).map(lambda n: D(n) / 100),  # limit price
        st.lists(st.tuples(st.integers(1, 100), st.integers(0, 500)), max_size=5),  # (% of leaves, ticks better)
        st.booleans(),  # cancel the rest
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(start=st.integers(0, 200_000).map(D), exact_fit=st.booleans(), orders=order_specs)
def test_any_fill_sequence_keeps_a_cash_account_whole(
        start: Decimal, exact_fit: bool, orders: list[tuple]) -> None:  # type: ignore[type-arg]
    book = Book(CashBalance(D(0)), {s: Position(s) for s in SYMBOLS}, [], [])
    if exact_fit and orders and orders[0][0] is Side.BUY:  # no free cash left once the first order is blocked
        start = OrderReservation.for_buy(orders[0][2], orders[0][3]).cash
    if start:
        book.entries.append(deposit_entry(start, "USD", "seed"))
        book.cash = CashBalance(start)
    for n, (side, symbol, qty, limit, fills, cancel) in enumerate(orders):
        position = book.positions[symbol]
        try:
            if side is Side.BUY:
                reservation = OrderReservation.for_buy(qty, limit)
                book.cash = block_cash(book.cash, reservation.cash)
            else:
                shares = block_shares(ShareBalance(symbol, position.qty, position.blocked_qty), qty)
                position = replace(position, blocked_qty=shares.blocked_qty)
                reservation = OrderReservation.for_sell(qty)
        except (InsufficientFunds, InsufficientShares):
            continue
        for k, (pct, better) in enumerate(fills):
            share = (reservation.leaves_qty * pct / 100).quantize(D("0.01"))
            fill_qty = min(reservation.leaves_qty, max(D("0.01"), share))
            if fill_qty <= 0:
                break
            px = max(D("0.01"), limit - D(better) / 100) if side is Side.BUY else limit + D(better) / 100
            out = apply_fill(cash=book.cash, position=position, reservation=reservation,
                             fill=Fill(side, fill_qty, px, f"o{n}f{k}"), account_type=AccountType.CASH)
            book.cash, position, reservation = out.cash, out.position, out.reservation
            book.entries.append(out.entry)
            assert sum(line.debit for line in out.entry.lines) == sum(line.credit for line in out.entry.lines)
            assert book.cash.cash >= 0 and book.cash.available >= 0 and book.cash.blocked >= 0
            assert position.qty >= position.blocked_qty >= 0
        if cancel and not reservation.is_empty:
            reservation, release = reservation.on_cancel()
            book.cash = replace(book.cash, blocked=book.cash.blocked - release.cash)
            position = replace(position, blocked_qty=position.blocked_qty - release.shares)
        if not reservation.is_empty:
            book.open_orders.append((symbol, side, reservation, limit))
        book.positions[symbol] = position

    # blocked equals what the open orders hold
    assert book.cash.blocked == sum((r.cash for _, _, r, _ in book.open_orders), D(0))
    for symbol, position in book.positions.items():
        assert position.blocked_qty == sum((r.shares for s, _, r, _ in book.open_orders if s == symbol), D(0))
    # replaying the journal reproduces cash, holdings (quantity and book value) and realized P&L
    balances, quantities = trial_balance(book.entries), share_balances(book.entries)
    assert balances.get("cash:USD", D(0)) == book.cash.cash
    for symbol, position in book.positions.items():
        assert quantities.get(securities_account(symbol), D(0)) == position.qty
        assert balances.get(securities_account(symbol), D(0)) == position.cost_basis
    assert -balances.get(REALIZED_PNL, D(0)) == sum((p.realized_pnl for p in book.positions.values()), D(0))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL_SHORT]), st.integers(1, 1000), st.integers(100, 50_000)),
                min_size=1, max_size=20))
def test_margin_round_trips_balance_and_replay(trades: list[tuple[Side, int, int]]) -> None:
    cash, position, entries = CashBalance(D(10**9)), Position("AAA"), []
    for i, (side, qty, cents) in enumerate(trades):
        out = apply_fill(cash=cash, position=position, reservation=OrderReservation(D(qty)),
                         fill=Fill(side, D(qty), D(cents) / 100, f"t{i}"), account_type=AccountType.MARGIN)
        cash, position = out.cash, out.position
        entries.append(out.entry)
        assert position.cost_basis >= 0 and (position.qty != 0 or position.cost_basis == 0)
    balances = trial_balance(entries)
    assert balances.get("cash:USD", D(0)) == cash.cash - D(10**9)
    assert balances.get(securities_account("AAA"), D(0)) == (position.cost_basis if position.qty >= 0
                                                             else -position.cost_basis)
    assert -balances.get(REALIZED_PNL, D(0)) == position.realized_pnl
    assert sum(balances.values(), D(0)) == 0
