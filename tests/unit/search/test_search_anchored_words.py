"""Anchored words (ADR 044): the two-edit fuzzy lookup keeps the first letter, and loses no match (pure)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from search.query import MAX_PREFIX_CHARS, max_edits
from search.ranking import edit_distance
from search.tantivy_index import ANCHOR_REPEAT, anchored

WORDS = st.text("abn", min_size=1, max_size=9)


def test_the_anchor_is_longer_than_any_edit_allowance() -> None:
    assert all(max_edits("x" * n) < ANCHOR_REPEAT for n in range(1, MAX_PREFIX_CHARS + 1))


@settings(max_examples=600)
@given(WORDS, WORDS)
@example("aaaaab", "aab")  # repeated leading letters on both sides
@example("abnabn", "banabn")  # a transposition of the first letter
@example("bbbbbb", "abbbbb")
def test_anchoring_keeps_distances_within_a_first_letter_and_separates_first_letters(token: str, word: str) -> None:
    far = edit_distance(anchored(token), anchored(word), 2)
    if token[0] == word[0]:
        assert far == edit_distance(token, word, 2)
    else:
        assert far > 2
