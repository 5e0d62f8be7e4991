"""The shipped S&P 500 reference data and its merge over the seeded universe."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from importlib import resources

from hypothesis import given
from hypothesis import strategies as st

from refdata.instruments import (
    PRICE_SOURCE_DATASET,
    PRICE_SOURCE_SYNTHETIC,
    Instrument,
    load_universe,
    seeded_universe,
    tick_size_for,
)
from refdata.reference import (
    RENAMED,
    VENUES,
    ReferenceRow,
    data_text,
    load_reference_rows,
    merge_reference,
    parse_constituents,
    reference_price,
)

SHA256 = "65c875e5b30ef6e99be17bc5b0f86a18d15b148f835b94b44380a97e20876fca"  # PROVENANCE.md
D = Decimal


def seeded(symbol: str, name: str = "Seeded Co", price: str = "42.00", exchange: str = "NYSE") -> Instrument:
    return Instrument(symbol, name, exchange, "Seeded sector", "USD", D(price), D("0.01"), 1, D(3 * 10**9))


def row(symbol: str, price: str | None = "100.004", cap: str | None = "5e11", low: str | None = "90",
        high: str | None = "120", name: str = "Real Co") -> ReferenceRow:
    def dec(v: str | None) -> Decimal | None:
        return None if v is None else D(v)

    return ReferenceRow(symbol, name, "Real sub-industry", dec(price), dec(cap), dec(low), dec(high))


def test_the_shipped_file_is_the_upstream_file_with_its_licence_and_provenance() -> None:
    data = resources.files("refdata") / "data"
    assert hashlib.sha256((data / "constituents-financials.csv").read_bytes()).hexdigest() == SHA256
    assert "ODC-PDDL" in (data / "LICENSE").read_text()
    provenance = (data / "PROVENANCE.md").read_text()
    assert "44d0ca307550c1615663da85fae5e79efbc7b3a1" in provenance and SHA256 in provenance


def test_parsing_the_data_set() -> None:
    rows = {r.symbol: r for r in load_reference_rows()}
    assert len(rows) == 503
    ko = rows["KO"]
    assert (ko.name, ko.sector, ko.price, ko.market_cap) == (
        "Coca-Cola Company (The)", "Soft Drinks & Non-alcoholic Beverages", D("91.1"), D("391962198016"))
    assert "BRK-B" in rows and "BRK.B" not in rows and not rows["BRK-B"].priced  # upstream has no price
    assert rows["AAPL"].sector == "Technology Hardware, Storage & Peripherals"  # a quoted comma
    assert parse_constituents(data_text()) == list(load_reference_rows())


def test_reference_price_is_on_tick_and_never_rounded_out_of_the_range() -> None:
    assert reference_price(D("91.1")) == D("91.10")
    assert reference_price(D("100.005")) == D("100.00")  # half-even
    assert reference_price(D("68.175"), D("44"), D("68.175")) == D("68.17")  # rounding up would leave the range
    assert reference_price(D("1.235"), D("1.235"), D("2")) == D("1.24")
    assert reference_price(D("0.51234")) == D("0.5123")  # sub-dollar: $0.0001
    assert reference_price(D("0.00001")) == D("0.0001")  # never zero


@given(st.decimals(min_value=D("0.0001"), max_value=D("100000"), places=4), st.data())
def test_reference_price_property(price: Decimal, data: st.DataObject) -> None:
    low = data.draw(st.decimals(min_value=D("0.0001"), max_value=price, places=4))
    high = data.draw(st.decimals(min_value=price, max_value=D("200000"), places=4))
    out = reference_price(price, low, high)
    assert out > 0 and out % tick_size_for(out) == 0
    if high - low >= tick_size_for(price):  # a range narrower than a tick may hold no tick at all
        assert low <= out <= high


def test_merge_rules() -> None:
    merged = {i.symbol: i for i in merge_reference(
        [seeded("AAA"), seeded("BBB", name="Old Name"), seeded("CCC"), seeded("OLD")],
        [row("AAA"), row("BBB", price=None, cap=None, low=None, high=None, name="New Name"),
         row("NEW"), row("GONE", price=None, cap=None), row("NOVENUE"), row("RENAMED")],
        venues={"NEW": "NASDAQ"}, renamed={"OLD": "RENAMED"},
    )}
    assert set(merged) == {"AAA", "BBB", "CCC", "NEW", "RENAMED"}
    aaa = merged["AAA"]  # the data set wins for price, cap, name, sector; venue stays as seeded
    assert (aaa.name, aaa.sector, aaa.exchange, aaa.reference_price, aaa.market_cap, aaa.price_source) == (
        "Real Co", "Real sub-industry", "NYSE", D("100.00"), D("5e11"), PRICE_SOURCE_DATASET)
    assert (aaa.week52_low, aaa.week52_high) == (D(90), D(120)) and not aaa.synthetic
    bbb = merged["BBB"]  # no price upstream: real name and sector, synthetic price and cap
    assert (bbb.name, bbb.sector, bbb.reference_price, bbb.market_cap) == (
        "New Name", "Real sub-industry", D("42.00"), D(3 * 10**9))
    assert bbb.synthetic and bbb.price_source == PRICE_SOURCE_SYNTHETIC
    assert merged["CCC"] == seeded("CCC") and merged["CCC"].synthetic
    assert merged["NEW"].exchange == "NASDAQ" and not merged["NEW"].synthetic
    assert not merged["RENAMED"].synthetic and merged["RENAMED"].exchange == "NYSE"


def test_universe_prices_are_real_within_the_52_week_range() -> None:
    universe = load_universe()
    real = [i for i in universe if not i.synthetic]
    assert len(real) >= 450
    for i in real:
        assert i.week52_low is not None and i.week52_high is not None
        assert i.week52_low <= i.reference_price <= i.week52_high, i
        assert i.tick_size == tick_size_for(i.reference_price) and i.reference_price % i.tick_size == 0
        assert i.market_cap > 0
    assert all(i.tick_size == D("0.01") for i in real if i.reference_price >= 1)  # Reg NMS


def test_universe_merges_both_sources_once() -> None:
    universe = load_universe()
    by_symbol = {i.symbol: i for i in universe}
    assert len(by_symbol) == len(universe)
    apple, coke = by_symbol["AAPL"], by_symbol["KO"]
    assert (apple.reference_price, apple.market_cap) == (D("309.35"), D("4514709504000"))
    assert coke.name == "Coca-Cola Company (The)" and coke.exchange == "NYSE" and not coke.synthetic
    brk = by_symbol["BRK-B"]  # listed, but the data set has no price for it
    assert brk.synthetic and brk.name == "Berkshire Hathaway" and brk.sector == "Multi-Sector Holdings"
    assert not set(RENAMED) & set(by_symbol) and set(RENAMED.values()) <= set(by_symbol)
    assert set(VENUES) <= set(by_symbol)
    seeded_only = set(by_symbol) - {r.symbol for r in load_reference_rows()}
    assert seeded_only and all(by_symbol[s].synthetic for s in seeded_only)
    assert {i.symbol for i in seeded_universe()} - set(RENAMED) <= set(by_symbol)


def test_the_largest_companies_are_really_the_largest() -> None:
    top = sorted(load_universe(), key=lambda i: -i.market_cap)[:5]
    assert {"AAPL", "MSFT", "NVDA"} <= {i.symbol for i in top}
