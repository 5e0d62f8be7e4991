"""Pure cores of the what-if (figures before and after, hand-computed) and of the mass actions (scope, reports)."""

from __future__ import annotations

import itertools
from decimal import Decimal

from gateway.oms.fix_codec import MassCancelCommand, MassStatusCommand
from gateway.oms.margin import MaintenancePolicy
from gateway.oms.mass_actions import mass_cancel_report, mass_status_reports, scope_error, select
from gateway.oms.model import AccountID, ClOrdID, OrderID, OrdRejReason, OrdType, Side, TimeInForce
from gateway.oms.order_fsm import Order, submit
from gateway.oms.risk_config import RiskContext, RiskLimits
from gateway.oms.store import StoredOrder
from gateway.oms.whatif import evaluate
from ledger.fills import AccountType, Position
from ledger.reservations import CashBalance, OrderReservation
from marketdata.quotes import Quote
from refdata.instruments import universe_by_symbol

D = Decimal
INSTRUMENTS = universe_by_symbol()
QUOTE = Quote("AAPL", bid=D("99.90"), ask=D("100.10"), last=D("100.00"))
POLICY = MaintenancePolicy(long_ratio=D("0.30"), short_ratio=D("0.30"))


def order(qty: str = "10", price: str = "100", side: Side = Side.BUY, symbol: str = "AAPL",
          account: str = "A1", cl_ord_id: str = "C1", order_id: str = "O1") -> Order:
    return submit(order_id=OrderID(order_id), cl_ord_id=ClOrdID(cl_ord_id), account_id=AccountID(account),
                  symbol=symbol, side=side, ord_type=OrdType.LIMIT, time_in_force=TimeInForce.DAY, qty=D(qty),
                  price=D(price))


def ctx(cash: str, held: str = "0", account_type: AccountType = AccountType.CASH) -> RiskContext:
    position = Position("AAPL", qty=D(held), cost_basis=abs(D(held)) * 90)
    return RiskContext(account_type=account_type, cash=CashBalance(D(cash)), position=position, quote=QUOTE,
                       positions=(position,), marks={"AAPL": D("100")})


def test_cash_buy_blocks_its_notional_and_keeps_equity() -> None:
    r = evaluate(order("10", "100"), instrument=INSTRUMENTS["AAPL"], ctx=ctx("100000"), limits=RiskLimits(),
                 policy=POLICY, marks={"AAPL": D("100")})
    assert (r.accepted, r.reject_reason, r.blocked_cash, r.blocked_qty) == (True, None, D("1000"), D(0))
    assert (r.buying_power_before, r.buying_power_after) == (D("100000"), D("99000"))
    assert (r.equity_before, r.equity_after) == (D("100000"), D("100000"))  # 1,000 cash became 10 × 100
    assert (r.maintenance_before, r.maintenance_after, r.margin_call_after) == (D(0), D(0), False)


def test_margin_buy_figures() -> None:
    # equity 10,000 + 100 × 100 = 20,000; initial 50% of 10,000; buying power (20,000 − 5,000) / 0.5 = 30,000
    r = evaluate(order("100", "100"), instrument=INSTRUMENTS["AAPL"], ctx=ctx("10000", "100", AccountType.MARGIN),
                 limits=RiskLimits(), policy=POLICY, marks={"AAPL": D("100")})
    assert (r.accepted, r.blocked_cash) == (True, D("10000"))
    assert (r.buying_power_before, r.buying_power_after) == (D("30000"), D("20000"))
    assert (r.equity_before, r.equity_after) == (D("20000"), D("20000"))
    assert (r.maintenance_before, r.maintenance_after, r.margin_call_after) == (D("3000"), D("6000"), False)


def test_margin_call_after_a_fill_far_above_the_mark() -> None:
    # cash 10,000 − 190 × 100 = −9,000; 190 shares marked at 50 = 9,500; equity 500 < 30% × 9,500 = 2,850
    r = evaluate(order("190", "100"), instrument=INSTRUMENTS["AAPL"], ctx=ctx("10000", "0", AccountType.MARGIN),
                 limits=RiskLimits(), policy=POLICY, marks={"AAPL": D("50")})
    assert (r.accepted, r.equity_after, r.maintenance_after, r.margin_call_after) == (True, D("500"), D("2850"),
                                                                                      True)


