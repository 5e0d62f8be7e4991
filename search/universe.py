"""The listings to index: the exchange's real universe (``refdata.load_universe``), optionally extended
with generated listings for benchmarks."""

from __future__ import annotations

from refdata.instruments import load_universe
from search.ranking import Listing
from search.synthetic import extend_listings


def universe_listings(extend_to: int | None = None) -> list[Listing]:
    real = [
        Listing(symbol=i.symbol, name=i.name, exchange=i.exchange, sector=i.sector, market_cap=i.market_cap)
        for i in load_universe()
    ]
    return extend_listings(real, extend_to) if extend_to else real
