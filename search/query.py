"""Turning what a user typed into a search query, and the terms a listing is indexed under (pure).

Both index adapters index the same derived terms and ask the same three questions, so their
ranking agrees:

* the *symbol candidate* is the query compacted to ticker form (``brk.b`` → ``BRK-B``) when it
  looks like a ticker; it is matched exactly (top tier) and as a prefix;
* the *name tokens* are the query's words, each matched as a prefix of some word of the company
  name (search-as-you-type: ``gen mot`` finds General Motors, ``motors`` finds it too);
* tokens long enough get a fuzzy allowance (``appel`` → Apple): none up to 3 characters (short
  tickers and words are too ambiguous to correct), 1 edit for 4–5, 2 edits from 6; the first
  character must match (prefix length 1), like Elasticsearch's ``prefix_length: 1``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_QUERY_CHARS = 64
MAX_TOKENS = 8
MAX_PREFIX_CHARS = 20  # longer words are indexed by their first 20 characters only
FUZZY_PREFIX_LENGTH = 1

_ALLOWED = re.compile(r"[a-z0-9 .&'\-,/]*")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_SYMBOL_FORM = re.compile(r"[A-Z0-9][A-Z0-9\-]{0,9}")


class InvalidQuery(ValueError):
    """The query cannot be searched; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str  # canonical form: folded, lower case, single spaces (the cache key)
    symbol: str | None  # ticker candidate, upper case, or None when the query cannot be a ticker
    tokens: tuple[str, ...]  # name tokens, lower case, in query order

    @property
    def symbol_fuzzy_edits(self) -> int:
        return 1 if self.symbol is not None and len(self.symbol) >= 4 else 0


def fold(text: str) -> str:
    """Lower case ASCII: compatibility-normalise, drop accents, case-fold."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


def name_words(name: str) -> tuple[str, ...]:
    return tuple(w for w in _WORD_SPLIT.split(fold(name)) if w)


def name_prefixes(name: str) -> set[str]:
    """Every prefix of every word of a company name: the terms a name-prefix query looks up."""
    out: set[str] = set()
    for word in name_words(name):
        for end in range(1, min(len(word), MAX_PREFIX_CHARS) + 1):
            out.add(word[:end])
    return out


def symbol_prefixes(symbol: str) -> set[str]:
    return {symbol[:end] for end in range(1, len(symbol) + 1)}


def normalise_symbol(text: str) -> str:
    return text.strip().upper().replace(".", "-").replace("/", "-")


def max_edits(token: str) -> int:
    if len(token) <= 3:
        return 0
    return 1 if len(token) <= 5 else 2


def parse_query(raw: str | None) -> SearchQuery:
    """Validate and normalise a query; raises InvalidQuery (empty, too long, garbage)."""
    if raw is None or not raw.strip():
        raise InvalidQuery("empty", "the query is empty")
    if len(raw) > MAX_QUERY_CHARS:
        raise InvalidQuery("too_long", f"the query is longer than {MAX_QUERY_CHARS} characters")
    if any(unicodedata.category(c).startswith("C") for c in raw):
        raise InvalidQuery("garbage", "the query contains control characters")
    folded = " ".join(fold(raw).split())
    if not _ALLOWED.fullmatch(folded):
        raise InvalidQuery(
            "garbage", "the query may contain only letters, digits, spaces and . & ' - , /"
        )
    tokens = tuple(w for w in _WORD_SPLIT.split(folded) if w)
    if not tokens:
        raise InvalidQuery("garbage", "the query has no letters or digits")
    if len(tokens) > MAX_TOKENS:
        raise InvalidQuery("too_long", f"the query has more than {MAX_TOKENS} words")
    compact = normalise_symbol(folded)
    symbol = compact if " " not in folded and _SYMBOL_FORM.fullmatch(compact) else None
    return SearchQuery(text=folded, symbol=symbol, tokens=tuple(t[:MAX_PREFIX_CHARS] for t in tokens))
