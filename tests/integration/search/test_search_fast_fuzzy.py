"""The tantivy adapter's fuzzy tier by typo lookup (ADR 034) ranks exactly as search.ranking.rank over
the whole universe: the brute-force answer, which the Levenshtein-automaton version also had to give."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from search.query import InvalidQuery, parse_query
from search.ranking import Listing, fuzzy_word_match, rank
from search.synthetic import extend_listings
from search.tantivy_index import TantivyTickerIndex, anchored
from search.universe import universe_listings

SYLLABLES = ("ap", "pel", "ple", "ma", "mo", "tor", "tro", "ban", "bna", "k", "ka", "an", "na", "and", "&")
LETTERS = "ABKMNOPT"


@st.composite
def universes(draw: st.DrawFn) -> list[Listing]:
    count = draw(st.integers(1, 30))
    symbols = draw(st.lists(st.text(LETTERS, min_size=1, max_size=5), min_size=count, max_size=count, unique=True))
    caps = draw(st.lists(st.integers(1, 10**9), min_size=count, max_size=count, unique=True))
    out = []
    for symbol, cap in zip(symbols, caps, strict=True):
        words = draw(st.lists(st.lists(st.sampled_from(SYLLABLES), min_size=1, max_size=4).map("".join),
                              min_size=1, max_size=3))
        share = draw(st.sampled_from(["", "", " (Class A)", "-B"]))
        name, sym = " ".join(words), symbol
        if share == "-B" and len(symbol) <= 4:
            sym = symbol + "-B"
        elif share.startswith(" "):
            name += share
        out.append(Listing(sym, name.title(), "NYSE", "Test", Decimal(cap)))
    return out


def typo(text: str, kind: int, at: int, letter: str) -> str:
    if not text:
        return text
    i = at % len(text)
    if kind == 0:
        return text[:i] + text[i + 1:]
    if kind == 1:
        return text[:i] + letter + text[i + 1:]
    if kind == 2:
        return text[:i] + letter + text[i:]
    return text[:i] + text[i + 1:i + 2] + text[i] + text[i + 2:] if i + 1 < len(text) else text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(universes(), st.data())
def test_tantivy_ranks_like_rank_over_the_whole_universe(universe: list[Listing], data: st.DataObject) -> None:
    index = TantivyTickerIndex.in_memory()
    index.replace_all_sync(universe)
    for _ in range(8):
        listing = data.draw(st.sampled_from(universe))
        base = data.draw(st.sampled_from([listing.symbol, listing.name, listing.name.split()[0],
                                          listing.name.split()[-1], listing.symbol.lower()]))
        edits = data.draw(st.integers(0, 2))
        for _ in range(edits):
            base = typo(base, data.draw(st.integers(0, 3)), data.draw(st.integers(0, 20)),
                        data.draw(st.sampled_from("abkmnoptAB -&")))
        try:
            query = parse_query(base)
        except InvalidQuery:
            continue
        limit = data.draw(st.sampled_from([1, 3, 10]))
        assert index.search_sync(query, limit) == rank(query, universe, limit), base


def test_benchmark_scale_queries_rank_like_brute_force(tmp_path: Path) -> None:
    listings = extend_listings(universe_listings(), 3_000)
    index = TantivyTickerIndex.open(tmp_path / "t", create=True)
    index.replace_all_sync(listings)
    names = [x.name.split()[0].lower() for x in listings[::53]]
    symbols = [x.symbol for x in listings[::47]]
    queries = ["appel", "mircosoft", "aple", "motros", "AAPL", "APPL", "MSFY", "tesal", "berkshire b", "jp morgn"]
    queries += [typo(n, k, 3, "e") for k, n in enumerate(names[:25])] + [typo(s, 1, 2, "Q") for s in symbols[:25]]
    for text in queries:
        query = parse_query(text)
        assert index.search_sync(query, 10) == rank(query, listings, 10), text


def test_a_reindex_by_another_process_is_seen_by_the_typo_lookup(tmp_path: Path) -> None:
    path = tmp_path / "t"
    serving = TantivyTickerIndex.open(path, create=True)
    serving.replace_all_sync([Listing("AAA", "Alpha Widgets", "NYSE", "Test", Decimal(5))])
    assert serving.search_sync(parse_query("widgts"), 10) != []
    assert serving.search_sync(parse_query("gadgts"), 10) == []
    # another process (here: another handle on the same directory) rebuilds the index
    TantivyTickerIndex.open(path).replace_all_sync([Listing("BBBB", "Beta Gadgets", "NYSE", "Test", Decimal(7))])
    assert [x.symbol for x in serving.search_sync(parse_query("gadgts"), 10)] == ["BBBB"]
    assert [x.symbol for x in serving.search_sync(parse_query("BBBC"), 10)] == ["BBBB"]
    assert serving.search_sync(parse_query("widgts"), 10) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text("abn", min_size=4, max_size=9), min_size=1, max_size=40, unique=True),
       st.text("abn", min_size=6, max_size=9))
@example(["ananas", "nananas", "bananas", "banan", "bnanaa"], "bananas")  # other first letters one edit away
def test_the_two_edit_lookup_finds_every_ranking_match_and_keeps_the_first_letter(words: list[str], token: str) -> None:
    """Below rank (which filters): the anchored automaton itself returns the fuzzy words ranking accepts,
    and none with another first letter, so a limited fetch is not crowded out by them (ADR 044)."""
    listings = [Listing(f"S{i}", word, "NYSE", "Test", Decimal(i + 1)) for i, word in enumerate(words)]
    index = TantivyTickerIndex.in_memory()
    index.replace_all_sync(listings)
    searcher = index.vocabulary().searcher
    query = index._fuzzy("name_word_anchored", anchored(token), 2)
    found = {str(searcher.doc(a).get_first("name")) for _, a in searcher.search(query, 100, count=False).hits}
    assert {w for w in words if fuzzy_word_match(token, w)} <= found
    assert all(w[0] == token[0] for w in found)