def test_rejected_what_if_changes_nothing() -> None:
    r = evaluate(order("2000", "100"), instrument=INSTRUMENTS["AAPL"], ctx=ctx("100000"), limits=RiskLimits(),
                 policy=POLICY, marks={"AAPL": D("100")})
    assert (r.accepted, r.reject_reason, r.rule) == (False, OrdRejReason.BROKER_CREDIT, "buying_power")
    assert r.text == "insufficient buying power: required 200000.00, available 100000.00"
    assert (r.blocked_cash, r.buying_power_after, r.equity_after) == (D(0), r.buying_power_before, r.equity_before)
    closed = evaluate(order(), instrument=INSTRUMENTS["AAPL"], ctx=ctx("100000"), limits=RiskLimits(),
                      policy=POLICY, marks={}, account_status="closed")
    assert (closed.reject_reason, closed.text) == (OrdRejReason.UNKNOWN_ACCOUNT, "account A1 is closed")


def test_mass_scope_errors() -> None:
    accounts = frozenset({"A1", "A2"})
    assert scope_error("7", None, None, accounts, INSTRUMENTS, 530) is None
    assert scope_error("1", "AAPL", "A2", accounts, INSTRUMENTS, 530) is None
    unsupported = scope_error("4", None, None, accounts, INSTRUMENTS, 530)
    assert unsupported is not None and (unsupported.cancel_reason, unsupported.business_reason) == ("0", 0)
    no_symbol = scope_error("1", None, None, accounts, INSTRUMENTS, 585)
    assert no_symbol is not None and (no_symbol.cancel_reason, no_symbol.text) == ("1", "585=1 needs Symbol (55)")
    foreign = scope_error("7", None, "B9", accounts, INSTRUMENTS, 530)
    assert foreign is not None and (foreign.cancel_reason, foreign.business_reason) == ("99", 6)


def _stored(o: Order, session: str) -> StoredOrder:
    return StoredOrder(o, session, o.cl_ord_id, OrderReservation(o.qty))


def ids(orders: list[Order]) -> list[str]:
    return [o.order_id for o in orders]


def test_select_takes_the_sessions_orders_in_scope_only() -> None:
    mine = [order(symbol="AAPL", account="A1", order_id="O1"), order(symbol="MSFT", account="A1", order_id="O2"),
            order(symbol="AAPL", account="A2", order_id="O3"),
            order(symbol="AAPL", account="A1", side=Side.SELL, order_id="O4")]
    stored = [_stored(o, "S1") for o in mine] + [_stored(order(order_id="X1"), "S2")]
    assert ids(select(stored, "S1", "7", None, None, None)) == ["O1", "O2", "O3", "O4"]
    assert ids(select(stored, "S1", "1", "AAPL", None, None)) == ["O1", "O3", "O4"]
    assert ids(select(stored, "S1", "1", "AAPL", Side.BUY, "A1")) == ["O1"]
    assert ids(select(stored, "S1", "7", "AAPL", None, "A2")) == ["O3"]  # 7: the symbol does not narrow


def test_mass_reports() -> None:
    cmd = MassCancelCommand(ClOrdID("MC"), "1", "AAPL", None, "A1")
    orders = [order(cl_ord_id="C1", order_id="O1"), order(cl_ord_id="C2", order_id="O2")]
    fields, entries = mass_cancel_report(cmd, "M1", orders)
    tags = dict(fields)
    assert (tags[11], tags[37], tags[530], tags[531], tags[533], tags[55]) == ("MC", "M1", "1", "1", "2", "AAPL")
    assert 532 not in tags and 1 not in tags
    assert entries == [[(41, "C1"), (535, "O1")], [(41, "C2"), (535, "O2")]]
    counter = itertools.count()
    status = MassStatusCommand("R1", "7", None, None, None)
    reports = [dict(r) for r in mass_status_reports(status, orders, lambda: f"S{next(counter)}")]
    assert [(r[37], r[150], r[584], r[911], r[912]) for r in reports] == [("O1", "I", "R1", "2", "N"),
                                                                        ("O2", "I", "R1", "2", "Y")]
    (empty,) = [dict(r) for r in mass_status_reports(status, [], lambda: "S")]
    assert (empty[37], empty[150], empty[39], empty[911], empty[912]) == ("NONE", "I", "8", "0", "Y")
    assert 103 not in empty
