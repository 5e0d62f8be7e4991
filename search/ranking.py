"""How a listing matches a query and how results are ordered (pure).

Tiers, best first: the exact ticker (separators aside: ``BRKB`` is ``BRK-B``); a prefix of the ticker,
of the company's name words, or of its words run together (``jp morgan`` → "JPMorgan Chase"); a fuzzy
match on name words (or a one-edit ticker typo). Within a tier a listing whose share class the query
names (``berkshire b``, ``alphabet c``) comes first, then the larger company, then the ticker
alphabetically so the order is total and stable. Index adapters fetch candidates tier by
tier; this module has the last word on the order, so every adapter ranks the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from functools import lru_cache

from refdata.symbology import compact_symbol
from search.query import (
    FUZZY_PREFIX_LENGTH,
    SearchQuery,
    joined_runs,
    listing_share_class,
    listing_words,
    max_edits,
)


class Tier(IntEnum):
    FUZZY = 1
    PREFIX = 2
    EXACT = 3


@dataclass(frozen=True, slots=True)
class Listing:
    symbol: str
    name: str
    exchange: str
    sector: str
    market_cap: Decimal

    def to_mapping(self) -> dict[str, str]:
        return {
            "symbol": self.symbol,
            "name": self.name,
            "exchange": self.exchange,
            "sector": self.sector,
            "market_cap": str(self.market_cap),
        }

    @classmethod
    def from_mapping(cls, data: dict[str, str]) -> Listing:
        return cls(
            symbol=data["symbol"],
            name=data["name"],
            exchange=data["exchange"],
            sector=data["sector"],
            market_cap=Decimal(data["market_cap"]),
        )


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (an adjacent transposition costs 1, as in Lucene and
    tantivy); returns ``limit + 1`` as soon as the distance is known to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    if limit <= 1:  # the common question (4–5 letter words, tickers) in one pass instead of a table
        return 0 if a == b else (1 if limit == 1 and _one_edit_apart(a, b) else limit + 1)
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return min(prev[len(b)], limit + 1)


def _one_edit_apart(a: str, b: str) -> bool:
    """``a != b`` one deletion, insertion, substitution or adjacent transposition apart."""
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1:]  # insertion
    return a[i + 1:] == b[i + 1:] or (  # substitution, or transposition
        i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]
    )


def fuzzy_word_match(token: str, word: str) -> bool:
    edits = max_edits(token)
    if edits == 0 or word[:FUZZY_PREFIX_LENGTH] != token[:FUZZY_PREFIX_LENGTH]:
        return False
    return edit_distance(token, word, edits) <= edits


_compact = lru_cache(maxsize=16384)(compact_symbol)  # pure; a query's symbol meets many listings


@lru_cache(maxsize=8192)
def _listing_terms(symbol: str, name: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """A listing's words and joined runs, derived once for the listings that keep coming back as
    candidates (pure functions of the strings; bounded: a few MB)."""
    return listing_words(symbol, name), frozenset(joined_runs(name))


def match_tier(query: SearchQuery, listing: Listing) -> Tier | None:
    symbol = listing.symbol
    if query.symbol is not None and (query.symbol == symbol or _compact(query.symbol) == _compact(symbol)):
        return Tier.EXACT  # search.query.symbols_match
    if query.symbol is not None and symbol.startswith(query.symbol):
        return Tier.PREFIX
    words, runs = _listing_terms(symbol, listing.name)
    if all(any(w.startswith(t) for w in words) for t in query.tokens):
        return Tier.PREFIX
    if query.compact and any(run.startswith(query.compact) for run in runs):
        return Tier.PREFIX
    if all(any(w.startswith(t) or fuzzy_word_match(t, w) for w in words) for t in query.tokens):
        return Tier.FUZZY
    wanted, edits = query.symbol, query.symbol_fuzzy_edits
    if wanted is not None and edits and symbol[:1] == wanted[:1] and edit_distance(wanted, symbol, edits) <= edits:
        return Tier.FUZZY
    return None


def names_share_class(query: SearchQuery, listing: Listing) -> bool:
    """The query has a one-letter word naming the listing's share class (``fox b`` and FOX, class B)."""
    return bool(query.class_letters) and listing_share_class(listing.symbol, listing.name) in query.class_letters


def rank(query: SearchQuery, candidates: Iterable[Listing], limit: int) -> list[Listing]:
    """Keep the candidates that match, best first, without duplicates, at most ``limit``."""
    scored: dict[str, tuple[tuple[int, int, Decimal, str], Listing]] = {}
    for listing in candidates:
        if listing.symbol in scored:
            continue
        tier = match_tier(query, listing)
        if tier is not None:
            key = (-tier, -int(names_share_class(query, listing)), -listing.market_cap, listing.symbol)
            scored[listing.symbol] = (key, listing)
    ordered = sorted(scored.values(), key=lambda kl: kl[0])
    return [listing for _, listing in ordered[:limit]]
