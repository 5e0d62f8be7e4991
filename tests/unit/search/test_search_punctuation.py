"""Names match whatever their punctuation and spacing; class shares resolve however typed (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from search.query import joined_prefixes, joined_runs, listing_share_class, name_words, parse_query
from search.ranking import Listing, Tier, match_tier, rank


def listing(symbol: str, name: str, cap: float) -> Listing:
    return Listing(symbol, name, "NYSE", "Test", Decimal(int(cap)))


UNIVERSE = [
    listing("KO", "Coca-Cola Company (The)", 3.9e11),
    listing("COKE", "Coca-Cola Consolidated", 1e10),
    listing("T", "AT&T", 1.7e11),
    listing("JPM", "JPMorgan Chase", 9.3e11),
    listing("MS", "Morgan Stanley", 2e11),
    listing("JBHT", "J.B. Hunt", 1.5e10),
    listing("BRK-B", "Berkshire Hathaway", 1e12),
    listing("BRK-A", "Berkshire Hathaway", 9e11),
    listing("GOOGL", "Alphabet Inc. (Class A)", 4.2e12),
    listing("GOOG", "Alphabet Inc. (Class C)", 4.1e12),
    listing("FOXA", "Fox Corporation (Class A)", 2.9e10),
    listing("FOX", "Fox Corporation (Class B)", 2.6e10),
    listing("MCD", "McDonald's", 2.2e11),
    listing("SPGI", "S&P Global", 1.5e11),
    listing("AAPL", "Apple Inc.", 4.5e12),
    listing("F", "Ford Motor Company", 5.7e10),
]


def first(q: str) -> str:
    return rank(parse_query(q), UNIVERSE, 10)[0].symbol


@pytest.mark.parametrize(
    ("typed", "symbol"),
    [("coca cola", "KO"), ("Coca-Cola", "KO"), ("cocacola", "KO"), ("coca.cola", "KO"), ("coca cola co", "KO"),
     ("at and t", "T"), ("AT&T", "T"), ("at & t", "T"), ("att", "T"), ("at t", "T"), ("atandt", "T"),
     ("jp morgan", "JPM"), ("JP Morgan Chase", "JPM"), ("jpmorgan", "JPM"), ("j.p. morgan", "JPM"),
     ("jb hunt", "JBHT"), ("j.b. hunt", "JBHT"), ("j b hunt", "JBHT"), ("mcdonalds", "MCD"),
     ("mc donalds", "MCD"), ("s&p global", "SPGI"), ("sp global", "SPGI"), ("s and p", "SPGI")],
)
def test_punctuation_and_spacing_do_not_matter(typed: str, symbol: str) -> None:
    assert first(typed) == symbol


@pytest.mark.parametrize(
    ("typed", "symbol"),
    [("BRK.B", "BRK-B"), ("BRK-B", "BRK-B"), ("BRK/B", "BRK-B"), ("brk b", "BRK-B"), ("BRKB", "BRK-B"),
     ("berkshire b", "BRK-B"), ("berkshire a", "BRK-A"), ("brk.a", "BRK-A"), ("berkshire hathaway a", "BRK-A"),
     ("alphabet c", "GOOG"), ("alphabet a", "GOOGL"), ("alphabet class c", "GOOG"), ("fox b", "FOX"),
     ("fox a", "FOXA")],
)
def test_class_shares_resolve_however_typed(typed: str, symbol: str) -> None:
    assert first(typed) == symbol


def test_naming_no_class_keeps_size_order() -> None:
    assert [x.symbol for x in rank(parse_query("berkshire"), UNIVERSE, 10)] == ["BRK-B", "BRK-A"]
    assert [x.symbol for x in rank(parse_query("alphabet"), UNIVERSE, 10)] == ["GOOGL", "GOOG"]


def test_run_together_names_are_the_prefix_tier_and_do_not_over_match() -> None:
    assert match_tier(parse_query("cocacola"), UNIVERSE[0]) is Tier.PREFIX
    assert match_tier(parse_query("jp morgan"), UNIVERSE[4]) is None  # Morgan Stanley has no "jp"
    assert [x.symbol for x in rank(parse_query("coca cola"), UNIVERSE, 10)] == ["KO", "COKE"]


def test_derived_terms() -> None:
    assert joined_runs("AT&T") == {"atandt", "andt", "t", "att"}
    assert "cocacolacompanythe" in joined_runs("Coca-Cola Company (The)")
    assert {"j", "jp", "jpm", "jpmorganchase"} <= joined_prefixes("JPMorgan Chase")
    assert name_words("S&P Global") == ("s", "and", "p", "global")
    assert listing_share_class("BRK-B", "Berkshire Hathaway") == "b"
    assert listing_share_class("GOOG", "Alphabet Inc. (Class C)") == "c"
    assert listing_share_class("AAPL", "Apple Inc.") is None
    assert listing_share_class("RF-PB", "Regions Financial Preferred B") is None


def test_spaced_class_share_is_a_ticker_candidate_only_in_that_shape() -> None:
    assert parse_query("brk b").symbol == "BRK-B"
    assert parse_query("berkshire b").symbol is None  # too long for a ticker root
    assert parse_query("coca cola").symbol is None


words = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=7)


@settings(max_examples=200)
@example(["aaaaaaa", "aaaaaaa", "aaaaaab", "a"], ["", "", " "])  # a first word cut to 20 characters
@given(st.lists(words, min_size=1, max_size=4), st.lists(st.sampled_from([" ", "-", ".", ". ", "", "'"]),
                                                         min_size=3, max_size=3))
def test_a_name_is_found_however_its_words_are_joined(parts: list[str], seps: list[str]) -> None:
    name = " ".join(p.capitalize() for p in parts) + " Holdings"
    typed = parts[0] + "".join(seps[i % 3] + p for i, p in enumerate(parts[1:]))
    target = listing("ZZZZ", name, 1)
    assert match_tier(parse_query(typed), target) in (Tier.PREFIX, Tier.EXACT)
    assert match_tier(parse_query(name.replace(" ", "-")), target) in (Tier.PREFIX, Tier.EXACT)
