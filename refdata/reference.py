"""Real reference data: the S&P 500 constituents file shipped under ``refdata/data/`` (pure parsing
and merging; see ``refdata/data/PROVENANCE.md`` and ADR 014).

The data set (``datasets/s-and-p-500-companies-financials``, ODC-PDDL) gives real names, GICS
sub-industries, last prices, 52-week ranges and market caps. :func:`merge_reference` lays it over the
seeded universe: the data set wins for name and sector, and for price and market cap when it has them;
everything else stays as seeded and keeps ``price_source = "synthetic"``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources

from refdata.instruments import PRICE_SOURCE_DATASET, Instrument, tick_size_for
from refdata.symbology import canonical_symbol

DATA_FILE = "constituents-financials.csv"

# Listing venue of the constituents pytickersymbols does not carry (the data set has no venue column);
# public facts, cross-checked against the nyse.com / nasdaq.com quote links of the Wikipedia list
# shipped in the data set's repository.
VENUES: Mapping[str, str] = {
    "BALL": "NYSE", "BWA": "NYSE", "DIS": "NYSE", "DOC": "NYSE", "EG": "NYSE", "KO": "NYSE", "RF": "NYSE",
    "FOX": "NASDAQ", "GOOG": "NASDAQ", "NWS": "NASDAQ", "PARA": "NASDAQ", "WTW": "NASDAQ",
}

# Ticker changes since pytickersymbols' snapshot: its symbol (left) is the data set's (right).
RENAMED: Mapping[str, str] = {"BLL": "BALL", "WLTW": "WTW", "PEAK": "DOC", "RE": "EG"}


@dataclass(frozen=True, slots=True)
class ReferenceRow:
    symbol: str  # canonical form (BRK-B)
    name: str
    sector: str
    price: Decimal | None
    market_cap: Decimal | None
    week52_low: Decimal | None
    week52_high: Decimal | None

    @property
    def priced(self) -> bool:
        return self.price is not None and self.price > 0 and self.market_cap is not None and self.market_cap > 0


def _decimal(text: str | None) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_constituents(text: str) -> list[ReferenceRow]:
    """The rows of ``constituents-financials.csv`` (header names as upstream), symbols canonical."""
    rows = []
    for raw in csv.DictReader(io.StringIO(text, newline="")):
        symbol = canonical_symbol(raw.get("Symbol") or "")
        if not symbol:
            continue
        rows.append(
            ReferenceRow(
                symbol=symbol,
                name=(raw.get("Name") or "").strip(),
                sector=(raw.get("Sector") or "").strip() or "Unclassified",
                price=_decimal(raw.get("Price")),
                market_cap=_decimal(raw.get("Market Cap")),
                week52_low=_decimal(raw.get("52 Week Low")),
                week52_high=_decimal(raw.get("52 Week High")),
            )
        )
    return rows


def reference_price(price: Decimal, low: Decimal | None = None, high: Decimal | None = None) -> Decimal:
    """``price`` on its Reg NMS tick ($0.01 at or above $1, $0.0001 below), kept inside [low, high] when
    given: rounding never pushes it out of the 52-week range (it rounds inward instead)."""
    tick = tick_size_for(price)
    on_tick = price.quantize(tick, rounding=ROUND_HALF_EVEN)
    if high is not None and on_tick > high:
        on_tick = high.quantize(tick, rounding=ROUND_FLOOR)
    if low is not None and on_tick < low:
        on_tick = low.quantize(tick, rounding=ROUND_CEILING)
    return max(on_tick, tick)


def merge_reference(
    seeded: Iterable[Instrument],
    rows: Sequence[ReferenceRow],
    *,
    venues: Mapping[str, str] = VENUES,
    renamed: Mapping[str, str] = RENAMED,
) -> tuple[Instrument, ...]:
    """The seeded universe with the data set laid over it, sorted by symbol, one instrument per symbol.

    * a row with a price and a market cap sets name, sector, reference price (on tick, within the 52-week
      range), tick size, market cap and the 52-week range, and marks the instrument as real
      (``price_source = "s-and-p-500-companies-financials"``); the venue and lot size stay as seeded, or come
      from ``venues`` for a symbol the seeded universe lacks (without a venue the row is left out);
    * a row without price keeps a seeded instrument's synthetic price and cap but sets its name and sector;
      such a row with no seeded instrument is left out (no price at all: it is not trading);
    * seeded instruments without a row are unchanged (synthetic).
    """
    by_symbol: dict[str, Instrument] = {}
    for instrument in seeded:
        symbol = renamed.get(instrument.symbol, instrument.symbol)
        if symbol != instrument.symbol:
            instrument = replace(instrument, symbol=symbol)
        by_symbol.setdefault(symbol, instrument)
    for row in rows:
        base = by_symbol.get(row.symbol)
        if not row.priced:
            if base is not None:
                by_symbol[row.symbol] = replace(base, name=row.name or base.name, sector=row.sector)
            continue
        exchange = base.exchange if base is not None else venues.get(row.symbol)
        if exchange is None:
            continue
        assert row.price is not None and row.market_cap is not None  # priced
        price = reference_price(row.price, row.week52_low, row.week52_high)
        by_symbol[row.symbol] = Instrument(
            symbol=row.symbol,
            name=row.name or (base.name if base else row.symbol),
            exchange=exchange,
            sector=row.sector,
            currency="USD",
            reference_price=price,
            tick_size=tick_size_for(price),
            lot_size=base.lot_size if base is not None else 1,
            market_cap=row.market_cap,
            price_source=PRICE_SOURCE_DATASET,
            week52_low=row.week52_low,
            week52_high=row.week52_high,
        )
    return tuple(sorted(by_symbol.values(), key=lambda i: i.symbol))


def data_text() -> str:
    return (resources.files("refdata") / "data" / DATA_FILE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_reference_rows() -> tuple[ReferenceRow, ...]:
    return tuple(parse_constituents(data_text()))
