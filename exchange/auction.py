"""The closing auction's uncross (pure): the single price at which the close's buy and sell interest trade.

Interest is a list of ``(limit, qty)`` per side in integer ticks and shares, ``limit`` None for a market order
(market-on-close). At a candidate price ``p`` the executable buy volume is every buy without a limit or with
a limit ≥ ``p``, the executable sell volume every sell without a limit or with a limit ≤ ``p``; the matched
volume is the smaller of the two and the imbalance their difference. The candidates are the limit prices of
both sides and the reference price (the last trade). The uncross price is the candidate with, in order:

1. the largest matched volume (nothing is traded when it is zero);
2. the smallest imbalance (|buy volume − sell volume|);
3. the smallest distance to the reference price (when there is one);
4. the lower price (a final, deterministic tie-break).

Only market orders on both sides trade at the reference price; with no reference and no limit there is no
price to trade at, and nothing trades.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

Interest = Sequence[tuple[int | None, int]]


@dataclass(frozen=True, slots=True)
class Uncross:
    price: int
    volume: int  # matched
    buy_volume: int  # executable at ``price``
    sell_volume: int

    @property
    def imbalance(self) -> int:
        return abs(self.buy_volume - self.sell_volume)


def executable(buys: Interest, sells: Interest, price: int) -> tuple[int, int]:
    """(buy volume, sell volume) executable at ``price`` (the definition the search below must agree with)."""
    return (sum(q for limit, q in buys if limit is None or limit >= price),
            sum(q for limit, q in sells if limit is None or limit <= price))


def uncross(buys: Interest, sells: Interest, reference: int | None) -> Uncross | None:
    """The uncross of ``buys`` against ``sells`` (rules in the module docstring); None when nothing can trade."""
    candidates = sorted({limit for limit, _ in buys if limit is not None}
                        | {limit for limit, _ in sells if limit is not None}
                        | ({reference} if reference is not None else set()))
    if not candidates or not buys or not sells:
        return None
    market_buy = sum(q for limit, q in buys if limit is None)
    market_sell = sum(q for limit, q in sells if limit is None)
    # buy volume at candidate i: market buys + limits ≥ it (suffix sums); sell volume: market + limits ≤ it
    index = {price: i for i, price in enumerate(candidates)}
    buy_at = [0] * len(candidates)
    sell_at = [0] * len(candidates)
    for limit, q in buys:
        if limit is not None:
            buy_at[index[limit]] += q
    for limit, q in sells:
        if limit is not None:
            sell_at[index[limit]] += q
    buy_cum = list(accumulate(reversed(buy_at)))[::-1]
    sell_cum = list(accumulate(sell_at))
    best: tuple[int, int, int, int] | None = None  # sort key: (-volume, imbalance, distance, price)
    chosen: Uncross | None = None
    for i, price in enumerate(candidates):
        buy_volume, sell_volume = market_buy + buy_cum[i], market_sell + sell_cum[i]
        volume = min(buy_volume, sell_volume)
        if volume <= 0:
            continue
        key = (-volume, abs(buy_volume - sell_volume), abs(price - reference) if reference is not None else 0,
               price)
        if best is None or key < best:
            best, chosen = key, Uncross(price, volume, buy_volume, sell_volume)
    return chosen
