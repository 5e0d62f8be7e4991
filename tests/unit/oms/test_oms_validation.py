"""Order validation against the instrument, the composed entry decision, and configuration from settings."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from brokerage.settings import Settings
from gateway.oms.admission import DuplicateOrder, ReportStatus
from gateway.oms.config import maintenance_policy, rate_limit, risk_limits
from gateway.oms.entry import decide_new_order
from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdRejReason, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import Order, submit
from gateway.oms.risk_config import Accepted, Rejected, RiskContext, RiskLimits, RiskRule
from gateway.oms.validation import validate_order
from ledger.fills import AccountType, Position
from ledger.reservations import CashBalance
from marketdata.quotes import Quote
from refdata.instruments import Instrument

D = Decimal
AAPL = Instrument("AAPL", "Apple Inc.", "NASDAQ", "Technology", "USD", D("100"), D("0.01"), 1, D(10**12))
PENNY = Instrument("PNY", "Penny Corp", "NYSE", "Other", "USD", D("0.5"), D("0.0001"), 100, D(10**8))


def order(qty: str = "10", price: str | None = "100.01", ord_type: OrdType = OrdType.LIMIT,
          tif: TimeInForce = TimeInForce.DAY, symbol: str = "AAPL", stop_px: str | None = None) -> Order:
    return submit(order_id=OrderID("O1"), cl_ord_id=ClOrdID("C1"), account_id=AccountID("A1"), symbol=symbol,
                  side=Side.BUY, ord_type=ord_type, time_in_force=tif, qty=D(qty),
                  price=D(price) if price else None, stop_px=D(stop_px) if stop_px else None)


def rule(decision: object) -> RiskRule:
    assert isinstance(decision, Rejected), decision
    return decision.rule


def test_valid_order_passes() -> None:
    assert validate_order(order(), AAPL) is None
    assert validate_order(order(qty="300", price="0.4321", symbol="PNY"), PENNY) is None


def test_unknown_symbol() -> None:
    decision = validate_order(order(symbol="ZZZZ"), None)
    assert isinstance(decision, Rejected) and decision.reason is OrdRejReason.UNKNOWN_SYMBOL
    assert decision.text == "unknown symbol: ZZZZ"


def test_lot_and_tick_sizes() -> None:
    decision = validate_order(order(qty="150", price="0.4321", symbol="PNY"), PENNY)
    assert isinstance(decision, Rejected) and decision.reason is OrdRejReason.INCORRECT_QUANTITY
    assert decision.text == "invalid quantity: 150 is not a multiple of the lot size 100 of PNY"
    assert rule(validate_order(order(qty="1.5"), AAPL)) is RiskRule.LOT_SIZE
    decision = validate_order(order(price="100.005"), AAPL)
    assert isinstance(decision, Rejected)
    assert decision.text == "invalid price: price 100.005 is not on the tick size 0.01 of AAPL"
    stop = order(ord_type=OrdType.STOP_LIMIT, price="100.01", stop_px="99.999")
    assert rule(validate_order(stop, AAPL)) is RiskRule.TICK_SIZE
    assert rule(validate_order(order(price="1E+40"), AAPL)) is RiskRule.TICK_SIZE


def test_market_gtc_is_unsupported() -> None:
    decision = validate_order(order(price=None, ord_type=OrdType.MARKET, tif=TimeInForce.GTC), AAPL)
    assert isinstance(decision, Rejected) and decision.reason is OrdRejReason.UNSUPPORTED_ORDER_CHARACTERISTIC
    assert validate_order(order(price=None, ord_type=OrdType.MARKET, tif=TimeInForce.IOC), AAPL) is None


def context(cash: str = "100000") -> RiskContext:
    return RiskContext(AccountType.CASH, CashBalance(D(cash)), Position("AAPL"),
                       Quote("AAPL", bid=D(100), ask=D("100.02"), last=D("100.01")))


def test_entry_decision_runs_admission_then_validation_then_risk() -> None:
    limits = RiskLimits()
    fresh = order()
    accepted = decide_new_order(fresh, existing=None, poss_resend=False, instrument=AAPL, ctx=context(),
                                limits=limits)
    assert isinstance(accepted, Accepted) and accepted.reservation.cash == D("1000.1000")
    assert isinstance(decide_new_order(fresh, existing=fresh, poss_resend=False, instrument=None, ctx=context("0"),
                                       limits=limits), DuplicateOrder)
    assert decide_new_order(fresh, existing=fresh, poss_resend=True, instrument=AAPL, ctx=context(),
                            limits=limits) == ReportStatus(fresh)
    assert rule(decide_new_order(fresh, existing=None, poss_resend=False, instrument=None, ctx=context("0"),
                                 limits=limits)) is RiskRule.UNKNOWN_SYMBOL
    assert rule(decide_new_order(fresh, existing=None, poss_resend=False, instrument=AAPL, ctx=context("0"),
                                 limits=limits)) is RiskRule.BUYING_POWER


def test_configuration_from_settings() -> None:
    settings = Settings(risk_max_order_qty=D(5), margin_initial_ratio=D("0.6"), fix_rate_limit_per_second=7,
                        margin_call_grace_seconds=60)
    limits = risk_limits(settings, short_selling=True)
    assert limits.max_order_qty == 5 and limits.short_selling and limits.margin.initial_ratio == D("0.6")
    assert limits.market_order_collar_pct == settings.market_order_collar_pct
    assert rate_limit(settings).messages_per_second == 7
    assert maintenance_policy(settings).grace_period == timedelta(minutes=1)
