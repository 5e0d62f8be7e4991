"""Query normalisation and the derived index terms."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.query import (
    MAX_QUERY_CHARS,
    InvalidQuery,
    max_edits,
    name_prefixes,
    name_words,
    parse_query,
    symbol_prefixes,
)


def test_symbol_candidate_is_upper_case_ticker_form() -> None:
    assert parse_query("aapl").symbol == "AAPL"
    assert parse_query(" brk.b ").symbol == "BRK-B"
    assert parse_query("BRK/B").symbol == "BRK-B"


def test_multi_word_query_has_tokens_and_compact_symbol() -> None:
    q = parse_query("General   MOTORS")
    assert q.tokens == ("general", "motors")
    assert q.text == "general motors"
    assert q.symbol is None  # longer than a ticker can be


def test_accents_are_folded() -> None:
    assert parse_query("Nestlé").tokens == ("nestle",)
    assert name_words("Société Générale") == ("societe", "generale")


def test_punctuation_splits_name_words_and_an_ampersand_is_and() -> None:
    assert name_words("AT&T Inc.") == ("at", "and", "t", "inc")
    assert parse_query("at&t").tokens == ("at", "and", "t")
    assert parse_query("AT & T").tokens == parse_query("at and t").tokens


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty"),
        ("", "empty"),
        ("   ", "empty"),
        ("a" * (MAX_QUERY_CHARS + 1), "too_long"),
        ("a b c d e f g h i", "too_long"),
        ("<script>", "garbage"),
        ("%%%", "garbage"),
        ("...", "garbage"),
        ("ab\x00c", "garbage"),
        ("DROP TABLE;", "garbage"),
        ("日本", "garbage"),
        ("apple\n", "garbage"),
    ],
)
def test_bad_queries_are_refused_with_a_reason(raw: str | None, reason: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        parse_query(raw)
    assert info.value.reason == reason


@settings(max_examples=200)
@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_cleanly(raw: str) -> None:
    try:
        q = parse_query(raw)
    except InvalidQuery as exc:
        assert exc.reason in {"empty", "too_long", "garbage"}
        return
    assert q.tokens and all(t.isascii() and t.isalnum() and t == t.lower() for t in q.tokens)
    assert parse_query(q.text) == q  # the canonical form is a fixed point (it is the cache key)


def test_fuzziness_grows_with_length_and_never_touches_short_tokens() -> None:
    assert [max_edits("x" * n) for n in range(1, 9)] == [0, 0, 0, 1, 1, 2, 2, 2]
    assert parse_query("IBM").symbol_fuzzy_edits == 0
    assert parse_query("MSFT").symbol_fuzzy_edits == 1


def test_index_terms() -> None:
    assert symbol_prefixes("BRK-B") == {"B", "BR", "BRK", "BRK-", "BRK-B"}
    assert name_prefixes("Ford Motor") == {"f", "fo", "for", "ford", "m", "mo", "mot", "moto", "motor"}
