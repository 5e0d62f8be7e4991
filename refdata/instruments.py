"""The tradable universe: real S&P 500 reference data over the index constituents of ``pytickersymbols``.

pytickersymbols gives real symbols, company names, listing venues, industries and reported annual
revenue, but no prices or market capitalisations. The seeded universe (:func:`seeded_universe`) derives,
deterministically:

* ``reference_price``: a seeded log-uniform draw in [10, 600) per symbol (stable across runs and
  processes), the simulated exchange's starting fair value and the previous close;
* ``market_cap``: reported revenue × 3 (a typical price/sales multiple), used for ranking search
  results by size and sizing the simulated market makers; companies without a reported revenue get a
  small default.

:func:`load_universe` then lays the shipped S&P 500 data set over it (``refdata.reference``, ADR 014):
the S&P 500 members get their real name, sector, last price, 52-week range and market cap
(``price_source = "s-and-p-500-companies-financials"``); every other instrument keeps the derived
values above and is labelled ``price_source = "synthetic"``.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from refdata.symbology import canonical_symbol

US_INDICES = ("S&P 500", "NASDAQ 100", "DOW JONES", "S&P 100", "S&P 600")
PRICE_SALES_MULTIPLE = Decimal(3)
DEFAULT_MARKET_CAP = Decimal(1_000_000_000)
_REVENUE = re.compile(r"US\$\s*([0-9]+(?:[.,][0-9]+)?)\s*(trillion|billion|million)", re.IGNORECASE)
PRICE_SOURCE_DATASET = "s-and-p-500-companies-financials"
PRICE_SOURCE_SYNTHETIC = "synthetic"
_SCALE = {"trillion": Decimal(10) ** 12, "billion": Decimal(10) ** 9, "million": Decimal(10) ** 6}


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    name: str
    exchange: str
    sector: str
    currency: str
    reference_price: Decimal
    tick_size: Decimal
    lot_size: int
    market_cap: Decimal
    price_source: str = PRICE_SOURCE_SYNTHETIC  # where reference_price and market_cap come from
    week52_low: Decimal | None = None  # the data set's 52-week range (real instruments only)
    week52_high: Decimal | None = None

    @property
    def synthetic(self) -> bool:
        """True when the price and market cap are made up (seeded), not real reference data."""
        return self.price_source == PRICE_SOURCE_SYNTHETIC


def tick_size_for(price: Decimal) -> Decimal:
    """Reg NMS sub-penny rule: $0.01 at or above $1, $0.0001 below."""
    return Decimal("0.01") if price >= 1 else Decimal("0.0001")


def seeded_reference_price(symbol: str) -> Decimal:
    digest = hashlib.sha256(symbol.encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64
    price = math.exp(math.log(10) + unit * (math.log(600) - math.log(10)))
    return Decimal(str(price)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def parse_revenue(text: str | None) -> Decimal | None:
    if not text:
        return None
    match = _REVENUE.search(text)
    if not match:
        return None
    return Decimal(match.group(1).replace(",", ".")) * _SCALE[match.group(2).lower()]


def _listing(stock: dict[str, object]) -> tuple[str, str] | None:
    """(symbol, venue) of the stock's US listing, if any. Some entries carry a bare US ticker with no
    venue prefix; those are NYSE-or-NASDAQ listings we label by the index's own venue hints."""
    entries = list(stock.get("symbols") or [])  # type: ignore[call-overload]
    for entry in entries:
        google = str(entry.get("google", ""))
        if entry.get("currency") == "USD" and ":" in google:
            venue, symbol = google.split(":", 1)
            if venue in ("NYSE", "NASDAQ", "NYSEAMERICAN", "BATS") and symbol:
                return canonical_symbol(symbol), venue
    for entry in entries:
        google = str(entry.get("google", ""))
        if entry.get("currency") == "USD" and google and ":" not in google and google == entry.get("yahoo"):
            metadata = stock.get("metadata")
            traded_as = str(metadata.get("traded_as", "")) if isinstance(metadata, dict) else ""
            venue = "NASDAQ" if "nasdaq" in traded_as.lower() else "NYSE"
            return canonical_symbol(google), venue
    return None


def _sector(stock: dict[str, object]) -> str:
    industries = [str(i) for i in (stock.get("industries") or [])]  # type: ignore[attr-defined]
    return industries[0] if industries else "Unclassified"


@lru_cache(maxsize=1)
def load_universe() -> tuple[Instrument, ...]:
    """All US-listed constituents of the major US indices, sorted by symbol, without duplicates: the
    seeded universe with the shipped S&P 500 reference data merged in."""
    from refdata.reference import load_reference_rows, merge_reference

    return merge_reference(seeded_universe(), load_reference_rows())


@lru_cache(maxsize=1)
def seeded_universe() -> tuple[Instrument, ...]:
    """The pytickersymbols universe with seeded prices and revenue-based caps (all synthetic)."""
    from pytickersymbols import PyTickerSymbols

    data = PyTickerSymbols()
    seen: dict[str, Instrument] = {}
    for index in US_INDICES:
        for stock in data.get_stocks_by_index(index):
            listing = _listing(stock)
            if listing is None:
                continue
            symbol, venue = listing
            if symbol in seen:
                continue
            metadata = stock.get("metadata") or {}
            revenue = parse_revenue(metadata.get("revenue") if isinstance(metadata, dict) else None)
            price = seeded_reference_price(symbol)
            seen[symbol] = Instrument(
                symbol=symbol,
                name=str(stock["name"]),
                exchange=venue,
                sector=_sector(stock),
                currency="USD",
                reference_price=price,
                tick_size=tick_size_for(price),
                lot_size=1,
                market_cap=(revenue * PRICE_SALES_MULTIPLE) if revenue else DEFAULT_MARKET_CAP,
            )
    return tuple(sorted(seen.values(), key=lambda i: i.symbol))


def universe_by_symbol() -> dict[str, Instrument]:
    return {i.symbol: i for i in load_universe()}
