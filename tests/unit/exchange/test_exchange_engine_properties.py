"""Properties of the matching engine under random command sequences (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.events import (
    BUY,
    SELL,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderReplaced,
    OrdType,
    StopTriggered,
    TimeInForce,
)
from exchange.matching import MatchingEngine

new_order = st.tuples(
    st.just("new"),
    st.sampled_from([BUY, SELL]),
    st.sampled_from(list(OrdType)),
    st.sampled_from(list(TimeInForce)),
    st.integers(1, 8).map(lambda n: n * 50),
    st.integers(95, 105),
    st.integers(95, 105),
)
cancel = st.tuples(st.just("cancel"), st.integers(0, 40))
replace = st.tuples(st.just("replace"), st.integers(0, 40), st.integers(1, 8).map(lambda n: n * 50),
                    st.integers(95, 105), st.integers(95, 105))
eod = st.tuples(st.just("eod"))
commands = st.lists(st.one_of(new_order, new_order, new_order, cancel, replace, eod), max_size=80)


@dataclass
class Ledger:
    """What the event stream says about each order, to check conservation against the book."""

    qty: dict[int, int] = field(default_factory=dict)
    filled: dict[int, int] = field(default_factory=dict)
    removed: dict[int, int] = field(default_factory=dict)  # canceled or expired

    def apply(self, events: list[Event]) -> None:
        for e in events:
            if isinstance(e, OrderAccepted):
                self.qty[e.order_id] = e.leaves
            elif isinstance(e, OrderReplaced):
                self.qty[e.order_id] = e.qty
            elif isinstance(e, OrderFilled):
                self.filled[e.order_id] = self.filled.get(e.order_id, 0) + e.last_qty
                assert e.cum == self.filled[e.order_id]
            elif isinstance(e, OrderCanceled | OrderExpired):
                gone = e.canceled_qty if isinstance(e, OrderCanceled) else e.expired_qty
                self.removed[e.order_id] = self.removed.get(e.order_id, 0) + gone


def priority_queue(engine: MatchingEngine, side: int) -> list[tuple[int, int]]:
    """(order id, leaves) of the side an aggressor on ``side`` would hit, in the order it must hit them."""
    book_side = engine.book.asks if side == BUY else engine.book.bids
    out = []
    for key in reversed(book_side.keys):
        level = book_side.levels[key * book_side.sign]
        out += [(o.order_id, o.leaves) for o in level.orders if o.live]
    return out


def check_priority(before: list[tuple[int, int]], events: list[Event], aggressor: int) -> None:
    hits = [e for e in events if isinstance(e, OrderFilled) and not e.aggressor]
    # each passive fill must be against the next order in price-time priority
    position, used = 0, 0
    for fill in hits:
        oid, leaves = before[position]
        if used == leaves:
            position, used = position + 1, 0
            oid, leaves = before[position]
        assert fill.order_id == oid, f"filled {fill.order_id} before {oid}"
        used += fill.last_qty
        assert used <= leaves
    assert all(e.order_id == aggressor for e in events if isinstance(e, OrderFilled) and e.aggressor)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands)
def test_book_stays_consistent_and_quantity_is_conserved(cmds: list[tuple[Any, ...]]) -> None:
    engine = MatchingEngine(lot_size=50)
    ledger = Ledger()
    next_id = 0
    for cmd in cmds:
        if cmd[0] == "new":
            _, side, ord_type, tif, qty, price, stop = cmd
            next_id += 1
            before = priority_queue(engine, side)
            events = engine.submit(next_id, side, ord_type, tif, qty, price, stop)
            if not any(isinstance(e, StopTriggered) for e in events):
                check_priority(before, events, next_id)
            if tif in (TimeInForce.IOC, TimeInForce.FOK) or ord_type == OrdType.MARKET:
                assert next_id not in engine.book.orders, "IOC/FOK/market order rested"
            if tif == TimeInForce.FOK and ord_type in (OrdType.MARKET, OrdType.LIMIT):
                filled = sum(e.last_qty for e in events if isinstance(e, OrderFilled) and e.order_id == next_id)
                assert filled in (0, qty), "fill-or-kill partly filled"
        elif cmd[0] == "cancel":
            events = engine.cancel(cmd[1])
        elif cmd[0] == "replace":
            _, oid, qty, price, stop = cmd
            events = engine.replace(oid, qty, price, stop)
        else:
            events = engine.end_of_day()
        ledger.apply(events)
        engine.check_invariants()
        book, ask = engine.book.best_bid(), engine.book.best_ask()
        assert book is None or ask is None or book < ask
    for oid, qty in ledger.qty.items():
        live = engine.order(oid)
        leaves = live.leaves if live is not None else 0
        assert ledger.filled.get(oid, 0) + leaves + ledger.removed.get(oid, 0) == qty, f"order {oid} not conserved"
    for oid in engine.book.orders:
        assert engine.book.orders[oid].tif in (TimeInForce.DAY, TimeInForce.GTC)


@settings(max_examples=60, deadline=None)
@given(commands)
def test_same_commands_same_events(cmds: list[tuple[Any, ...]]) -> None:
    def run() -> list[Event]:
        engine, out, next_id = MatchingEngine(lot_size=50), [], 0
        for cmd in cmds:
            if cmd[0] == "new":
                next_id += 1
                out += engine.submit(next_id, *cmd[1:])
            elif cmd[0] == "cancel":
                out += engine.cancel(cmd[1])
            elif cmd[0] == "replace":
                out += engine.replace(*cmd[1:])
            else:
                out += engine.end_of_day()
        return out

    assert run() == run()
