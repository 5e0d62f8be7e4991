"""Tiers and order of results (pure), on a small hand-made universe."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.query import parse_query
from search.ranking import Listing, Tier, edit_distance, fuzzy_word_match, match_tier, rank


def listing(symbol: str, name: str, cap: int) -> Listing:
    return Listing(symbol, name, "NYSE", "Test", Decimal(cap))


UNIVERSE = [
    listing("F", "Ford Motor Company", 50),
    listing("FDX", "FedEx", 60),
    listing("AAPL", "Apple Inc.", 1000),
    listing("APLE", "Apple Hospitality REIT", 1),
    listing("APH", "Amphenol", 40),
    listing("GM", "General Motors", 50),
    listing("MSFT", "Microsoft", 800),
    listing("MU", "Micron Technology", 100),
]


def symbols(q: str, limit: int = 10) -> list[str]:
    return [x.symbol for x in rank(parse_query(q), UNIVERSE, limit)]


def test_exact_ticker_beats_a_bigger_prefix_match() -> None:
    assert symbols("F")[0] == "F"  # FedEx is bigger but only a prefix


def test_within_a_tier_the_bigger_company_wins() -> None:
    assert symbols("ap") == ["AAPL", "APH", "APLE"]
    assert symbols("micro") == ["MSFT", "MU"]


def test_prefix_tier_beats_fuzzy_tier() -> None:
    q = parse_query("apple")
    assert match_tier(q, UNIVERSE[2]) is Tier.PREFIX
    assert match_tier(parse_query("appel"), UNIVERSE[2]) is Tier.FUZZY


def test_word_in_the_middle_of_a_name() -> None:
    assert symbols("motors") == ["GM", "F"]  # Ford's "Motor" is one edit away: the fuzzy tier


def test_ticker_typo_of_four_letters_is_forgiven_but_short_ones_are_not() -> None:
    assert "AAPL" in symbols("APPL")
    assert symbols("GX") == []


def test_fuzzy_requires_the_first_letter() -> None:
    assert not fuzzy_word_match("bpple", "apple")
    assert fuzzy_word_match("appel", "apple")


def test_rank_drops_duplicates_and_non_matches_and_honours_limit() -> None:
    out = rank(parse_query("ap"), [*UNIVERSE, UNIVERSE[2]], 2)
    assert [x.symbol for x in out] == ["AAPL", "APH"]


@pytest.mark.parametrize(
    ("a", "b", "d"),
    [("apple", "apple", 0), ("appel", "apple", 1), ("aple", "apple", 1), ("mircosoft", "microsoft", 1),
     ("kitten", "sitting", 3), ("", "abc", 3)],
)
def test_edit_distance(a: str, b: str, d: int) -> None:
    assert edit_distance(a, b, 5) == d


@settings(max_examples=200)
@given(st.text("abcd", max_size=7), st.text("abcd", max_size=7), st.integers(0, 3))
def test_edit_distance_is_symmetric_and_capped(a: str, b: str, limit: int) -> None:
    d = edit_distance(a, b, limit)
    assert d == edit_distance(b, a, limit)
    assert d <= limit + 1
    assert (d == 0) == (a == b)


@settings(max_examples=150)
@given(st.permutations(UNIVERSE), st.sampled_from(["a", "ap", "f", "m", "micro", "motor", "appel", "gen"]))
def test_order_does_not_depend_on_candidate_order(candidates: list[Listing], q: str) -> None:
    assert rank(parse_query(q), candidates, 10) == rank(parse_query(q), UNIVERSE, 10)


def _osa_table(a: str, b: str) -> int:
    """The optimal-string-alignment distance by the full table, no cut-off (the reference)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@settings(max_examples=500)
@given(st.text("abc", max_size=7), st.text("abc", max_size=7), st.integers(0, 3))
def test_edit_distance_equals_the_full_table_capped(a: str, b: str, limit: int) -> None:
    # limits 0 and 1 take a one-pass shortcut; 2+ the banded table with early exit
    assert edit_distance(a, b, limit) == min(_osa_table(a, b), limit + 1)
