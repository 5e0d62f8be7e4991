"""Market makers: a ladder of quotes on both sides around each symbol's fair value (pure, deterministic).

``ladder()`` is the quoting rule: the half spread is a few basis points of the price (at least one
tick), multiplied by the realised/calm volatility ratio (capped), and the whole ladder is shifted
against the desk's inventory (long → lower quotes, so it sells more and buys less); at the inventory
limit the side that would add to the position is withdrawn. ``MarketMakerDesk`` keeps one resting
GTC order per ladder price and, on each requote, cancels the prices that left the ladder, refills
levels that were mostly taken, and posts the new ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from exchange.events import (
    BUY,
    SELL,
    CancelReason,
    Event,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrdType,
    TimeInForce,
)
from exchange.price_process import PriceProcess
from exchange.venue import Venue


@dataclass(frozen=True, slots=True)
class QuotingParams:
    levels: int = 5
    half_spread_bps: float = 4.0
    max_vol_multiplier: float = 4.0
    inventory_limit_levels: int = 10  # the position limit, in multiples of one level's size


def level_size(market_cap: Decimal, lot_size: int) -> int:
    """Shares per quoted level: deeper books for larger companies (a mega cap shows 1,000 a level)."""
    shares = 1000 if market_cap >= Decimal(10) ** 11 else 500 if market_cap >= Decimal(10) ** 10 else 200
    return max(lot_size, shares - shares % lot_size)


def geometry(fair_ticks: float, vol_ratio: float, inventory: int, size: int,
             params: QuotingParams) -> tuple[float, float]:
    """(centre, half spread) in ticks: volatility widens the spread, inventory shifts the centre."""
    # in half steps, so estimation noise around a calm market does not move the quotes
    multiplier = round(min(max(vol_ratio, 1.0), params.max_vol_multiplier) * 2) / 2
    half = max(1.0, fair_ticks * params.half_spread_bps / 10_000) * multiplier
    skew = max(-1.0, min(1.0, inventory / (params.inventory_limit_levels * size))) * half
    return fair_ticks - skew, half


def ladder_prices(center: float, half: float, inventory: int, size: int,
                  params: QuotingParams) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(bid prices best first, ask prices best first) in ticks; a side is withdrawn at the limit."""
    limit = params.inventory_limit_levels * size
    best_bid = math.floor(center - half)
    best_ask = max(math.ceil(center + half), best_bid + 1)
    gap = max(1, round(half / 2))
    bids = tuple(p for i in range(params.levels) if (p := best_bid - i * gap) > 0) if inventory < limit else ()
    asks = tuple(best_ask + i * gap for i in range(params.levels)) if inventory > -limit else ()
    return bids, asks


def ladder(fair_ticks: float, vol_ratio: float, inventory: int, size: int,
           params: QuotingParams) -> tuple[tuple[int, ...], tuple[int, ...]]:
    center, half = geometry(fair_ticks, vol_ratio, inventory, size, params)
    return ladder_prices(center, half, inventory, size, params)


@dataclass(slots=True)
class Quote:
    order_id: int
    side: int
    price: int
    leaves: int


@dataclass(slots=True)
class SymbolDesk:
    size: int
    inventory: int = 0
    quotes: dict[int, Quote] = field(default_factory=dict)  # by order id
    center: float = 0.0  # the geometry the resting ladder was built from
    half: float = 0.0
    dirty: bool = True  # a quote was taken or removed: refill at the next requote


class MarketMakerDesk:
    def __init__(self, venue: Venue, prices: PriceProcess, sizes: dict[str, int],
                 params: QuotingParams | None = None) -> None:
        self.venue = venue
        self.prices = prices
        self.params = params or QuotingParams()
        self.desks = {symbol: SymbolDesk(size) for symbol, size in sorted(sizes.items())}
        self.owner: dict[int, str] = {}  # our order id -> symbol

    def owns(self, order_id: int) -> bool:
        return order_id in self.owner

    def observe(self, events: Iterable[Event]) -> None:
        """Track our quotes' fills and removals (call with every event list the venue produces)."""
        owner = self.owner
        for e in events:
            symbol = owner.get(e.order_id)
            if symbol is None:
                continue
            desk = self.desks[symbol]
            if isinstance(e, OrderFilled):
                quote = desk.quotes[e.order_id]
                desk.inventory += e.last_qty if quote.side == BUY else -e.last_qty
                quote.leaves = e.leaves
                desk.dirty = True
                if not e.leaves:
                    del desk.quotes[e.order_id], owner[e.order_id]
            elif isinstance(e, OrderCanceled | OrderExpired | OrderRejected):
                desk.quotes.pop(e.order_id, None)
                del owner[e.order_id]
                # our own requote cancels do not call for a refill; anything else does
                desk.dirty |= not (isinstance(e, OrderCanceled) and e.reason is CancelReason.REQUESTED)

    def requote(self, symbol: str) -> list[Event]:
        """Bring the symbol's resting quotes to the current ladder; returns every event caused."""
        desk = self.desks[symbol]
        fv = self.prices[symbol]
        center, half = geometry(fv.ticks, fv.vol_ratio, desk.inventory, desk.size, self.params)
        # Hysteresis: small drifts of the fair value do not churn the book.
        if not desk.dirty and abs(center - desk.center) < max(1.0, desk.half / 2) \
                and abs(half - desk.half) < desk.half / 4:
            return []
        desk.center, desk.half, desk.dirty = center, half, False
        target = ladder_prices(center, half, desk.inventory, desk.size, self.params)
        engine = self.venue.engines[symbol]
        wanted = {(BUY, p) for p in target[0]} | {(SELL, p) for p in target[1]}
        events: list[Event] = []
        held: set[tuple[int, int]] = set()
        for quote in list(desk.quotes.values()):
            key = (quote.side, quote.price)
            if key in wanted and key not in held and quote.leaves * 2 >= desk.size:
                held.add(key)
                continue
            out = engine.cancel(quote.order_id)
            self.observe(out)
            events += out
        for side, prices in ((SELL, target[1]), (BUY, target[0])):
            for price in prices:
                if (side, price) in held:
                    continue
                order_id = self.venue.new_order_id()
                self.owner[order_id] = symbol
                desk.quotes[order_id] = Quote(order_id, side, price, desk.size)
                out = engine.submit(order_id, side, OrdType.LIMIT, TimeInForce.GTC, desk.size, price)
                self.observe(out)
                events += out
        return events
