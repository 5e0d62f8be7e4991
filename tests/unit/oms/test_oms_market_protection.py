"""Market-order protection: a market buy reaches the exchange as an IOC limit at its reservation's price."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.oms.market_protection import protection_price
from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import Order, submit
from gateway.oms.reports import venue_new_order
from ledger.money import floor_cash
from ledger.reservations import OrderReservation, notional_to_block

D = Decimal


def order(side: Side = Side.BUY, ord_type: OrdType = OrdType.MARKET, qty: str = "10",
          tif: TimeInForce = TimeInForce.DAY) -> Order:
    return submit(order_id=OrderID("O1"), cl_ord_id=ClOrdID("C1"), account_id=AccountID("A1"), symbol="AAPL",
                  side=side, ord_type=ord_type, time_in_force=tif, qty=D(qty),
                  price=D(100) if ord_type is OrdType.LIMIT else None)


def test_market_buy_goes_as_ioc_limit_at_the_collar_it_blocked() -> None:
    # 10 shares blocked at a collar of 101.0005 (ask 96.19 + 5 %): 1010.01 held
    held = OrderReservation.for_buy(D(10), D("101.0005"))
    assert protection_price(order(), held) == D("101.00")
    fields = dict((tag, value) for tag, value in venue_new_order(order(), D("101.00")))
    assert (fields[40], D(fields[44]), fields[59]) == ("2", D("101.00"), "3")
    fok = dict(venue_new_order(order(tif=TimeInForce.FOK), D("101.00")))
    assert fok[59] == "4"
    plain = dict(venue_new_order(order()))
    assert plain[40] == "1" and 44 not in plain
    penny = OrderReservation.for_buy(D(1000), D("0.52503"))
    assert protection_price(order(qty="1000"), penny) == D("0.5250")  # rounded down to the sub-penny tick


def test_only_market_buys_with_cash_blocked_are_protected() -> None:
    held = OrderReservation.for_buy(D(10), D(101))
    assert protection_price(order(ord_type=OrdType.LIMIT), held) is None
    assert protection_price(order(side=Side.SELL), OrderReservation.for_sell(D(10))) is None
    assert protection_price(order(), OrderReservation(D(10))) is None
    assert protection_price(order(), OrderReservation(D(0))) is None


@settings(max_examples=150)
@given(qty=st.integers(1, 10**6), collar=st.integers(10, 10**9).map(lambda n: D(n) / 10**5),
       filled=st.integers(1, 10**6))
def test_no_fill_at_or_inside_the_protection_costs_more_than_was_blocked(qty: int, collar: Decimal,
                                                                        filled: int) -> None:
    held = OrderReservation.for_buy(D(qty), collar)
    price = protection_price(order(qty=str(qty)), held)
    assert price is not None and price > collar - D("0.0101")
    fill_qty = D(min(filled, qty))
    assert floor_cash(fill_qty * price) <= held.cash
    assert notional_to_block(D(qty), price) <= held.cash

