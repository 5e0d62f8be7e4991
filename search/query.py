"""Turning what a user typed into a search query, and the terms a listing is indexed under (pure).

Both index adapters index the same derived terms and ask the same three questions, so their
ranking agrees:

* the *symbol candidate* is the query compacted to ticker form (``brk.b`` → ``BRK-B``) when it
  looks like a ticker; it is matched exactly (top tier) and as a prefix;
* the *name tokens* are the query's words, each matched as a prefix of some word of the company
  name (search-as-you-type: ``gen mot`` finds General Motors, ``motors`` finds it too);
* punctuation and spacing inside a name do not matter (ADR 014): ``&`` is also the word ``and``, and the
  query's tokens run together (the *compact* form) may be a prefix of the name's words run together from
  any word on, so ``coca cola``/``cocacola`` find "Coca-Cola", ``jp morgan`` "JPMorgan Chase",
  ``at and t``/``att`` "AT&T" and ``jb hunt`` "J.B. Hunt";
* a class share resolves however its symbol is typed (``BRK.B``, ``BRK/B``, ``BRK B``, ``BRKB``:
  ``refdata.symbology``), and a one-letter word of the query that names a listing's share class
  (``berkshire b``, ``alphabet c``) puts that class first among equally good matches;
* tokens long enough get a fuzzy allowance (``appel`` → Apple): none up to 3 characters (short
  tickers and words are too ambiguous to correct), 1 edit for 4–5, 2 edits from 6; the first
  character must match (prefix length 1), like Elasticsearch's ``prefix_length: 1``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from refdata.symbology import canonical_symbol, compact_symbol, share_class

MAX_QUERY_CHARS = 64
MAX_TOKENS = 8
MAX_PREFIX_CHARS = 20  # longer words are indexed by their first 20 characters only
MAX_JOINED_CHARS = 24  # name words run together are indexed by their first 24 characters only
FUZZY_PREFIX_LENGTH = 1

_ALLOWED = re.compile(r"[a-z0-9 .&'\-,/]*")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_SYMBOL_FORM = re.compile(r"[A-Z0-9][A-Z0-9\-]{0,9}")
_SPACED_CLASS_SHARE = re.compile(r"([a-z]{1,5}) ([a-z])")  # "brk b": a root and a class letter
_AMPERSAND = re.compile(r"\s*&\s*")
_NAME_CLASS = re.compile(r"\bclass ([a-z])\b")


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
    tokens: tuple[str, ...]  # name tokens, lower case, in query order ("&" is the token "and")
    # the words run together BEFORE each is cut to MAX_PREFIX_CHARS, at most MAX_JOINED_CHARS
    # ("coca cola" → "cocacola"): cutting a long first word would otherwise drop letters from the middle
    compact: str = ""

    @property
    def class_letters(self) -> frozenset[str]:
        """One-letter tokens: the share classes the query may name (``berkshire b``)."""
        return frozenset(t for t in self.tokens if len(t) == 1 and t.isalpha())

    @property
    def symbol_fuzzy_edits(self) -> int:
        return 1 if self.symbol is not None and len(self.symbol) >= 4 else 0


def fold(text: str) -> str:
    """Lower case ASCII: compatibility-normalise, drop accents, case-fold."""
    if text.isascii():  # ASCII has no decompositions and no combining marks: only the case to fold
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.casefold()


def _words(folded: str) -> tuple[str, ...]:
    return tuple(w for w in _WORD_SPLIT.split(folded) if w)


def name_words(name: str) -> tuple[str, ...]:
    """The words of a name, folded; an ampersand is the word ``and`` (``AT&T`` → at, and, t)."""
    return _words(_AMPERSAND.sub(" and ", fold(name)))


def joined_runs(name: str) -> set[str]:
    """The name's words run together from each word to the end, with ``&`` read as ``and`` and as
    nothing, cut to MAX_JOINED_CHARS: ``AT&T`` → atandt, andt, t, att. A query whose compact form is
    a prefix of one of them matches however the name is punctuated or spaced."""
    folded = fold(name)
    out: set[str] = set()
    for words in (_words(_AMPERSAND.sub(" and ", folded)), _words(folded)):
        for start in range(len(words)):
            out.add("".join(words[start:])[:MAX_JOINED_CHARS])
    return out


def joined_prefixes(name: str) -> set[str]:
    """Every prefix of every joined run: the terms a compact-query lookup finds."""
    return {run[:end] for run in joined_runs(name) for end in range(1, len(run) + 1)}


def listing_share_class(symbol: str, name: str) -> str | None:
    """The share-class letter of a listing, lower case: from the symbol (``BRK-B``) or from a
    "(Class C)" in its name; None for ordinary shares."""
    letter = share_class(symbol)
    if letter is not None:
        return letter.lower()
    match = _NAME_CLASS.search(fold(name))
    return match.group(1) if match else None


def listing_words(symbol: str, name: str) -> tuple[str, ...]:
    """The words a listing is found by: its name's words, plus its share-class letter (``BRK-B`` is
    also found by the word ``b``, so ``berkshire b`` matches it even though its name has no "B")."""
    words = name_words(name)
    letter = listing_share_class(symbol, name)
    return words if letter is None or letter in words else (*words, letter)


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
    """Ticker form: ``brk.b``, ``BRK/B`` → ``BRK-B`` (``refdata.symbology.canonical_symbol``)."""
    return canonical_symbol(text)


def symbols_match(wanted: str, symbol: str) -> bool:
    """The same listing symbol, separators aside: ``BRKB`` and ``BRK-B`` are one."""
    return wanted == symbol or compact_symbol(wanted) == compact_symbol(symbol)


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
    tokens = _words(_AMPERSAND.sub(" and ", folded))
    if not tokens:
        raise InvalidQuery("garbage", "the query has no letters or digits")
    if len(tokens) > MAX_TOKENS:
        raise InvalidQuery("too_long", f"the query has more than {MAX_TOKENS} words")
    symbol: str | None = None
    if " " not in folded:
        candidate = normalise_symbol(folded)
        symbol = candidate if _SYMBOL_FORM.fullmatch(candidate) else None
    elif _SPACED_CLASS_SHARE.fullmatch(folded):
        symbol = normalise_symbol(folded)  # "brk b" → BRK-B
    compact = "".join(tokens)[:MAX_JOINED_CHARS]
    tokens = tuple(t[:MAX_PREFIX_CHARS] for t in tokens)
    return SearchQuery(text=folded, symbol=symbol, tokens=tokens, compact=compact)
