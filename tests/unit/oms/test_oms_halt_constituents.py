"""The circuit breaker's own index reads the S&P 500 members only, not the whole universe."""

from __future__ import annotations

from decimal import Decimal

from gateway.oms.halts import index_constituents
from refdata.instruments import PRICE_SOURCE_DATASET, PRICE_SOURCE_SYNTHETIC, Instrument, load_universe


def instrument(symbol: str, source: str) -> Instrument:
    return Instrument(symbol, symbol, "NYSE", "Tech", "USD", Decimal(10), Decimal("0.01"), 1, Decimal(10**9),
                      price_source=source)


def test_the_index_is_the_members_with_real_reference_data() -> None:
    listed = [instrument("AAA", PRICE_SOURCE_DATASET), instrument("BBB", PRICE_SOURCE_SYNTHETIC),
              instrument("CCC", PRICE_SOURCE_DATASET)]
    assert index_constituents(listed) == ["AAA", "CCC"]


def test_without_any_member_every_instrument_counts() -> None:
    listed = [instrument("AAA", PRICE_SOURCE_SYNTHETIC), instrument("BBB", PRICE_SOURCE_SYNTHETIC)]
    assert index_constituents(listed) == ["AAA", "BBB"]


def test_the_shipped_universe_reads_under_half_its_symbols() -> None:
    universe = load_universe()
    members = index_constituents(universe)
    assert 400 < len(members) < len(universe) / 2
    assert "AAPL" in members and all(not i.synthetic for i in universe if i.symbol in set(members))
