"""One symbol's limit order book: price levels keyed by integer ticks, FIFO queues, an id map.

Each side keeps its level prices in a sorted list of *keys* with the best level last, so that the
best price is ``keys[-1]`` and removing an exhausted best level is an O(1) ``pop()``: bids use
key = price, asks key = -price. Each level is a deque in arrival order. A canceled order is only
marked dead (O(1)) and skipped when it reaches the front; the level's live quantity is kept exact
and a level whose live quantity reaches zero leaves the book at once. Dead entries are compacted
when they outnumber live ones, so a long-lived front order cannot make a queue grow without bound.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque

from exchange.events import BUY


class Order:
    """A live order as the engine sees it (mutable; never leaves the engine)."""

    __slots__ = (
        "cum",
        "leaves",
        "live",
        "notional",
        "ord_type",
        "order_id",
        "owner",
        "price",
        "qty",
        "seq",
        "side",
        "stop_px",
        "stp",
        "tif",
        "trail",
    )

    def __init__(self, order_id: int, side: int, ord_type: int, tif: int, qty: int,
                 price: int | None, stop_px: int | None, seq: int) -> None:
        self.order_id = order_id
        self.side = side
        self.ord_type = ord_type
        self.tif = tif
        self.qty = qty
        self.leaves = qty
        self.cum = 0
        self.notional = 0  # Σ last_px × last_qty, in ticks × shares
        self.price = price
        self.stop_px = stop_px
        self.seq = seq  # time priority: lower is earlier
        self.live = True
        self.owner: str | None = None  # the FIX account (tag 1) self-trade prevention compares; None: never
        self.stp = 1  # SelfTradePrevention mode when this order is the incoming one (1: cancel newest)
        self.trail = 0  # trailing stop: distance in ticks between the best price seen and stop_px


class Level:
    __slots__ = ("dead", "orders", "price", "qty")

    def __init__(self, price: int) -> None:
        self.price = price
        self.orders: deque[Order] = deque()
        self.qty = 0  # live leaves quantity at this price
        self.dead = 0  # dead entries still in the deque


class BookSide:
    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 bids, -1 asks: key = sign × price, best key last
        self.keys: list[int] = []
        self.levels: dict[int, Level] = {}

    def best_price(self) -> int | None:
        return self.keys[-1] * self.sign if self.keys else None

    def add(self, order: Order) -> None:
        price = order.price
        assert price is not None
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            key = self.sign * price
            keys = self.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.orders.append(order)
        level.qty += order.leaves

    def remove(self, order: Order) -> None:
        """Take a live resting order off this side (cancel, or replace that loses priority)."""
        price = order.price
        assert price is not None
        level = self.levels[price]
        order.live = False
        level.qty -= order.leaves
        if level.qty == 0:
            self.drop_level(level)
            return
        level.dead += 1
        if level.dead * 2 > len(level.orders):
            level.orders = deque(o for o in level.orders if o.live)
            level.dead = 0

    def fill_resting(self, order: Order, qty: int, price: int) -> bool:
        """Execute ``qty`` of a resting order at ``price`` outside the continuous match (the closing auction);
        True when it is filled and has left this side."""
        level = self.levels[order.price]  # type: ignore[index]
        order.leaves -= qty
        order.cum += qty
        order.notional += qty * price
        level.qty -= qty
        if order.leaves:
            return False
        order.live = False
        if level.qty == 0:
            self.drop_level(level)
        else:
            level.dead += 1
            if level.dead * 2 > len(level.orders):
                level.orders = deque(o for o in level.orders if o.live)
                level.dead = 0
        return True

    def drop_level(self, level: Level) -> None:
        del self.levels[level.price]
        key = self.sign * level.price
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def depth(self, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels as (price ticks, quantity), best first."""
        sign, levels = self.sign, self.levels
        return [(k * sign, levels[k * sign].qty) for k in reversed(self.keys[-n:])] if n > 0 else []

    def available(self, limit_key: int | None, wanted: int) -> int:
        """Quantity resting at keys ≥ ``limit_key`` (all if None), counting only up to ``wanted``."""
        total = 0
        levels, sign = self.levels, self.sign
        for key in reversed(self.keys):
            if limit_key is not None and key < limit_key:
                break
            total += levels[key * sign].qty
            if total >= wanted:
                break
        return total


class OrderBook:
    __slots__ = ("asks", "bids", "orders")

    def __init__(self) -> None:
        self.bids = BookSide(1)
        self.asks = BookSide(-1)
        self.orders: dict[int, Order] = {}  # resting orders by id

    def side_of(self, side: int) -> BookSide:
        return self.bids if side == BUY else self.asks

    def best_bid(self) -> int | None:
        return self.bids.best_price()

    def best_ask(self) -> int | None:
        return self.asks.best_price()

    def check_invariants(self) -> None:
        """Raise AssertionError if the book's internal state is inconsistent (for tests and debugging)."""
        bid, ask = self.best_bid(), self.best_ask()
        assert bid is None or ask is None or bid < ask, f"crossed book: bid {bid} >= ask {ask}"
        seen: set[int] = set()
        for side in (self.bids, self.asks):
            assert side.keys == sorted(side.keys), "level keys out of order"
            assert len(side.keys) == len(set(side.keys)) == len(side.levels), "level index mismatch"
            for key in side.keys:
                level = side.levels[key * side.sign]
                live = [o for o in level.orders if o.live]
                assert live, f"empty level {level.price} left in the book"
                assert level.qty == sum(o.leaves for o in live), f"level {level.price} quantity drift"
                assert level.dead == len(level.orders) - len(live), f"dead count drift at {level.price}"
                seqs = [o.seq for o in live]
                assert seqs == sorted(seqs), f"time priority broken at {level.price}"
                for o in live:
                    assert o.price == level.price and o.leaves > 0, f"order {o.order_id} misplaced"
                    assert (o.side == BUY) == (side is self.bids), f"order {o.order_id} on the wrong side"
                    assert self.orders.get(o.order_id) is o, f"order {o.order_id} missing from id map"
                    assert o.cum + o.leaves == o.qty, f"order {o.order_id} quantity not conserved"
                    seen.add(o.order_id)
        assert seen == set(self.orders), "id map holds orders that are not on the book"
