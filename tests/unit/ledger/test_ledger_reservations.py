from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InsufficientFunds, InsufficientShares, ReservationError
from ledger.reservations import (
    CashBalance,
    OrderReservation,
    ShareBalance,
    block_cash,
    block_shares,
    notional_to_block,
    release_cash,
    release_shares,
)

amounts = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=4)
# 4 dp quantities and 6 dp prices, so that notionals need rounding
quantities = st.integers(min_value=1, max_value=10**8).map(lambda n: Decimal(n) / 10**4)
prices = st.integers(min_value=1, max_value=10**10).map(lambda n: Decimal(n) / 10**6)


def test_block_refuses_more_than_available_with_figures() -> None:
    balance = CashBalance(Decimal("100"), Decimal("40"))
    with pytest.raises(InsufficientFunds) as err:
        block_cash(balance, Decimal("60.0001"))
    assert (err.value.available, err.value.requested) == (Decimal("60"), Decimal("60.0001"))
    assert block_cash(balance, Decimal("60")).available == 0
    with pytest.raises(ReservationError):
        release_cash(balance, Decimal("40.0001"))
    with pytest.raises(InsufficientShares):
        block_shares(ShareBalance("AAPL", Decimal(10), Decimal(5)), Decimal(6))
    with pytest.raises(ReservationError):
        release_shares(ShareBalance("AAPL", Decimal(10), Decimal(5)), Decimal(6))


@given(start=amounts, blocks=st.lists(amounts, max_size=20), order=st.randoms())
def test_blocking_then_releasing_returns_to_the_start(start: Decimal, blocks: list[Decimal], order: object) -> None:
    balance = CashBalance(start * 1000)
    held: list[Decimal] = []
    for amount in blocks:
        try:
            balance = block_cash(balance, amount)
            held.append(amount)
        except InsufficientFunds:
            assert amount > balance.available
    order.shuffle(held)  # type: ignore[attr-defined]
    for amount in held:
        balance = release_cash(balance, amount)
        assert balance.blocked >= 0
    assert balance == CashBalance(start * 1000)


@given(qty=quantities, limit=prices, cuts=st.lists(st.integers(1, 100), max_size=8),
       improvement=st.integers(0, 100), cancel=st.booleans())
def test_order_releases_exactly_what_it_blocked(
        qty: Decimal, limit: Decimal, cuts: list[int], improvement: int, cancel: bool) -> None:
    reservation = OrderReservation.for_buy(qty, limit)
    assert reservation.cash >= qty * limit
    blocked, released = reservation.cash, Decimal(0)
    fill_px = max(Decimal("0.000001"), limit - Decimal(improvement) / 10**6)
    for cut in cuts:
        if reservation.leaves_qty == 0:
            break
        fill_qty = max(Decimal("0.0001"), (reservation.leaves_qty * cut / 100).quantize(Decimal("0.0001")))
        fill_qty = min(fill_qty, reservation.leaves_qty)
        notional = (fill_qty * fill_px).quantize(Decimal("0.0001"), rounding="ROUND_FLOOR")
        reservation, release = reservation.on_fill(fill_qty, notional)
        # a fill inside the limit never costs more than it frees, and the rest still covers the rest
        assert release.cash >= notional
        assert reservation.cash >= reservation.leaves_qty * limit
        released += release.cash
    if cancel or reservation.leaves_qty == 0:
        reservation, release = reservation.on_cancel()
        released += release.cash
        assert reservation.is_empty
    assert released + reservation.cash == blocked


def test_share_reservation_releases_fill_quantity() -> None:
    reservation = OrderReservation.for_sell(Decimal(10))
    reservation, release = reservation.on_fill(Decimal(4), Decimal(400))
    assert (release.shares, release.cash) == (Decimal(4), Decimal(0))
    assert (reservation.shares, reservation.leaves_qty) == (Decimal(6), Decimal(6))
    with pytest.raises(ReservationError):
        reservation.on_fill(Decimal(7), Decimal(0))
    assert notional_to_block(Decimal("3"), Decimal("0.333333")) == Decimal("1.0000")


