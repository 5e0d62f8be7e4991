"""One-edit neighbourhoods (search.typos) are exactly the one-edit fuzzy matches of search.ranking (pure)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from search.ranking import edit_distance
from search.typos import one_edit_neighbours

ALPHABET = "abc-"


def ranking_accepts(text: str, other: str) -> bool:
    """What ranking.rank accepts as a one-edit match: the same first letter, at most one edit."""
    return other[:1] == text[:1] and edit_distance(text, other, 1) <= 1


@settings(max_examples=400)
@given(st.text(ALPHABET, min_size=1, max_size=6), st.text(ALPHABET, max_size=7))
@example("aab", "ab")  # deleting one of two equal leading letters keeps the first letter
@example("ab", "aab")
@example("abc", "acb")
@example("abc", "bac")  # a transposition of the first letter changes it: not a match
def test_a_string_is_a_neighbour_exactly_when_ranking_calls_it_one_edit_away(text: str, other: str) -> None:
    assert (other in one_edit_neighbours(text, ALPHABET)) == ranking_accepts(text, other)


@settings(max_examples=200)
@given(st.text(ALPHABET, min_size=1, max_size=6), st.sets(st.text(ALPHABET, min_size=1, max_size=7), max_size=30))
def test_intersecting_with_a_vocabulary_needs_only_the_vocabularys_own_letters(text: str, words: set[str]) -> None:
    alphabet = "".join(sorted(set().union(*words))) if words else ""
    found = one_edit_neighbours(text, alphabet) & words
    assert found == {w for w in words if ranking_accepts(text, w)}
