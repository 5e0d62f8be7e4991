"""The matching engine of one symbol: price-time priority, pure (no I/O, no clock), deterministic.

Every call returns the list of events it caused, in order. Integer ticks and shares throughout; the
caller supplies order ids (unique per engine). Semantics worth knowing:

* Market orders never rest: a market order with nothing on the opposite side is *rejected*
  (NO_LIQUIDITY, nothing happened); one that runs out of liquidity part-way is accepted, filled as
  far as possible and its remainder *canceled* (NO_LIQUIDITY).
* IOC and FOK never rest: IOC cancels its remainder, FOK cancels in full unless the whole quantity is
  available at acceptable prices when it arrives.
* Stop and stop-limit orders trigger on the last trade price (buy: a trade at or above the stop;
  sell: at or below), including every price traded during a sweep; a stop that is already through
  the last trade when it arrives triggers at once. Triggered orders then act as market/limit orders,
  in the order they were entered, and may trigger further stops.
* Replace: lowering the quantity at the same price keeps time priority; a price change or a
  quantity increase loses it (the order re-enters, and may trade, as if new). The new quantity is
  the order's total and must stay above what is already filled.
* Day orders (resting or stop) expire on an explicit ``end_of_day()``; GTC orders stay.
* Trailing stops (``OrdType.TRAILING_STOP``, ``trail`` ticks) park like stops; the stop starts ``trail``
  from the last trade (else the touch on the side that would trigger it) and follows the best price each
  command traded (sell: highest − trail, buy: lowest + trail), never back. Stops are first checked against
  every price the command traded, then trailing stops move, then a moved stop already through the last trade
  triggers. Triggered, a trailing stop is a market order (a limit one if it carries ``price``).
* At-the-close orders (``TimeInForce.AT_THE_CLOSE``: market- and limit-on-close) wait outside the book for
  ``end_of_day()``, which first runs the closing auction: the close orders and every resting order uncross at
  one price (``exchange.auction``), market orders first, then by price and time; what a close order has left
  afterwards expires with the Day orders. Stops are not triggered by the closing print.
* Self-trade prevention: an incoming order with an ``owner`` (the FIX account) that would match a resting
  order of the same owner applies its own ``stp`` mode: cancel newest (its remainder), cancel oldest (the
  resting order; matching goes on) or cancel both. Not applied in the closing auction.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

from exchange.auction import uncross
from exchange.book import Order, OrderBook
from exchange.events import (
    BUY,
    SELL,
    CancelReason,
    CancelRejected,
    CancelRejectReason,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrdType,
    RejectReason,
    SelfTradePrevention,
    StopTriggered,
    TimeInForce,
)

_MARKET, _LIMIT, _STOP, _STOP_LIMIT = OrdType.MARKET, OrdType.LIMIT, OrdType.STOP, OrdType.STOP_LIMIT
_DAY, _GTC, _IOC, _FOK = TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
_CLOSE, _TRAILING = TimeInForce.AT_THE_CLOSE, OrdType.TRAILING_STOP
_STP_NEWEST, _STP_OLDEST = SelfTradePrevention.CANCEL_NEWEST, SelfTradePrevention.CANCEL_OLDEST
_STP_REASON = {SelfTradePrevention.CANCEL_NEWEST: CancelReason.SELF_TRADE_NEWEST,
               SelfTradePrevention.CANCEL_OLDEST: CancelReason.SELF_TRADE_OLDEST,
               SelfTradePrevention.CANCEL_BOTH: CancelReason.SELF_TRADE_BOTH}
_STP_MODES = frozenset(int(m) for m in SelfTradePrevention)
_ORD_TYPES = frozenset(int(t) for t in OrdType)
_TIFS = frozenset(int(t) for t in TimeInForce)
_BIG = 1 << 62


class MatchingEngine:
    __slots__ = (
        "_hi",
        "_lo",
        "book",
        "buy_stops",
        "close_orders",
        "last_px",
        "last_qty",
        "lot_size",
        "match_id",
        "sell_stops",
        "seq",
        "stops",
        "trade_count",
        "trailing",
        "volume",
    )

    def __init__(self, lot_size: int = 1) -> None:
        self.lot_size = lot_size
        self.book = OrderBook()
        self.stops: dict[int, Order] = {}  # untriggered stop orders by id
        self.buy_stops: list[tuple[int, int, int]] = []  # (stop_px, seq, order_id), ascending
        self.sell_stops: list[tuple[int, int, int]] = []
        self.trailing: dict[int, Order] = {}  # the parked trailing stops (also in ``stops``)
        self.close_orders: dict[int, Order] = {}  # at-the-close orders awaiting the auction, in time priority
        self.seq = 0
        self.match_id = 0
        self.last_px: int | None = None
        self.last_qty = 0
        self.volume = 0
        self.trade_count = 0
        self._hi: int | None = None  # highest / lowest price traded since stops were last checked
        self._lo: int | None = None

    # Commands ----------------------------------------------------------------------------------
    def submit(self, order_id: int, side: int, ord_type: int, tif: int, qty: int,
               price: int | None = None, stop_px: int | None = None, *, owner: str | None = None,
               stp: int = 1, trail: int = 0) -> list[Event]:
        """``owner``/``stp``: self-trade prevention (None: none); ``trail``: a trailing stop's distance in ticks
        (``stop_px`` is then ignored: the engine sets it from the market)."""
        reason = self._validate(order_id, side, ord_type, tif, qty, price, stop_px)
        if reason is None and ord_type == _TRAILING:
            stop_px, reason = self._trail_start(side, trail)
        if reason is None and owner is not None and stp not in _STP_MODES:
            reason = RejectReason.UNSUPPORTED_ORDER
        if reason is not None:
            return [OrderRejected(order_id, reason)]
        if ord_type in (_MARKET, _STOP):
            price = None
        if ord_type == _MARKET and tif != _CLOSE:
            opposite = self.book.asks if side == BUY else self.book.bids
            if not opposite.keys:
                return [OrderRejected(order_id, RejectReason.NO_LIQUIDITY)]
        if ord_type < _STOP:
            stop_px = None
        self.seq += 1
        order = Order(order_id, side, ord_type, tif, qty, price, stop_px, self.seq)
        if owner is not None:
            order.owner, order.stp = owner, stp
        events: list[Event] = [OrderAccepted(order_id, qty)]
        if tif == _CLOSE:
            self.close_orders[order_id] = order
            return events
        if ord_type >= _STOP:
            order.trail = trail if ord_type == _TRAILING else 0
            self._park_or_trigger(order, events)
        else:
            self._execute(order, events)
        if self._hi is not None:
            self._run_stops(events)
        return events

    def cancel(self, order_id: int) -> list[Event]:
        book = self.book
        order = book.orders.pop(order_id, None)
        if order is not None:
            book.side_of(order.side).remove(order)
        elif (order := self.close_orders.pop(order_id, None)) is None:
            order = self.stops.pop(order_id, None)
            if order is None:
                return [CancelRejected(order_id, CancelRejectReason.UNKNOWN_ORDER, False)]
            self._unpark(order)
        return [OrderCanceled(order_id, order.leaves, order.cum, order.notional, CancelReason.REQUESTED)]

    def replace(self, order_id: int, qty: int, price: int | None = None,
                stop_px: int | None = None) -> list[Event]:
        book = self.book
        order = book.orders.get(order_id)
        if order is None and order_id in self.close_orders:
            return self._replace_close(self.close_orders[order_id], qty, price)
        parked = order is None
        if parked:
            order = self.stops.get(order_id)
            if order is None:
                return [CancelRejected(order_id, CancelRejectReason.UNKNOWN_ORDER, True)]
        assert order is not None
        if qty <= order.cum or qty % self.lot_size:
            return [CancelRejected(order_id, CancelRejectReason.INCORRECT_QUANTITY, True)]
        if order.trail:  # the trail stays; the stop is the engine's, wherever it has moved
            stop_px = order.stop_px
        if order.ord_type in (_LIMIT, _STOP_LIMIT) and (price is None or price <= 0):
            return [CancelRejected(order_id, CancelRejectReason.INVALID_PRICE, True)]
        if order.ord_type >= _STOP and (stop_px is None or stop_px <= 0):
            return [CancelRejected(order_id, CancelRejectReason.INVALID_PRICE, True)]
        if order.ord_type in (_MARKET, _STOP):
            price = None
        if order.ord_type < _STOP:
            stop_px = None
        new_leaves = qty - order.cum
        events: list[Event] = []
        if not parked and price == order.price and qty <= order.qty:
            level = book.side_of(order.side).levels[order.price]  # type: ignore[index]
            level.qty -= order.leaves - new_leaves
            order.qty, order.leaves = qty, new_leaves
            events.append(OrderReplaced(order_id, qty, price, stop_px, new_leaves, order.cum, order.notional, True))
            return events
        if parked:
            del self.stops[order_id]
            self._unpark(order)
        else:
            del book.orders[order_id]
            book.side_of(order.side).remove(order)
        self.seq += 1
        fresh = Order(order_id, order.side, order.ord_type, order.tif, qty, price, stop_px, self.seq)
        fresh.cum, fresh.notional, fresh.leaves = order.cum, order.notional, new_leaves
        fresh.owner, fresh.stp, fresh.trail = order.owner, order.stp, order.trail
        events.append(OrderReplaced(order_id, qty, price, stop_px, new_leaves, fresh.cum, fresh.notional, False))
        if parked:
            self._park_or_trigger(fresh, events)
        else:
            self._execute(fresh, events)
        if self._hi is not None:
            self._run_stops(events)
        return events

    def end_of_day(self) -> list[Event]:
        """The closing auction (when close orders wait), then expire every Day order, resting or parked, and
        what is left of the close orders, in time priority."""
        events: list[Event] = self.closing_auction() if self.close_orders else []
        day = [o for o in self.book.orders.values() if o.tif == _DAY]
        day += [o for o in self.stops.values() if o.tif == _DAY]
        day += [o for o in self.close_orders.values() if o.leaves]
        self.close_orders = {}
        day.sort(key=lambda o: o.seq)
        for order in day:
            if order.tif == _CLOSE:
                pass  # already out of the book
            elif order.order_id in self.stops:
                del self.stops[order.order_id]
                self._unpark(order)
            else:
                del self.book.orders[order.order_id]
                self.book.side_of(order.side).remove(order)
            events.append(OrderExpired(order.order_id, order.leaves, order.cum, order.notional))
        return events

    def restore(self, order_id: int, side: int, ord_type: int, tif: int, qty: int, cum: int, notional: int,
                price: int | None, stop_px: int | None, *, owner: str | None = None, stp: int = 1,
                trail: int = 0) -> list[Event]:
        """Re-enter an order carried over from a previous run (part filled already: ``cum``/``notional``).
        It queues as if new and may trade at once; no OrderAccepted is emitted (it was acknowledged)."""
        if qty <= cum or self.order(order_id) is not None or (ord_type == _TRAILING and (not trail or not stop_px)):
            return [OrderRejected(order_id, RejectReason.OTHER)]
        self.seq += 1
        order = Order(order_id, side, ord_type, tif, qty, price, stop_px, self.seq)
        order.cum, order.notional, order.leaves = cum, notional, qty - cum
        order.owner, order.stp, order.trail = owner, stp, trail if ord_type == _TRAILING else 0
        events: list[Event] = []
        if tif == _CLOSE:
            self.close_orders[order_id] = order
        elif ord_type >= _STOP:
            self._park_or_trigger(order, events)
        else:
            self._execute(order, events)
        if self._hi is not None:
            self._run_stops(events)
        return events

    # Queries -----------------------------------------------------------------------------------
    def order(self, order_id: int) -> Order | None:
        return self.book.orders.get(order_id) or self.stops.get(order_id) or self.close_orders.get(order_id)

    def closing_auction(self) -> list[Event]:
        """Uncross the close orders with the resting book at one price (``exchange.auction``) and execute it:
        buys by market first, then higher limit, then time; sells by market, lower limit, time. Close orders
        stay (what is left of them expires at ``end_of_day``); resting orders filled in full leave the book."""
        book = self.book
        buys: list[Order] = [o for o in self.close_orders.values() if o.side == BUY]
        sells: list[Order] = [o for o in self.close_orders.values() if o.side == SELL]
        buys += [o for o in book.orders.values() if o.side == BUY]
        sells += [o for o in book.orders.values() if o.side == SELL]
        result = uncross([(o.price, o.leaves) for o in buys], [(o.price, o.leaves) for o in sells], self.last_px)
        if result is None:
            return []
        px, left = result.price, result.volume
        buys = sorted((o for o in buys if o.price is None or o.price >= px),
                      key=lambda o: (o.price is not None, -(o.price or 0), o.seq))
        sells = sorted((o for o in sells if o.price is None or o.price <= px),
                       key=lambda o: (o.price is not None, o.price or 0, o.seq))
        events: list[Event] = []
        b = s = 0
        n = 0
        while left:
            buy, sell = buys[b], sells[s]
            n = min(buy.leaves, sell.leaves, left)
            left -= n
            self.match_id += 1
            for order in (buy, sell):
                resting = order.order_id in book.orders
                if resting:
                    if book.side_of(order.side).fill_resting(order, n, px):
                        del book.orders[order.order_id]
                else:
                    order.leaves -= n
                    order.cum += n
                    order.notional += n * px
                events.append(OrderFilled(order.order_id, self.match_id, n, px, order.leaves, order.cum,
                                          order.notional, not resting))
            b += not buy.leaves
            s += not sell.leaves
        self.volume += result.volume
        self.trade_count += 1
        self.last_px, self.last_qty = px, n
        return events

    def check_invariants(self) -> None:
        self.book.check_invariants()
        parked = {oid for _, _, oid in self.buy_stops} | {oid for _, _, oid in self.sell_stops}
        assert parked == set(self.stops), "stop index mismatch"
        assert not (parked & set(self.book.orders)), "order both parked and resting"
        assert set(self.trailing) <= parked, "trailing stop not parked"
        assert all(o.trail > 0 and o.stop_px is not None and o.stop_px > 0 for o in self.trailing.values())
        assert not (set(self.close_orders) & (parked | set(self.book.orders))), "close order in the book"
        assert all(o.tif == _CLOSE and o.leaves > 0 for o in self.close_orders.values())
        assert self.buy_stops == sorted(self.buy_stops) and self.sell_stops == sorted(self.sell_stops)

    # Internals ---------------------------------------------------------------------------------
    def _validate(self, order_id: int, side: int, ord_type: int, tif: int, qty: int,
                  price: int | None, stop_px: int | None) -> RejectReason | None:
        if side != BUY and side != SELL:
            return RejectReason.UNSUPPORTED_ORDER
        if ord_type not in _ORD_TYPES or tif not in _TIFS:
            return RejectReason.UNSUPPORTED_ORDER
        if qty <= 0:
            return RejectReason.INCORRECT_QUANTITY
        if qty % self.lot_size:
            return RejectReason.NOT_LOT_MULTIPLE
        if ord_type in (_LIMIT, _STOP_LIMIT):
            if price is None:
                return RejectReason.MISSING_PRICE
            if price <= 0:
                return RejectReason.NON_POSITIVE_PRICE
        if tif == _CLOSE and ord_type not in (_MARKET, _LIMIT):
            return RejectReason.UNSUPPORTED_ORDER
        if ord_type == _TRAILING:
            if price is not None and price <= 0:
                return RejectReason.NON_POSITIVE_PRICE
        elif ord_type >= _STOP:
            if stop_px is None:
                return RejectReason.MISSING_STOP_PRICE
            if stop_px <= 0:
                return RejectReason.NON_POSITIVE_PRICE
        if order_id in self.book.orders or order_id in self.stops or order_id in self.close_orders:
            return RejectReason.DUPLICATE_ORDER
        return None

    def _trail_start(self, side: int, trail: int) -> tuple[int | None, RejectReason | None]:
        """A new trailing stop's first stop price: ``trail`` from the last trade, else from the touch it watches."""
        if trail <= 0:
            return None, RejectReason.INVALID_TRAIL
        reference = self.last_px
        if reference is None:
            reference = self.book.best_ask() if side == BUY else self.book.best_bid()
        if reference is None:
            return None, RejectReason.NO_TRAIL_REFERENCE
        stop = reference + trail if side == BUY else reference - trail
        return (stop, None) if stop > 0 else (None, RejectReason.NON_POSITIVE_PRICE)

    def _replace_close(self, order: Order, qty: int, price: int | None) -> list[Event]:
        """A close order waits outside the book: its terms change in place; a new price or a larger quantity
        loses its time priority."""
        if qty <= order.cum or qty % self.lot_size:
            return [CancelRejected(order.order_id, CancelRejectReason.INCORRECT_QUANTITY, True)]
        if order.ord_type == _LIMIT and (price is None or price <= 0):
            return [CancelRejected(order.order_id, CancelRejectReason.INVALID_PRICE, True)]
        price = price if order.ord_type == _LIMIT else None
        kept = price == order.price and qty <= order.qty
        order.qty, order.leaves, order.price = qty, qty - order.cum, price
        if not kept:
            self.seq += 1
            order.seq = self.seq
            del self.close_orders[order.order_id]
            self.close_orders[order.order_id] = order
        return [OrderReplaced(order.order_id, qty, price, None, order.leaves, order.cum, order.notional, kept)]

    def _execute(self, order: Order, events: list[Event]) -> None:
        """Match an incoming (or re-entering) order, then rest or cancel what is left."""
        book = self.book
        if order.side == BUY:
            opposite, own = book.asks, book.bids
        else:
            opposite, own = book.bids, book.asks
        price = order.price
        limit_key = None if price is None else opposite.sign * price
        tif = order.tif
        if tif == _FOK and opposite.available(limit_key, order.leaves) < order.leaves:
            events.append(OrderCanceled(order.order_id, order.leaves, order.cum, order.notional,
                                        CancelReason.FOK_UNFILLABLE))
            return
        keys = opposite.keys
        if keys and (limit_key is None or keys[-1] >= limit_key):
            stp = self._match(order, opposite, limit_key, events)
            if stp is not None:
                if order.leaves:
                    events.append(OrderCanceled(order.order_id, order.leaves, order.cum, order.notional, stp))
                return
        if not order.leaves:
            return
        if price is None:
            events.append(OrderCanceled(order.order_id, order.leaves, order.cum, order.notional,
                                        CancelReason.NO_LIQUIDITY))
        elif tif in (_IOC, _FOK):
            events.append(OrderCanceled(order.order_id, order.leaves, order.cum, order.notional,
                                        CancelReason.IOC_REMAINDER))
        else:
            own.add(order)
            book.orders[order.order_id] = order

    def _match(self, order: Order, opposite: object, limit_key: int | None,
               events: list[Event]) -> CancelReason | None:
        """Match against ``opposite``; the self-trade prevention reason when the incoming order must stop
        (cancel newest / both), else None."""
        side = opposite  # BookSide; typed loosely to keep the hot loop free of casts
        keys: list[int] = side.keys  # type: ignore[attr-defined]
        levels = side.levels  # type: ignore[attr-defined]
        sign: int = side.sign  # type: ignore[attr-defined]
        resting_ids = self.book.orders
        append = events.append
        leaves = order.leaves
        cum, notional, oid = order.cum, order.notional, order.order_id
        match_id = self.match_id
        hi, lo = self._hi, self._lo
        owner = order.owner
        stopped: CancelReason | None = None
        px = 0
        n = 0
        while leaves and keys:
            key = keys[-1]
            if limit_key is not None and key < limit_key:
                break
            px = key * sign
            level = levels[px]
            queue = level.orders
            traded = 0
            while leaves and level.qty:
                resting = queue[0]
                if not resting.live:
                    queue.popleft()
                    level.dead -= 1
                    continue
                if owner is not None and resting.owner == owner:
                    mode = order.stp
                    if mode == _STP_NEWEST:
                        stopped = _STP_REASON[_STP_NEWEST]
                        break
                    resting.live = False
                    queue.popleft()
                    level.qty -= resting.leaves
                    del resting_ids[resting.order_id]
                    events.append(OrderCanceled(resting.order_id, resting.leaves, resting.cum, resting.notional,
                                                _STP_REASON[mode]))  # type: ignore[index]
                    if mode != _STP_OLDEST:
                        stopped = _STP_REASON[mode]  # type: ignore[index]
                        break
                    continue
                r_leaves = resting.leaves
                n = leaves if leaves < r_leaves else r_leaves
                match_id += 1
                leaves -= n
                r_leaves -= n
                resting.leaves = r_leaves
                resting.cum += n
                resting.notional += n * px
                level.qty -= n
                traded += n
                cum += n
                notional += n * px
                append(OrderFilled(resting.order_id, match_id, n, px, r_leaves, resting.cum, resting.notional, False))
                append(OrderFilled(oid, match_id, n, px, leaves, cum, notional, True))
                if not r_leaves:
                    resting.live = False
                    queue.popleft()
                    del resting_ids[resting.order_id]
            if not level.qty:
                keys.pop()
                del levels[px]
            if traded:
                self.volume += traded
                self.trade_count += 1
                if hi is None or px > hi:
                    hi = px
                if lo is None or px < lo:
                    lo = px
            if stopped is not None:
                break
        if n:
            self.last_px, self.last_qty = px, n
        order.leaves, order.cum, order.notional = leaves, cum, notional
        self.match_id = match_id
        self._hi, self._lo = hi, lo
        return stopped

    def _park_or_trigger(self, order: Order, events: list[Event]) -> None:
        last, stop_px = self.last_px, order.stop_px
        assert stop_px is not None
        if last is not None and (last >= stop_px if order.side == BUY else last <= stop_px):
            self._trigger(order, last, events)
            return
        self.stops[order.order_id] = order
        insort(self.buy_stops if order.side == BUY else self.sell_stops, (stop_px, order.seq, order.order_id))
        if order.trail:
            self.trailing[order.order_id] = order

    def _unpark(self, order: Order) -> None:
        stops = self.buy_stops if order.side == BUY else self.sell_stops
        entry = (order.stop_px, order.seq, order.order_id)
        del stops[bisect_left(stops, entry)]
        if order.trail:
            self.trailing.pop(order.order_id, None)

    def _ratchet(self, hi: int, lo: int) -> None:
        """Move every parked trailing stop after the best price traded (sell: up to hi − trail, buy: down to
        lo + trail), never back."""
        for order in self.trailing.values():
            old = order.stop_px
            assert old is not None
            if order.side == BUY:
                new, stops = lo + order.trail, self.buy_stops
                if new >= old:
                    continue
            else:
                new, stops = hi - order.trail, self.sell_stops
                if new <= old:
                    continue
            del stops[bisect_left(stops, (old, order.seq, order.order_id))]
            order.stop_px = new
            insort(stops, (new, order.seq, order.order_id))

    def _trigger(self, order: Order, last: int, events: list[Event]) -> None:
        events.append(StopTriggered(order.order_id, last))
        order.ord_type = _MARKET if order.price is None else _LIMIT
        order.stop_px = None
        if order.trail:
            self.trailing.pop(order.order_id, None)
            order.trail = 0
        self.seq += 1
        order.seq = self.seq  # a triggered order queues from the moment it triggers
        if order.price is None and not (self.book.asks if order.side == BUY else self.book.bids).keys:
            events.append(OrderCanceled(order.order_id, order.leaves, order.cum, order.notional,
                                        CancelReason.NO_LIQUIDITY))
            return
        self._execute(order, events)

    def _run_stops(self, events: list[Event]) -> None:
        if not self.stops:
            self._hi = self._lo = None
            return
        while self._hi is not None:
            hi, lo = self._hi, self._lo
            self._hi = self._lo = None
            buys, sells = self.buy_stops, self.sell_stops
            i = bisect_right(buys, (hi, _BIG, _BIG))
            j = bisect_left(sells, (lo, -_BIG, -_BIG))
            fired = buys[:i] + sells[j:]
            del buys[:i]
            del sells[j:]
            if self.trailing:
                for _, _, order_id in fired:
                    self.trailing.pop(order_id, None)
                assert hi is not None and lo is not None and self.last_px is not None
                self._ratchet(hi, lo)
                last = self.last_px  # a moved stop already through the last trade fires now
                i = bisect_right(buys, (last, _BIG, _BIG))
                j = bisect_left(sells, (last, -_BIG, -_BIG))
                fired += buys[:i] + sells[j:]
                del buys[:i]
                del sells[j:]
            if not fired:
                return
            fired.sort(key=lambda entry: entry[1])
            for _, _, order_id in fired:
                order = self.stops.pop(order_id)
                assert self.last_px is not None
                self._trigger(order, self.last_px, events)
