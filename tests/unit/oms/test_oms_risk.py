"""Pre-trade risk rules: each rule's reject reason and figures, reservations, replaces, and monotonicity."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdRejReason, OrdType, Side, TimeInForce
from gateway.oms.order_events import OrderAccepted, OrderFilled
from gateway.oms.order_fsm import Order, apply, submit
from gateway.oms.risk import check_new_order, check_replace, valuation_price
from gateway.oms.risk_config import Accepted, Rejected, RiskContext, RiskLimits, RiskRule
from ledger.fills import AccountType, Position
from ledger.reservations import CashBalance, OrderReservation
from marketdata.quotes import Quote

D = Decimal
QUOTE = Quote("AAPL", bid=D("99.90"), ask=D("100.10"), last=D("100.00"), prev_close=D("98.00"))


def order(side: Side = Side.BUY, qty: str = "10", price: str | None = "100", ord_type: OrdType = OrdType.LIMIT,
          stop_px: str | None = None) -> Order:
    return submit(order_id=OrderID("O1"), cl_ord_id=ClOrdID("C1"), account_id=AccountID("A1"), symbol="AAPL",
                  side=side, ord_type=ord_type, time_in_force=TimeInForce.DAY, qty=D(qty),
                  price=D(price) if price is not None else None, stop_px=D(stop_px) if stop_px else None)


def ctx(cash: str = "100000", blocked: str = "0", held: str = "0", held_blocked: str = "0",
        account_type: AccountType = AccountType.CASH, quote: Quote | None = QUOTE, **kw: object) -> RiskContext:
    position = Position("AAPL", qty=D(held), cost_basis=abs(D(held)) * 90, blocked_qty=D(held_blocked))
    return RiskContext(account_type=account_type, cash=CashBalance(D(cash), D(blocked)), position=position,
                       quote=quote, positions=(position,), marks={"AAPL": D("100")}, **kw)  # type: ignore[arg-type]


LIMITS = RiskLimits()


def rejected(decision: object, rule: RiskRule) -> Rejected:
    assert isinstance(decision, Rejected), decision
    assert decision.rule is rule, decision
    assert decision.text.startswith(rule.label)
    return decision


def accepted(decision: object) -> Accepted:
    assert isinstance(decision, Accepted), decision
    return decision


# --- buying power and reservations ------------------------------------------------------------------

def test_cash_buy_reserves_limit_notional() -> None:
    decision = accepted(check_new_order(order(qty="10", price="100.005"), ctx(), LIMITS))
    assert decision.reservation == OrderReservation(D(10), cash=D("1000.0500"))


def test_cash_buy_beyond_available_cash_names_the_figures() -> None:
    decision = rejected(check_new_order(order(qty="100", price="100.50"), ctx(cash="6000", blocked="1000"), LIMITS),
                        RiskRule.BUYING_POWER)
    assert decision.text == "insufficient buying power: required 10050.00, available 5000.00"
    assert decision.reason is OrdRejReason.BROKER_CREDIT


def test_market_buy_is_valued_at_ask_collar() -> None:
    decision = accepted(check_new_order(order(qty="10", price=None, ord_type=OrdType.MARKET), ctx(), LIMITS))
    assert decision.valuation_price == D("100.10") * D("1.05")
    assert decision.reservation.cash == D("1051.0500")


def test_market_order_without_quote_is_rejected() -> None:
    decision = rejected(check_new_order(order(price=None, ord_type=OrdType.MARKET), ctx(quote=None), LIMITS),
                        RiskRule.NO_REFERENCE_PRICE)
    assert decision.reason is OrdRejReason.OTHER


def test_stale_quote_is_no_reference() -> None:
    quote = Quote("AAPL", ask=D("100"), last=D("100"), ingest_ts_us=1_000_000)
    market = order(price=None, ord_type=OrdType.MARKET)
    fresh = ctx(quote=quote, now_us=5_000_000)
    assert accepted(check_new_order(market, fresh, LIMITS)).valuation_price == D("105.00")
    stale = ctx(quote=quote, now_us=7_000_000)
    decision = rejected(check_new_order(market, stale, LIMITS), RiskRule.NO_REFERENCE_PRICE)
    assert decision.text == "no reference price: no fresh quote for AAPL to value a market order"
    accepted(check_new_order(order(price="150"), stale, LIMITS))  # no collar without a fresh reference
    rejected(check_new_order(order(price="150"), fresh, LIMITS), RiskRule.PRICE_COLLAR)


def test_market_buy_falls_back_to_last_when_no_ask() -> None:
    quote = Quote("AAPL", last=D("50"))
    assert valuation_price(Side.BUY, OrdType.MARKET, None, None, ctx(quote=quote), LIMITS) == D("52.50")


def test_stop_buy_is_valued_at_least_at_its_stop() -> None:
    price = valuation_price(Side.BUY, OrdType.STOP, None, D("120"), ctx(), LIMITS)
    assert price == D("126.00")


def test_margin_buy_uses_reg_t_leverage() -> None:
    # equity 10000 cash, no positions: excess 10000, buying power 20000
    margin = ctx(cash="10000", account_type=AccountType.MARGIN, held="0")
    accepted(check_new_order(order(qty="199", price="100"), margin, LIMITS))
    decision = rejected(check_new_order(order(qty="201", price="100"), margin, LIMITS), RiskRule.BUYING_POWER)
    assert decision.text == "insufficient buying power: required 20100.00, available 20000.00"


def test_margin_buying_power_counts_positions_at_live_marks() -> None:
    # cash 0, 100 AAPL at 100: equity 10000, initial req 5000, excess 5000 → buying power 10000
    margin = ctx(cash="0", held="100", account_type=AccountType.MARGIN)
    accepted(check_new_order(order(qty="100", price="100"), margin, LIMITS))
    rejected(check_new_order(order(qty="101", price="100"), margin, LIMITS), RiskRule.BUYING_POWER)


def test_sell_needs_unblocked_shares() -> None:
    decision = accepted(check_new_order(order(side=Side.SELL, qty="60"), ctx(held="100", held_blocked="40"), LIMITS))
    assert decision.reservation == OrderReservation(D(60), shares=D(60))
    refused = rejected(check_new_order(order(side=Side.SELL, qty="61"), ctx(held="100", held_blocked="40"), LIMITS),
                       RiskRule.INSUFFICIENT_SHARES)
    assert refused.text == "insufficient shares: sell 61 AAPL, available 60"


def test_short_sale_refused_in_cash_account_and_when_disabled() -> None:
    short = order(side=Side.SELL_SHORT, qty="10")
    assert "cash account" in rejected(check_new_order(short, ctx(), LIMITS), RiskRule.SHORT_SELLING).text
    margin = ctx(account_type=AccountType.MARGIN)
    decision = rejected(check_new_order(short, margin, LIMITS), RiskRule.SHORT_SELLING)
    assert decision.reason is OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC


def test_short_sale_reserves_the_150_percent_requirement_net_of_proceeds() -> None:
    limits = RiskLimits(short_selling=True)
    margin = ctx(cash="10000", account_type=AccountType.MARGIN)
    decision = accepted(check_new_order(order(side=Side.SELL_SHORT, qty="100", price="100"), margin, limits))
    # (1.5 − 1) × 10000 of equity, in buying-power units (÷ 0.5 initial) = 10000
    assert decision.reservation.cash == D("10000.0000") and decision.reservation.shares == 0
    stricter = RiskLimits(short_selling=True, short_requirement=D("2"))
    assert accepted(check_new_order(order(side=Side.SELL_SHORT, qty="100", price="100"), margin,
                                    stricter)).reservation.cash == D("20000.0000")
    refused = rejected(check_new_order(order(side=Side.SELL_SHORT, qty="201", price="100"), margin, limits),
                       RiskRule.BUYING_POWER)
    assert refused.text == "insufficient buying power for short sale: required 20100.00, available 20000.00"


# --- fat finger -----------------------------------------------------------------------------------

def test_max_order_quantity() -> None:
    decision = rejected(check_new_order(order(qty="11"), ctx(), RiskLimits(max_order_qty=D(10))),
                        RiskRule.MAX_ORDER_QTY)
    assert decision.text == "max order quantity: 11 exceeds 10"
    assert decision.reason is OrdRejReason.INCORRECT_QUANTITY


def test_max_order_notional() -> None:
    decision = rejected(check_new_order(order(qty="10", price="100"), ctx(), RiskLimits(max_order_notional=D(999))),
                        RiskRule.MAX_ORDER_NOTIONAL)
    assert decision.text == "max order notional: 1000.00 exceeds 999.00"
    assert decision.reason is OrdRejReason.ORDER_EXCEEDS_LIMIT


def test_price_collar_on_aggressive_side_only() -> None:
    decision = rejected(check_new_order(order(price="111"), ctx(), LIMITS), RiskRule.PRICE_COLLAR)
    assert decision.text == "price collar: buy limit 111.00 is 11.00% above reference 100.00 (max 10.00%)"
    accepted(check_new_order(order(price="110"), ctx(), LIMITS))
    accepted(check_new_order(order(price="50"), ctx(), LIMITS))  # passive: harmless
    sell = order(side=Side.SELL, price="89")
    assert "below reference" in rejected(check_new_order(sell, ctx(held="100"), LIMITS), RiskRule.PRICE_COLLAR).text


def test_price_collar_uses_mid_without_last() -> None:
    quote = Quote("AAPL", bid=D("99"), ask=D("101"))
    rejected(check_new_order(order(price="110.01"), ctx(quote=quote), LIMITS), RiskRule.PRICE_COLLAR)


def test_max_open_orders() -> None:
    decision = rejected(check_new_order(order(), ctx(open_orders=3), RiskLimits(max_open_orders=3)),
                        RiskRule.MAX_OPEN_ORDERS)
    assert decision.text == "max open orders: 3 open, limit 3"


def test_position_limit_counts_position_and_open_orders() -> None:
    limits = RiskLimits(max_position_qty=D(100))
    accepted(check_new_order(order(qty="10"), ctx(held="60", open_buy_qty=D(30)), limits))
    decision = rejected(check_new_order(order(qty="11"), ctx(held="60", open_buy_qty=D(30)), limits),
                        RiskRule.POSITION_LIMIT)
    assert decision.text == "position limit: AAPL would reach 101 long, limit 100"
    margin = ctx(account_type=AccountType.MARGIN, held="-95", open_sell_qty=D(0))
    short = order(side=Side.SELL_SHORT, qty="6")
    assert "101 short" in rejected(check_new_order(short, margin, RiskLimits(max_position_qty=D(100),
                                                                            short_selling=True)),
                                   RiskRule.POSITION_LIMIT).text


# --- kill switch, halts, market hours ---------------------------------------------------------------

def test_kill_switch_blocks_new_risk_but_lets_reducing_orders_pass() -> None:
    killed = ctx(held="100", account_killed=True)
    decision = rejected(check_new_order(order(), killed, LIMITS), RiskRule.KILL_SWITCH)
    assert decision.text == ("kill switch: the account's kill switch is engaged; only position-reducing orders pass")
    accepted(check_new_order(order(side=Side.SELL, qty="100"), killed, LIMITS))
    rejected(check_new_order(order(side=Side.SELL, qty="100"), killed, RiskLimits(allow_reducing_when_killed=False)),
             RiskRule.KILL_SWITCH)
    assert "global" in rejected(check_new_order(order(), ctx(global_killed=True), LIMITS), RiskRule.KILL_SWITCH).text


def test_kill_switch_lets_a_short_be_covered() -> None:
    margin = ctx(held="-50", account_type=AccountType.MARGIN, global_killed=True)
    accepted(check_new_order(order(qty="50"), margin, LIMITS))
    rejected(check_new_order(order(qty="51"), margin, LIMITS), RiskRule.KILL_SWITCH)


def test_halt_and_closed_market() -> None:
    assert rejected(check_new_order(order(), ctx(halted=True), LIMITS),
                    RiskRule.TRADING_HALT).reason is OrdRejReason.EXCHANGE_CLOSED
    closed = rejected(check_new_order(order(), ctx(market_open=False, market_note="XNYS is closed"), LIMITS),
                      RiskRule.MARKET_HOURS)
    assert closed.reason is OrdRejReason.EXCHANGE_CLOSED and closed.text == "market closed: XNYS is closed"


def test_limits_refuse_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="max_order_qty"):
        RiskLimits(max_order_qty=D(0))
    with pytest.raises(ValueError, match="price_collar_pct"):
        RiskLimits(price_collar_pct=D("1.5"))
    with pytest.raises(ValueError, match="short_requirement"):
        RiskLimits(short_requirement=D("0.5"))


# --- replace ------------------------------------------------------------------------------------------

def working(qty: str = "100", price: str = "100", filled: str = "0") -> Order:
    o = apply(order(qty=qty, price=price), OrderAccepted())
    return apply(o, OrderFilled("E1", D(filled), D(price))) if D(filled) else o  # type: ignore[arg-type]


def test_replace_checks_only_the_difference_in_buying_power() -> None:
    o = working("100", "100")
    held = OrderReservation(D(100), cash=D("10000"))
    # the account has 10000 blocked by this very order and 500 free
    account = ctx(cash="10500", blocked="10000", open_buy_qty=D(100))
    decision = accepted(check_replace(o, D(105), D(100), account, LIMITS, held))
    assert decision.reservation.cash == D("10500.0000") and decision.extra_cash == D("500.0000")
    refused = rejected(check_replace(o, D(106), D(100), account, LIMITS, held), RiskRule.BUYING_POWER)
    assert refused.text == "insufficient buying power: required 10600.00, available 10500.00"


def test_replace_down_releases_and_passes_even_when_killed() -> None:
    o = working("100", "100", filled="40")
    held = OrderReservation(D(60), cash=D("6000"))
    account = ctx(cash="6000", blocked="6000", open_buy_qty=D(60), account_killed=True)
    decision = accepted(check_replace(o, D(50), D(100), account, LIMITS, held))
    assert decision.reservation == OrderReservation(D(10), cash=D("1000.0000"))
    assert decision.extra_cash == D("-5000.0000")
    rejected(check_replace(o, D(101), D(100), account, LIMITS, held), RiskRule.KILL_SWITCH)


def test_replace_to_executed_quantity_reserves_nothing() -> None:
    o = working("100", "100", filled="40")
    held = OrderReservation(D(60), cash=D("6000"))
    decision = accepted(check_replace(o, D(40), D(100), ctx(cash="6000", blocked="6000"), LIMITS, held))
    assert decision.reservation.is_empty and decision.extra_cash == D(-6000)


def test_replace_rechecks_collar_and_not_open_order_count() -> None:
    o = working()
    held = OrderReservation(D(100), cash=D("10000"))
    account = ctx(cash="20000", blocked="10000", open_orders=1)
    accepted(check_replace(o, D(100), D(101), account, RiskLimits(max_open_orders=1), held))
    rejected(check_replace(o, D(100), D(120), account, LIMITS, held), RiskRule.PRICE_COLLAR)


# --- properties -------------------------------------------------------------------------------------

money = st.decimals(min_value=0, max_value=200_000, places=2)
qtys = st.integers(min_value=1, max_value=5_000)
px = st.decimals(min_value=D("1"), max_value=D("500"), places=2)
BIG = RiskLimits(max_order_qty=D(10**9), max_order_notional=D(10**12), max_position_qty=D(10**9),
                 price_collar_pct=D("0.99"), short_selling=True)


@settings(max_examples=150, deadline=None)
@given(cash=money, blocked=money, held=st.integers(-500, 500), q1=qtys, q2=qtys, price=px,
       account_type=st.sampled_from(list(AccountType)), side=st.sampled_from([Side.BUY, Side.SELL_SHORT]))
def test_a_bigger_order_never_passes_where_a_smaller_fails(
    cash: Decimal, blocked: Decimal, held: int, q1: int, q2: int, price: Decimal, account_type: AccountType,
    side: Side,
) -> None:
    small, big = sorted((q1, q2))
    if account_type is AccountType.CASH:
        held = abs(held)
        blocked = min(blocked, cash)
    context = ctx(cash=str(cash), blocked=str(blocked), held=str(held), account_type=account_type, quote=None)
    smaller = check_new_order(order(side=side, qty=str(small), price=str(price)), context, BIG)
    bigger = check_new_order(order(side=side, qty=str(big), price=str(price)), context, BIG)
    if isinstance(bigger, Accepted):
        assert isinstance(smaller, Accepted)
    if isinstance(smaller, Rejected) and smaller.rule is RiskRule.BUYING_POWER:
        assert isinstance(bigger, Rejected) and bigger.rule is RiskRule.BUYING_POWER
    if isinstance(bigger, Accepted) and account_type is AccountType.CASH:
        # a cash account never blocks more than it has, and the block covers the exposure
        assert bigger.reservation.cash <= cash - blocked
        assert bigger.reservation.cash >= big * price


@settings(max_examples=100, deadline=None)
@given(held=st.integers(0, 1000), held_blocked=st.integers(0, 1000), qty=qtys)
def test_a_sell_passes_exactly_when_unblocked_shares_cover_it(held: int, held_blocked: int, qty: int) -> None:
    held_blocked = min(held_blocked, held)
    decision = check_new_order(order(side=Side.SELL, qty=str(qty)), ctx(held=str(held),
                               held_blocked=str(held_blocked)), BIG)
    assert isinstance(decision, Accepted) == (qty <= held - held_blocked)


@settings(max_examples=150, deadline=None)
@given(cash=money, qty=st.integers(1, 2000), filled=st.integers(0, 2000), new_qty=st.integers(1, 2000), price=px,
       account_type=st.sampled_from(list(AccountType)), side=st.sampled_from([Side.BUY, Side.SELL]))
def test_a_replace_that_shrinks_the_order_never_needs_more_means(
    cash: Decimal, qty: int, filled: int, new_qty: int, price: Decimal, account_type: AccountType, side: Side,
) -> None:
    filled, new_qty = min(filled, qty - 1), min(new_qty, qty)
    new_qty = max(new_qty, filled)
    original = order(side=side, qty=str(qty), price=str(price))
    fresh = ctx(cash=str(cash), held=str(qty), account_type=account_type, quote=None)
    first = check_new_order(original, fresh, BIG)
    if not isinstance(first, Accepted):
        return
    live = apply(original, OrderAccepted())
    held = first.reservation
    if filled:
        live = apply(live, OrderFilled("E1", D(filled), price))  # type: ignore[arg-type]
        held, _ = held.on_fill(D(filled), D(filled) * price)
    # the account now carries this order's block
    blocked_cash, blocked_qty = held.cash, held.shares
    after = ctx(cash=str(cash - filled * price if side is Side.BUY else cash), blocked=str(blocked_cash),
                held=str(qty + filled if side is Side.BUY else qty - filled), held_blocked=str(blocked_qty),
                account_type=account_type, quote=None, open_buy_qty=held.leaves_qty if side is Side.BUY else D(0))
    decision = check_replace(live, D(new_qty), price, after, BIG, held)
    assert isinstance(decision, Accepted), decision
    assert decision.extra_cash <= 0 and decision.extra_shares <= 0
