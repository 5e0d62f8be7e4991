"""The Elasticsearch mapping and query builder (pure dicts; no server needed)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from search.elastic_queries import (
    EXACT_BOOST,
    FUZZY_BOOST,
    MARKET_CAP_BOOST,
    PREFIX_BOOST,
    SHARE_CLASS_BOOST,
    build_query,
    build_search_body,
    index_mappings,
    index_settings,
    listing_from_source,
    listing_source,
)
from search.query import parse_query
from search.ranking import Listing


def walk(node: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in a nested query."""
    found: list[Any] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                found.append(v)
            found += walk(v, key)
    elif isinstance(node, list):
        for v in node:
            found += walk(v, key)
    return found


def tiers(query: dict[str, Any]) -> list[dict[str, Any]]:
    return query["bool"]["must"][0]["dis_max"]["queries"]  # type: ignore[no-any-return]


def test_mapping_symbol_is_a_lowercased_keyword_and_name_is_search_as_you_type() -> None:
    props = index_mappings()["properties"]
    assert props["symbol"] == {"type": "keyword", "normalizer": "lowercase_ascii"}
    assert props["name"]["type"] == "search_as_you_type"
    assert props["name"]["analyzer"] == "company_name"
    assert props["market_cap_rank"] == {"type": "rank_feature"}
    analysis = index_settings()["analysis"]
    assert analysis["normalizer"]["lowercase_ascii"]["filter"] == ["lowercase", "asciifolding"]
    assert "lowercase" in analysis["analyzer"]["company_name"]["filter"]


def test_exact_symbol_gets_the_highest_constant_score() -> None:
    q = build_query(parse_query("AAPL"))
    exact = tiers(q)[0]["constant_score"]
    assert exact["boost"] == EXACT_BOOST
    assert exact["filter"]["bool"]["should"] == [{"term": {"symbol": "aapl"}}, {"term": {"symbol_compact": "aapl"}}]
    assert [t["constant_score"]["boost"] for t in tiers(q)] == [EXACT_BOOST, PREFIX_BOOST, FUZZY_BOOST]


def test_prefix_tier_covers_symbol_and_every_name_token() -> None:
    prefix = tiers(build_query(parse_query("gen mot")))
    assert len(prefix) == 1  # with a space it cannot be a ticker; words of 3 letters get no fuzziness
    prefixes = walk(prefix, "prefix")
    assert {"name": {"value": "gen"}} in prefixes and {"name": {"value": "mot"}} in prefixes


def test_no_fuzziness_for_short_tickers_and_tokens() -> None:
    for text in ("F", "AP", "IBM", "gm"):
        assert walk(build_query(parse_query(text)), "fuzzy") == []


def test_fuzzy_names_have_prefix_length_one_and_transpositions() -> None:
    fuzzies = walk(build_query(parse_query("appel")), "fuzzy")
    by_field = {next(iter(f)): next(iter(f.values())) for f in fuzzies}
    assert by_field["name"] == {"value": "appel", "fuzziness": 1, "prefix_length": 1, "transpositions": True}
    assert by_field["symbol"]["fuzziness"] == 1 and by_field["symbol"]["prefix_length"] == 1
    assert walk(build_query(parse_query("microsofy")), "fuzziness") == [2, 1]


def test_market_cap_rank_feature_cannot_lift_a_result_over_a_tier() -> None:
    q = build_query(parse_query("ap"))
    feature = q["bool"]["should"][0]["rank_feature"]
    assert feature["field"] == "market_cap_rank" and "log" in feature
    import math

    largest_boost = MARKET_CAP_BOOST * math.log(1 + 1e13)  # $10 trillion
    assert largest_boost < PREFIX_BOOST - FUZZY_BOOST and largest_boost < EXACT_BOOST - PREFIX_BOOST


def test_body_is_json_and_asks_for_the_source_fields() -> None:
    body = build_search_body(parse_query("micro"), 10)
    json.dumps(body)
    assert body["size"] == 20 and body["source"] == ["symbol", "name", "exchange", "sector", "market_cap"]


def test_source_round_trip_keeps_the_exact_market_cap() -> None:
    listing = Listing("BRK-B", "Berkshire Hathaway", "NYSE", "Financials", Decimal("1030000000000.50"))
    source = listing_source(listing)
    assert source["market_cap_rank"] > 0
    assert listing_from_source(source) == listing


def test_mapping_has_the_punctuation_free_and_class_share_fields() -> None:
    props = index_mappings()["properties"]
    assert props["name_joined"] == {"type": "keyword"} and props["share_class"] == {"type": "keyword"}
    assert props["symbol_compact"] == {"type": "keyword", "normalizer": "lowercase_ascii"}
    analysis = index_settings()["analysis"]
    assert analysis["char_filter"]["ampersand_and"] == {"type": "mapping", "mappings": ["& => _and_"]}
    assert analysis["analyzer"]["company_name"]["char_filter"] == ["ampersand_and"]


def test_source_carries_the_derived_terms_of_the_tantivy_adapter() -> None:
    source = listing_source(Listing("T", "AT&T", "NYSE", "Telecom", Decimal(1)))
    assert source["name_joined"] == ["andt", "atandt", "att", "t"] and source["share_class"] is None
    brk = listing_source(Listing("BRK-B", "Berkshire Hathaway", "NYSE", "Financials", Decimal(1)))
    assert (brk["symbol_compact"], brk["share_class"]) == ("BRKB", "b")
    goog = listing_source(Listing("GOOG", "Alphabet Inc. (Class C)", "NASDAQ", "Media", Decimal(1)))
    assert goog["share_class"] == "c"


def test_query_matches_the_words_run_together() -> None:
    prefixes = walk(build_query(parse_query("coca cola")), "prefix")
    assert {"name_joined": {"value": "cocacola"}} in prefixes
    assert {"name_joined": {"value": "atandt"}} in walk(build_query(parse_query("AT&T")), "prefix")


def test_exact_tier_accepts_the_compact_symbol() -> None:
    exact = tiers(build_query(parse_query("BRK/B")))[0]["constant_score"]["filter"]["bool"]["should"]
    assert exact == [{"term": {"symbol": "brk-b"}}, {"term": {"symbol_compact": "brkb"}}]


def test_a_named_share_class_gets_its_own_tier_between_exact_and_prefix() -> None:
    q = build_query(parse_query("berkshire b"))
    boosts = [t["constant_score"]["boost"] for t in tiers(q)]
    assert boosts == [SHARE_CLASS_BOOST, PREFIX_BOOST, FUZZY_BOOST]
    assert PREFIX_BOOST < SHARE_CLASS_BOOST < EXACT_BOOST
    assert {"share_class": ["b"]} in walk(tiers(q)[0], "terms")
    assert {"share_class": "b"} in walk(tiers(q)[1], "term")  # the letter is one of the listing's words
    assert walk(build_query(parse_query("berkshire")), "share_class") == []
