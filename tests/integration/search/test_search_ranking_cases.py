"""The ranking cases the issue demands, on the real universe, for every index adapter.

tantivy always runs (embedded, on disk in a temp dir). Elasticsearch runs the very same cases when
ELASTICSEARCH_URL (or BROKERAGE_ELASTICSEARCH_URL) names a server, and is skipped otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from search.index import IndexUnavailable, TickerIndex
from search.query import parse_query
from search.synthetic import extend_listings
from search.tantivy_index import SCHEMA_MARKER, TantivyTickerIndex
from search.universe import universe_listings

ES_URL = os.environ.get("ELASTICSEARCH_URL") or os.environ.get("BROKERAGE_ELASTICSEARCH_URL")

# (query, symbol expected, best position allowed: 1 = first)
CASES = [
    ("F", "F", 1),
    ("AAPL", "AAPL", 1),
    ("AP", "AAPL", 3),
    ("appel", "AAPL", 3),
    ("micro", "MSFT", 3),
    ("motors", "GM", 3),
    ("aapl", "AAPL", 1),
    ("Apple", "AAPL", 1),
    ("MiCrOsOfT", "MSFT", 1),
    ("general motors", "GM", 1),
    ("ford", "F", 1),
    # punctuation and spacing (ADR 014)
    ("coca cola", "KO", 1),
    ("coca-cola", "KO", 1),
    ("cocacola", "KO", 1),
    ("at and t", "T", 1),
    ("AT&T", "T", 1),
    ("att", "T", 1),
    ("jp morgan", "JPM", 1),
    ("jpmorgan", "JPM", 1),
    ("jb hunt", "JBHT", 1),
    # class shares, however typed
    ("BRK.B", "BRK-B", 1),
    ("BRK-B", "BRK-B", 1),
    ("BRK/B", "BRK-B", 1),
    ("brk b", "BRK-B", 1),
    ("BRKB", "BRK-B", 1),
    ("berkshire b", "BRK-B", 1),
    ("alphabet c", "GOOG", 1),
    ("alphabet a", "GOOGL", 1),
    ("fox b", "FOX", 1),
    ("BF.B", "BF-B", 1),
]


@pytest.fixture(scope="module", params=["tantivy", "elasticsearch"])
async def ticker_index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[
    TickerIndex
]:
    listings = universe_listings()
    if request.param == "tantivy":
        path: Path = tmp_path_factory.mktemp("search") / "tantivy"
        index: TickerIndex = TantivyTickerIndex.open(path, create=True)
        await index.replace_all(listings)
        yield index
        return
    if not ES_URL:
        pytest.skip("Elasticsearch not available: set ELASTICSEARCH_URL to run the same cases against it")
    from search.elastic import ElasticTickerIndex

    es = ElasticTickerIndex.from_url(ES_URL, alias=f"tickers-test-{uuid.uuid4().hex[:8]}")
    await es.replace_all(listings)
    try:
        yield es
    finally:
        await es.drop()
        await es.close()


@pytest.mark.parametrize(("text", "symbol", "within"), CASES)
async def test_ranking_case(ticker_index: TickerIndex, text: str, symbol: str, within: int) -> None:
    found = [x.symbol for x in await ticker_index.search(parse_query(text), 10)]
    assert symbol in found[:within], f"{text!r} → {found}"


async def test_search_is_case_insensitive(ticker_index: TickerIndex) -> None:
    for text in ("ap", "motors", "micro", "f"):
        lower = await ticker_index.search(parse_query(text.lower()), 10)
        upper = await ticker_index.search(parse_query(text.upper()), 10)
        assert lower == upper


async def test_results_carry_reference_data_and_are_ordered_by_tier_then_size(ticker_index: TickerIndex) -> None:
    found = await ticker_index.search(parse_query("micro"), 10)
    caps = [x.market_cap for x in found]
    assert caps == sorted(caps, reverse=True)  # all are prefix matches: biggest first
    msft = found[0]
    assert (msft.symbol, msft.exchange) == ("MSFT", "NASDAQ") and msft.name.startswith("Microsoft")


async def test_search_ranks_by_the_real_market_cap(ticker_index: TickerIndex) -> None:
    found = [x.symbol for x in await ticker_index.search(parse_query("ap"), 3)]
    assert found[0] == "AAPL"  # $4.5 trillion in the shipped data set
    apple = (await ticker_index.search(parse_query("AAPL"), 1))[0]
    assert apple.market_cap == Decimal("4514709504000")


async def test_nothing_found_is_an_empty_list(ticker_index: TickerIndex) -> None:
    assert await ticker_index.search(parse_query("qqqqxqz"), 10) == []


async def test_limit_is_honoured(ticker_index: TickerIndex) -> None:
    assert len(await ticker_index.search(parse_query("a"), 3)) == 3


async def test_cases_hold_at_benchmark_scale(tmp_path: Path) -> None:
    index = TantivyTickerIndex.open(tmp_path / "big", create=True)
    await index.replace_all(extend_listings(universe_listings(), 30_000))
    for text, symbol, within in CASES:
        found = [x.symbol for x in await index.search(parse_query(text), 10)]
        assert symbol in found[:within], f"{text!r} → {found}"


async def test_reindex_replaces_content_and_reopen_sees_it(tmp_path: Path) -> None:
    path = tmp_path / "t"
    first = TantivyTickerIndex.open(path, create=True)
    await first.replace_all(universe_listings()[:10])
    await first.replace_all(universe_listings())
    reopened = TantivyTickerIndex.open(path)
    assert [x.symbol for x in await reopened.search(parse_query("AAPL"), 1)] == ["AAPL"]


async def test_an_index_of_an_older_layout_is_reported_then_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "old"
    await TantivyTickerIndex.open(path, create=True).replace_all(universe_listings()[:5])
    (path / SCHEMA_MARKER).unlink()  # as left by a version without the marker
    with pytest.raises(IndexUnavailable, match="older layout"):
        TantivyTickerIndex.open(path)
    rebuilt = TantivyTickerIndex.open(path, create=True)
    await rebuilt.replace_all(universe_listings())
    assert [x.symbol for x in await TantivyTickerIndex.open(path).search(parse_query("coca cola"), 1)] == ["KO"]


def test_missing_index_is_reported_not_created(tmp_path: Path) -> None:
    with pytest.raises(IndexUnavailable, match="reindex"):
        TantivyTickerIndex.open(tmp_path / "none")
    assert not (tmp_path / "none").exists()
