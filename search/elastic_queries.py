"""Elasticsearch index definition and query builder for tickers (pure: plain dicts, no client).

Mapping: ``symbol`` is a keyword with a lowercase normalizer (case-insensitive exact and prefix
matches); ``name`` is ``search_as_you_type`` (its hidden ``_index_prefix`` field makes prefix
queries a term lookup), split on non-alphanumerics and accent-folded like ``search.query.name_words``
(an ``&`` is also the word ``and``); the derived terms computed in Python by the same functions as the
tantivy adapter: ``name_joined`` (the name's words run together from each word, for punctuation-free
matching: ``coca cola`` → "Coca-Cola"), ``symbol_compact`` (``BRKB`` → BRK-B) and ``share_class``;
``market_cap_rank`` is a ``rank_feature``.

Query: a ``dis_max`` of constant-score tiers (exact ticker 1000, prefix naming the share class 200,
ticker/name prefix 100, fuzzy 10) plus ``rank_feature(log)`` on market cap with a boost small enough
(≤ 3) never to lift a result over a tier, so the order is tier first, then size: the same as
``search.ranking``.
"""

from __future__ import annotations

from typing import Any

from refdata.symbology import compact_symbol
from search.query import FUZZY_PREFIX_LENGTH, SearchQuery, joined_runs, listing_share_class, max_edits
from search.ranking import Listing

EXACT_BOOST = 1000.0
SHARE_CLASS_BOOST = 200.0  # a prefix match whose share class the query names ("berkshire b")
PREFIX_BOOST = 100.0
FUZZY_BOOST = 10.0
MARKET_CAP_BOOST = 0.1  # log(1 + 3e12) ≈ 28.7, so at most 2.9: below the gap between tiers
SOURCE_FIELDS = ["symbol", "name", "exchange", "sector", "market_cap"]

Json = dict[str, Any]


def index_settings() -> Json:
    return {
        "number_of_shards": 1,
        "analysis": {
            "normalizer": {"lowercase_ascii": {"type": "custom", "filter": ["lowercase", "asciifolding"]}},
            # "AT&T" → at, and, t (the pattern tokenizer splits on the underscores)
            "char_filter": {"ampersand_and": {"type": "mapping", "mappings": ["& => _and_"]}},
            "tokenizer": {"alnum_words": {"type": "pattern", "pattern": "[^\\p{L}\\p{Nd}]+"}},
            "analyzer": {
                "company_name": {
                    "type": "custom",
                    "char_filter": ["ampersand_and"],
                    "tokenizer": "alnum_words",
                    "filter": ["lowercase", "asciifolding"],
                }
            },
        },
    }


def index_mappings() -> Json:
    return {
        "dynamic": "strict",
        "properties": {
            "symbol": {"type": "keyword", "normalizer": "lowercase_ascii"},
            "symbol_compact": {"type": "keyword", "normalizer": "lowercase_ascii"},
            "name": {"type": "search_as_you_type", "analyzer": "company_name", "max_shingle_size": 3},
            "name_joined": {"type": "keyword"},  # search.query.joined_runs: folded, lower case already
            "share_class": {"type": "keyword"},
            "exchange": {"type": "keyword"},
            "sector": {"type": "keyword"},
            "market_cap": {"type": "keyword", "index": False},  # exact decimal for the response
            "market_cap_rank": {"type": "rank_feature"},
        },
    }


def listing_source(listing: Listing) -> Json:
    return {
        "symbol": listing.symbol,
        "name": listing.name,
        "exchange": listing.exchange,
        "sector": listing.sector,
        "market_cap": str(listing.market_cap),
        "symbol_compact": compact_symbol(listing.symbol),
        "name_joined": sorted(joined_runs(listing.name)),
        "share_class": listing_share_class(listing.symbol, listing.name),
        # rank_feature values must be positive
        "market_cap_rank": max(float(listing.market_cap), 1.0),
    }


def listing_from_source(source: Json) -> Listing:
    return Listing.from_mapping({k: str(source[k]) for k in SOURCE_FIELDS})


def _const(filter_query: Json, boost: float) -> Json:
    return {"constant_score": {"filter": filter_query, "boost": boost}}


def _fuzzy(field: str, value: str, edits: int) -> Json:
    return {
        "fuzzy": {
            field: {
                "value": value,
                "fuzziness": edits,
                "prefix_length": FUZZY_PREFIX_LENGTH,
                "transpositions": True,
            }
        }
    }


def _name_prefix(token: str) -> Json:
    """A prefix of a name word; a one-letter token may also be the listing's share class (the letter
    is one of the listing's words: ``search.query.listing_words``)."""
    prefix = {"prefix": {"name": {"value": token}}}
    if len(token) == 1 and token.isalpha():
        return {"bool": {"should": [prefix, {"term": {"share_class": token}}], "minimum_should_match": 1}}
    return prefix


def build_query(query: SearchQuery) -> Json:
    tiers: list[Json] = []
    prefix_any: list[Json] = [
        {"bool": {"must": [_name_prefix(t) for t in query.tokens]}},
        {"prefix": {"name_joined": {"value": query.compact}}},
    ]
    if query.symbol is not None:
        symbol = query.symbol.lower()
        exact = [{"term": {"symbol": symbol}}, {"term": {"symbol_compact": compact_symbol(symbol).lower()}}]
        tiers.append(_const({"bool": {"should": exact, "minimum_should_match": 1}}, EXACT_BOOST))
        prefix_any.append({"prefix": {"symbol": {"value": symbol}}})
    prefix_tier: Json = {"bool": {"should": prefix_any, "minimum_should_match": 1}}
    if query.class_letters:
        named = {"terms": {"share_class": sorted(query.class_letters)}}
        tiers.append(_const({"bool": {"must": [prefix_tier, named]}}, SHARE_CLASS_BOOST))
    tiers.append(_const(prefix_tier, PREFIX_BOOST))

    fuzzy_any: list[Json] = []
    if any(max_edits(t) for t in query.tokens):
        per_token = []
        for token in query.tokens:
            options = [_name_prefix(token)]
            if max_edits(token):
                options.append(_fuzzy("name", token, max_edits(token)))
            per_token.append({"bool": {"should": options, "minimum_should_match": 1}})
        fuzzy_any.append({"bool": {"must": per_token}})
    if query.symbol is not None and query.symbol_fuzzy_edits:
        fuzzy_any.append(_fuzzy("symbol", query.symbol.lower(), query.symbol_fuzzy_edits))
    if fuzzy_any:
        tiers.append(_const({"bool": {"should": fuzzy_any, "minimum_should_match": 1}}, FUZZY_BOOST))

    return {
        "bool": {
            "must": [{"dis_max": {"queries": tiers, "tie_breaker": 0.0}}],
            "should": [
                {
                    "rank_feature": {
                        "field": "market_cap_rank",
                        "log": {"scaling_factor": 1},
                        "boost": MARKET_CAP_BOOST,
                    }
                }
            ],
        }
    }


def build_search_body(query: SearchQuery, limit: int) -> Json:
    """Keyword arguments for ``AsyncElasticsearch.search``; fetches a few extra candidates so the
    final ranking (``search.ranking.rank``) can settle near-ties of the rank feature's precision."""
    return {"query": build_query(query), "size": limit * 2, "source": SOURCE_FIELDS, "track_total_hits": False}