def test_pending_replace_extra_stays_out_of_the_pro_rata_release_and_goes_back_on_reject() -> None:
    # buy 100 @ 10 (1000 held); a replace to 200 blocks 1000 more ahead of the exchange's answer
    held = OrderReservation.for_buy(Decimal(100), Decimal(10)).with_pending(Decimal(1000))
    assert (held.cash, held.pending_cash, held.confirmed_cash) == (Decimal(2000), Decimal(1000), Decimal(1000))
    # 50 @ 10 fills while the replace is pending: half of the confirmed 1000, never of the inflated 2000
    after_fill, release = held.on_fill(Decimal(50), Decimal(500))
    assert release.cash == Decimal(500)
    assert (after_fill.leaves_qty, after_fill.cash, after_fill.pending_cash) == (Decimal(50), Decimal(1500),
                                                                                 Decimal(1000))
    # the exchange refuses the replace: exactly the pending extra goes back; 50 × 10 stays for the leaves
    after_reject, give_back = after_fill.on_replace_rejected(exposure_cash=Decimal(500))
    assert give_back.cash == Decimal(1000)
    assert after_reject == OrderReservation(Decimal(50), Decimal(500))


def test_replace_reject_trims_a_reservation_inflated_above_the_exposure() -> None:
    # an order row saved before the pending extra was tracked: 1000 held for 50 left at 10, no pending part
    inflated = OrderReservation(Decimal(50), Decimal(1000), pending_cash=Decimal(0))
    trimmed, give_back = inflated.on_replace_rejected(exposure_cash=Decimal(500))
    assert (trimmed.cash, give_back.cash) == (Decimal(500), Decimal(500))
    # never below what was already confirmed short of the exposure (no block in a pure function)
    short, nothing = OrderReservation(Decimal(50), Decimal(400)).on_replace_rejected(exposure_cash=Decimal(500))
    assert (short.cash, nothing.cash) == (Decimal(400), Decimal(0))
    sell = OrderReservation(Decimal(30), shares=Decimal(30)).with_pending(shares=Decimal(20))
    kept, back = sell.on_replace_rejected()
    assert (kept.shares, back.shares) == (Decimal(30), Decimal(20))


@given(qty=quantities, limit=prices, extra=amounts, cuts=st.lists(st.integers(1, 100), max_size=6))
def test_fills_never_touch_the_pending_extra(qty: Decimal, limit: Decimal, extra: Decimal, cuts: list[int]) -> None:
    held = OrderReservation.for_buy(qty, limit).with_pending(extra)
    released = Decimal(0)
    for cut in cuts:
        fill_qty = (held.leaves_qty * cut / 100).quantize(Decimal("0.0001"))
        if fill_qty <= 0 or fill_qty >= held.leaves_qty:
            continue
        held, release = held.on_fill(fill_qty, notional_to_block(fill_qty, limit))
        released += release.cash
        assert held.pending_cash == extra and held.cash >= extra
        assert held.confirmed_cash >= 0
    assert released + held.confirmed_cash == notional_to_block(qty, limit)


def test_rebuilt_dataclasses_have_the_fields_their_constructors_carry_over() -> None:
    """block/release/on_fill, apply_fill and PostingBatch rebuild these with their constructors (not
    ``dataclasses.replace``): a field added here must be carried over there too."""
    from dataclasses import fields

    from ledger.fills import Position
    from ledger.reservations import CashBalance, OrderReservation, ShareBalance

    assert [f.name for f in fields(CashBalance)] == ["cash", "blocked", "currency"]
    assert [f.name for f in fields(ShareBalance)] == ["symbol", "qty", "blocked_qty"]
    assert [f.name for f in fields(OrderReservation)] == ["leaves_qty", "cash", "shares", "pending_cash",
                                                          "pending_shares"]
    assert [f.name for f in fields(Position)] == ["symbol", "qty", "cost_basis", "realized_pnl", "blocked_qty"]
