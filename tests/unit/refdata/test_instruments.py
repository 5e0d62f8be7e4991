from decimal import Decimal

from refdata.instruments import load_universe, parse_revenue, seeded_reference_price, tick_size_for


def test_universe_has_real_large_caps_once() -> None:
    universe = load_universe()
    symbols = [i.symbol for i in universe]
    assert len(symbols) == len(set(symbols))
    by_symbol = {i.symbol: i for i in universe}
    assert by_symbol["AAPL"].name == "Apple Inc."
    assert by_symbol["F"].name.startswith("Ford")
    assert all(i.reference_price > 0 and i.tick_size > 0 for i in universe)


def test_reference_price_is_deterministic_and_on_tick() -> None:
    price = seeded_reference_price("AAPL")
    assert price == seeded_reference_price("AAPL")
    assert Decimal(10) <= price < Decimal(600)
    assert price % tick_size_for(price) == 0


def test_revenue_parsing() -> None:
    assert parse_revenue("US$416 billion (2025)") == Decimal(416) * 10**9
    assert parse_revenue("US$ 1.2 trillion") == Decimal("1.2") * 10**12
    assert parse_revenue("€3.91 billion (2021)") is None
    assert parse_revenue(None) is None
