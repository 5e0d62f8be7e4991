"""Trailing stops (40=P, 18=a, 211), market/limit-on-close (59=7) and the Triggered report (150=L) on the gateway:
parsing, validation, risk and blocks, and the fields sent to the exchange and to the client."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.oms.fix_codec import BadField, parse_new_order, parse_venue_report
from gateway.oms.market_protection import protection_price
from gateway.oms.model import AccountID, ClOrdID, ExecType, OrderID, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import InvalidOrder, Order, submit
from gateway.oms.reports import execution_report, venue_new_order
from gateway.oms.risk import check_new_order
from gateway.oms.risk_config import Accepted, Rejected, RiskRule
from gateway.oms.self_trade import SelfTradeModes, StpMode
from gateway.oms.validation import validate_order
from refdata.instruments import universe_by_symbol
from tests.unit.oms.test_oms_risk import LIMITS, ctx

D = Decimal
AAPL = universe_by_symbol()["AAPL"]


def order(side: Side = Side.BUY, ord_type: OrdType = OrdType.PEGGED, tif: TimeInForce = TimeInForce.DAY,
          price: str | None = None, stop_px: str | None = "0.50", qty: str = "10") -> Order:
    return submit(order_id=OrderID("O1"), cl_ord_id=ClOrdID("C1"), account_id=AccountID("A1"), symbol="AAPL",
                  side=side, ord_type=ord_type, time_in_force=tif, qty=D(qty),
                  price=D(price) if price else None, stop_px=D(stop_px) if stop_px else None)


def nos(**fields: str) -> dict[str, str]:
    base = {"35": "D", "11": "C1", "55": "AAPL", "54": "2", "38": "10", "40": "P", "18": "a", "211": "-0.50"}
    base.update(fields)
    return {k: v for k, v in base.items() if v != ""}


def test_a_trailing_stop_is_parsed_with_its_trail_in_stop_px() -> None:
    cmd = parse_new_order(nos())
    assert (cmd.ord_type, cmd.stop_px, cmd.price) == (OrdType.PEGGED, D("0.50"), None)
    assert parse_new_order(nos(**{"211": "0.25", "18": "1 a", "835": "0", "836": "0"})).stop_px == D("0.25")


@pytest.mark.parametrize(("fields", "tag"), [({"18": ""}, 18), ({"18": "1"}, 18), ({"211": ""}, 211),
                                             ({"211": "0"}, 211), ({"99": "10"}, 99), ({"835": "1"}, 835),
                                             ({"836": "2"}, 836)])
def test_a_pegged_order_that_is_not_a_plain_trailing_stop_is_refused_with_the_tag(fields: dict[str, str],
                                                                                 tag: int) -> None:
    with pytest.raises(BadField) as error:
        parse_new_order(nos(**fields))
    assert error.value.tag == tag


def test_order_terms_of_the_new_types() -> None:
    assert validate_order(order(), AAPL) is None
    assert validate_order(order(ord_type=OrdType.MARKET, stop_px=None, tif=TimeInForce.AT_THE_CLOSE), AAPL) is None
    assert validate_order(order(ord_type=OrdType.LIMIT, price="100", stop_px=None, tif=TimeInForce.AT_THE_CLOSE),
                          AAPL) is None
    stop_on_close = validate_order(order(ord_type=OrdType.STOP, stop_px="100", tif=TimeInForce.AT_THE_CLOSE), AAPL)
    assert isinstance(stop_on_close, Rejected) and stop_on_close.rule is RiskRule.TIME_IN_FORCE
    assert "59=7" in stop_on_close.text
    ioc_trail = validate_order(order(tif=TimeInForce.IOC), AAPL)
    assert isinstance(ioc_trail, Rejected) and "trailing stop is DAY or GTC" in ioc_trail.text
    off_tick = validate_order(order(stop_px="0.505"), AAPL)
    assert isinstance(off_tick, Rejected) and "trail distance 0.505" in off_tick.text
    with pytest.raises(InvalidOrder):
        order(stop_px=None)
    with pytest.raises(InvalidOrder):
        order(price="100")


def test_a_trailing_buy_blocks_one_trail_above_the_ask_with_the_collar_and_routes_protected() -> None:
    decision = check_new_order(order(), ctx(), LIMITS)
    assert isinstance(decision, Accepted)
    assert decision.valuation_price == (D("100.10") + D("0.50")) * D("1.05")
    assert decision.reservation.cash == D("1056.3000")
    protect = protection_price(order(), decision.reservation)
    assert protect == D("105.63")
    sent = dict(venue_new_order(order(), protect))
    assert (sent[40], sent[18], sent[211], sent[44], sent[59]) == ("P", "a", "0.5", "105.63", "0")
    assert 99 not in sent


def test_a_trailing_sell_blocks_shares() -> None:
    decision = check_new_order(order(side=Side.SELL), ctx(held="100"), LIMITS)
    assert isinstance(decision, Accepted) and decision.reservation.shares == D(10)
    sent = dict(venue_new_order(order(side=Side.SELL)))
    assert (sent[40], sent[18], sent[211]) == ("P", "a", "-0.5")


def test_a_market_on_close_buy_blocks_at_the_collar_and_stays_on_close_when_protected() -> None:
    moc = order(ord_type=OrdType.MARKET, stop_px=None, tif=TimeInForce.AT_THE_CLOSE)
    decision = check_new_order(moc, ctx(), LIMITS)
    assert isinstance(decision, Accepted) and decision.reservation.cash == D("1051.0500")
    sent = dict(venue_new_order(moc, protection_price(moc, decision.reservation)))
    assert (sent[40], sent[44], sent[59]) == ("2", "105.1", "7")  # a limit-on-close at the collar
    loc = order(ord_type=OrdType.LIMIT, price="101", stop_px=None, tif=TimeInForce.AT_THE_CLOSE)
    held = check_new_order(loc, ctx(), LIMITS)
    assert isinstance(held, Accepted) and held.reservation.cash == D("1010.0000")
    assert dict(venue_new_order(loc))[59] == "7"


@settings(max_examples=100, deadline=None)
@given(st.decimals(D("0.01"), D("50"), places=2), st.sampled_from([Side.BUY, Side.SELL]))
def test_client_reports_of_a_trailing_stop_carry_its_peg_not_a_stop_price(trail: Decimal, side: Side) -> None:
    fields = dict(execution_report(order(side=side, stop_px=str(trail)), "E1", ExecType.TRIGGERED))
    assert fields[150] == "L" and fields[18] == "a" and 99 not in fields
    assert D(fields[211]) == (trail if side is Side.BUY else -trail)


def test_venue_reports_carry_the_restatement_reason_and_the_stp_mode_goes_out_per_account() -> None:
    report = parse_venue_report({"11": "O1", "17": "X1", "150": "4", "39": "4", "378": "99",
                                 "58": "self-trade prevention (cancel newest): ..."})
    assert report.restatement_reason == 99
    assert parse_venue_report({"11": "O1", "17": "X2", "150": "L", "39": "0"}).restatement_reason is None
    modes = SelfTradeModes()
    modes.modes["A2"] = StpMode.CANCEL_BOTH
    assert modes.field("A1") == (7940, "1") and modes.field("A2") == (7940, "3")
