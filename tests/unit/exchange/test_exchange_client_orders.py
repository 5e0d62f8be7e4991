"""Session orders → ExecutionReports / cancel rejects (FIX 4.4 Appendix D), and the Decimal boundary."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchange import carry_over
from exchange.client_orders import ChangeRequest, ClientOrders, OrderRequest
from exchange.events import BUY, SELL, OrderRejected, OrdType, RejectReason, TimeInForce
from exchange.reports import CancelReject, ExecIds, ExecReport, Outbound
from exchange.simulation import Simulation, SimulationConfig
from exchange.venue import NewOrder, Venue
from refdata.instruments import universe_by_symbol

GW = "FIX.4.4:EXCHANGE->GATEWAY"


@pytest.fixture
def desk() -> ClientOrders:
    by_symbol = universe_by_symbol()
    sim = Simulation([by_symbol["AAPL"], by_symbol["MSFT"]], SimulationConfig(seed=9, taker_probability=0.0))
    sim.open()
    return ClientOrders(sim, ExecIds(7))


def ers(out: list[Outbound]) -> list[ExecReport]:
    assert all(isinstance(o, ExecReport) for o in out)
    return out  # type: ignore[return-value]


def codes(out: list[Outbound]) -> list[tuple[str, str]]:
    return [(r.exec_type, r.ord_status) for r in ers(out)]


def test_new_fill_and_ioc_sweep(desk: ClientOrders) -> None:
    engine = desk.sim.venue.engines["MSFT"]
    bid = desk.sim.venue.price("MSFT", engine.book.best_bid() or 0)
    out = desk.new_order(GW, OrderRequest("s1", "MSFT", "2", "2", "1", Decimal(300), bid))
    # a sell at the best bid trades against the maker's 1,000-share level: filled at once
    assert codes(out) == [("0", "0"), ("F", "2")]
    last = ers(out)[-1]
    assert (last.last_qty, last.last_px, last.cum_qty, last.leaves_qty, last.avg_px) == \
        (Decimal(300), bid, Decimal(300), Decimal(0), bid)
    assert last.last_liquidity_ind == "2" and last.order_qty == 300
    own_bid = bid - Decimal("5.00")
    out = desk.new_order(GW, OrderRequest("b1", "MSFT", "1", "2", "1", Decimal(200), own_bid))
    assert codes(out) == [("0", "0")]
    out = desk.new_order(GW, OrderRequest("s2", "MSFT", "2", "2", "3", Decimal(150), own_bid))
    # the IOC sweeps the makers' bids first, then our resting bid; its remainder is canceled
    by_order: dict[str, list[tuple[str, str]]] = {}
    for r in ers(out):
        by_order.setdefault(r.cl_ord_id, []).append((r.exec_type, r.ord_status))
    assert by_order["s2"][0] == ("0", "0") and by_order["s2"][-1][0] in ("F", "4")
    exec_ids = [r.exec_id for r in ers(out)]
    assert all(e.startswith("7-") for e in exec_ids) and len(set(exec_ids)) == len(exec_ids)


def test_partial_fill_then_cancel_reports(desk: ClientOrders) -> None:
    engine = desk.sim.venue.engines["AAPL"]
    ask = desk.sim.venue.price("AAPL", engine.book.best_ask() or 0)
    depth = engine.book.asks.depth(1)[0][1]
    out = desk.new_order(GW, OrderRequest("b1", "AAPL", "1", "2", "1", Decimal(depth + 400), ask))
    assert codes(out) == [("0", "0"), ("F", "1")]
    assert ers(out)[-1].leaves_qty == 400
    out = desk.cancel(GW, ChangeRequest("b1-c", "b1", "AAPL", "1"))
    [canceled] = ers(out)
    assert (canceled.exec_type, canceled.ord_status, canceled.cl_ord_id, canceled.orig_cl_ord_id) == \
        ("4", "4", "b1-c", "b1")
    assert canceled.cum_qty == depth and canceled.leaves_qty == 0 and canceled.avg_px == ask
    [too_late] = desk.cancel(GW, ChangeRequest("b1-c2", "b1-c", "AAPL", "1"))
    assert isinstance(too_late, CancelReject) and (too_late.reason, too_late.ord_status) == (0, "4")


def test_replace_reports_and_rejects(desk: ClientOrders) -> None:
    out = desk.new_order(GW, OrderRequest("r1", "AAPL", "1", "2", "0", Decimal(500), Decimal("1.00")))
    order_id = ers(out)[0].order_id
    [replaced] = ers(desk.replace(GW, ChangeRequest("r2", "r1", "AAPL", "1", Decimal(300), Decimal("1.00"),
                                                    ord_type="2", time_in_force="0")))
    assert (replaced.exec_type, replaced.ord_status, replaced.order_qty, replaced.leaves_qty) == \
        ("5", "0", Decimal(300), Decimal(300))
    assert (replaced.order_id, replaced.cl_ord_id, replaced.orig_cl_ord_id) == (order_id, "r2", "r1")
    bad_tick = desk.replace(GW, ChangeRequest("r3", "r2", "AAPL", "1", Decimal(300), Decimal("1.001")))
    assert isinstance(bad_tick[0], CancelReject) and bad_tick[0].response_to == "2" and bad_tick[0].reason == 99
    wrong_side = desk.replace(GW, ChangeRequest("r4", "r2", "AAPL", "2", Decimal(300), Decimal("1.00")))
    assert isinstance(wrong_side[0], CancelReject) and "not supported" in wrong_side[0].text
    dup = desk.replace(GW, ChangeRequest("r1", "r2", "AAPL", "1", Decimal(300), Decimal("1.00")))
    assert isinstance(dup[0], CancelReject) and dup[0].reason == 6
    [status] = ers(desk.status(GW, "r2", "AAPL", "1"))
    assert (status.exec_type, status.ord_status, status.leaves_qty) == ("I", "0", Decimal(300))
    [unknown] = ers(desk.status(GW, "nope", "AAPL", "1"))
    assert (unknown.exec_type, unknown.ord_status, unknown.order_id) == ("I", "8", "NONE")


def test_new_order_rejects(desk: ClientOrders) -> None:
    cases = {
        "u": (OrderRequest("u", "ZZZZ", "1", "2", "0", Decimal(100), Decimal(1)), 1),
        "t": (OrderRequest("t", "AAPL", "1", "2", "0", Decimal(100), Decimal("1.005")), 18),
        "z": (OrderRequest("z", "AAPL", "1", "2", "0", Decimal(0), Decimal(1)), 13),
        "o": (OrderRequest("o", "AAPL", "1", "P", "0", Decimal(100), Decimal(1)), 11),
        "s": (OrderRequest("s", "AAPL", "7", "2", "0", Decimal(100), Decimal(1)), 11),
        "g": (OrderRequest("g", "AAPL", "1", "2", "6", Decimal(100), Decimal(1)), 11),
        "p": (OrderRequest("p", "AAPL", "1", "2", "0", Decimal(100)), 99),
    }
    for cl_ord_id, (request, reason) in cases.items():
        [report] = ers(desk.new_order(GW, request))
        assert (report.exec_type, report.ord_status, report.ord_rej_reason) == ("8", "8", reason), cl_ord_id
        assert report.text
    [dup] = ers(desk.new_order(GW, cases["u"][0]))
    assert dup.ord_rej_reason == 6


def test_stop_order_reports_trigger(desk: ClientOrders) -> None:
    engine = desk.sim.venue.engines["AAPL"]
    ask = desk.sim.venue.price("AAPL", engine.book.best_ask() or 0)
    out = desk.new_order(GW, OrderRequest("st", "AAPL", "1", "3", "0", Decimal(100), stop_px=ask))
    assert codes(out) == [("0", "0")]
    out = desk.new_order(GW, OrderRequest("go", "AAPL", "1", "1", "0", Decimal(100)))
    kinds = [(r.cl_ord_id, r.exec_type) for r in ers(out)]
    assert ("st", "L") in kinds and ("st", "F") in kinds


def test_venue_checks_tick_and_lot_at_the_boundary() -> None:
    venue = Venue.from_specs([("X", Decimal("0.05"), 100)])

    def reason(qty: str, price: str | None) -> RejectReason | None:
        event = venue.submit(NewOrder("X", BUY, OrdType.LIMIT, TimeInForce.DAY, Decimal(qty),
                                      None if price is None else Decimal(price)))[0]
        return event.reason if isinstance(event, OrderRejected) else None

    assert reason("100", "10.05") is None
    assert reason("100", "10.03") is RejectReason.INVALID_PRICE_INCREMENT
    assert reason("150", "10.05") is RejectReason.NOT_LOT_MULTIPLE
    assert reason("100.5", "10.05") is RejectReason.INCORRECT_QUANTITY
    assert reason("-100", "10.05") is RejectReason.INCORRECT_QUANTITY
    assert reason("100", "-10.05") is RejectReason.NON_POSITIVE_PRICE
    assert reason("100", "NaN") is RejectReason.NON_POSITIVE_PRICE
    assert reason("100", None) is RejectReason.MISSING_PRICE
    other = venue.submit(NewOrder("Y", SELL, OrdType.LIMIT, TimeInForce.DAY, Decimal(100), Decimal(1)))[0]
    assert isinstance(other, OrderRejected) and other.reason is RejectReason.UNKNOWN_SYMBOL
    assert venue.avg_px("X", 300, 100 * (201 + 202 + 203)) == Decimal("10.10")


def test_open_orders_carry_over_a_clean_restart(desk: ClientOrders) -> None:
    engine = desk.sim.venue.engines["AAPL"]
    ask = desk.sim.venue.price("AAPL", engine.book.best_ask() or 0)
    depth = engine.book.asks.depth(1)[0][1]
    desk.new_order(GW, OrderRequest("part", "AAPL", "1", "2", "1", Decimal(depth + 300), ask))
    desk.new_order(GW, OrderRequest("stop", "AAPL", "2", "3", "0", Decimal(100), stop_px=Decimal("1.00")))
    desk.new_order(GW, OrderRequest("done", "AAPL", "1", "1", "0", Decimal(100)))
    desk.replace(GW, ChangeRequest("part-2", "part", "AAPL", "1", Decimal(depth + 200), ask))
    saved = json.loads(json.dumps(carry_over.open_orders(desk)))
    assert sorted(r["cl_ord_id"] for r in saved["orders"]) == ["part-2", "stop"]

    by_symbol = universe_by_symbol()
    sim = Simulation([by_symbol["AAPL"], by_symbol["MSFT"]], SimulationConfig(seed=10, taker_probability=0.0))
    sim.open()
    fresh = ClientOrders(sim, ExecIds(8))
    restored = ers(carry_over.restore(fresh, saved))
    part = fresh.by_clordid[(GW, "part")]
    assert fresh.by_clordid[(GW, "part-2")] is part and part.qty == depth + 200
    # re-entered into the new market it may trade at once: reported, with CumQty counting the old fills
    fills = [r for r in restored if r.cl_ord_id == "part-2"]
    assert part.cum == depth + sum((r.last_qty or 0) for r in fills)
    assert all(r.cum_qty > depth for r in fills)
    assert sim.venue.engines["AAPL"].order(fresh.by_clordid[(GW, "stop")].order_id) is not None
    assert sim.venue.next_order_id >= saved["next_order_id"]
    [canceled] = ers(fresh.cancel(GW, ChangeRequest("stop-c", "stop", "AAPL", "2")))
    stop_id = next(r["order_id"] for r in saved["orders"] if r["cl_ord_id"] == "stop")
    assert (canceled.exec_type, canceled.cum_qty, canceled.order_id) == ("4", Decimal(0), str(stop_id))
    sim.venue.engines["AAPL"].check_invariants()
    with pytest.raises(ValueError, match="format"):
        carry_over.restore(fresh, {"format": 99})
