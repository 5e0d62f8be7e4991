"""GET /v1/quotes/{symbol}/book on the real app (its lifespan, tokens in PostgreSQL), books written to the real
Redis by the ingestor's book writer from the ingestor's own quote book."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from marketdata.book import QuoteBook
from marketdata.depth_redis import BookWriter
from marketdata.fix_md import NEW, MdEntry, Snapshot
from marketdata.quotes import Quote, now_us
from marketdata.redis_quotes import QuoteWriter
from tests.integration.api.conftest import Seed

pytestmark = pytest.mark.integration


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def write_book(redis: Any, symbol: str, bids: int, asks: int) -> None:
    """A book of ``bids``/``asks`` levels one cent apart around 100, as the ingestor holds and writes it."""
    entries = [MdEntry(NEW, "0", symbol, f"{Decimal('99.99') - Decimal(i) / 100}", str(100 * (i + 1)))
               for i in range(bids)]
    entries += [MdEntry(NEW, "1", symbol, f"{Decimal('100.01') + Decimal(i) / 100}", str(200 + i)) for i in range(asks)]
    entries += [MdEntry(NEW, "2", symbol, "100.00", "50"), MdEntry(NEW, "B", symbol, None, "12000")]
    book = QuoteBook()
    book.apply_snapshot(Snapshot("md-1", symbol, tuple(entries), now_us()))
    assert await BookWriter(redis).write(book.states, [symbol], now_us()) == 1


async def test_book_levels_in_order_at_the_requested_depth(client: httpx.AsyncClient, seed: Seed,
                                                           redis_client: Any) -> None:
    token = await seed.token("compliance")
    await write_book(redis_client, "AAPL", bids=12, asks=4)  # the ingestor keeps 10 a side

    full = await client.get("/v1/quotes/AAPL/book", headers=auth(token))
    assert full.status_code == 200, full.text
    body = full.json()
    assert body["symbol"] == "AAPL" and body["depth"] == 10 and body["stale"] is False
    assert [level["price"] for level in body["bids"]] == [str(Decimal("99.99") - Decimal(i) / 100) for i in range(10)]
    assert [level["size"] for level in body["bids"][:2]] == ["100", "200"]
    assert [level["price"] for level in body["asks"]] == ["100.01", "100.02", "100.03", "100.04"]
    assert (body["last"], body["last_size"], body["volume"]) == ("100.00", "50", "12000")
    zero = (await client.get("/v1/quotes/AAPL/book?depth=0", headers=auth(token))).json()  # 0 = the full book
    assert (zero["depth"], zero["bids"], zero["asks"]) == (10, body["bids"], body["asks"])

    three = (await client.get("/v1/quotes/aapl/book", params={"depth": "3"}, headers=auth(token))).json()
    assert three["depth"] == 3 and [b["price"] for b in three["bids"]] == ["99.99", "99.98", "99.97"]
    assert [a["price"] for a in three["asks"]] == ["100.01", "100.02", "100.03"]
    top = (await client.get("/v1/quotes/AAPL/book", params={"depth": "1"}, headers=auth(token))).json()
    assert (top["bids"], top["asks"]) == ([{"price": "99.99", "size": "100"}], [{"price": "100.01", "size": "200"}])


async def test_without_a_book_key_the_quote_is_one_level_and_no_data_is_empty_and_stale(
        client: httpx.AsyncClient, seed: Seed, redis_client: Any) -> None:
    token = await seed.token("operator")
    await QuoteWriter(redis_client).write([Quote("MSFT", bid=Decimal("410.1"), ask=Decimal("410.2"),
                                                 bid_size=Decimal(300), ask_size=Decimal(100), ingest_ts_us=now_us())])
    msft = (await client.get("/v1/quotes/MSFT/book", headers=auth(token))).json()
    assert msft["bids"] == [{"price": "410.1", "size": "300"}] and msft["asks"] == [{"price": "410.2", "size": "100"}]
    empty = await client.get("/v1/quotes/brk.b/book", params={"depth": 5}, headers=auth(token))
    assert empty.status_code == 200
    assert empty.json()["symbol"] == "BRK-B" and empty.json()["bids"] == [] and empty.json()["stale"] is True


async def test_unknown_symbol_bad_depth_and_no_token_are_problems(client: httpx.AsyncClient, seed: Seed) -> None:
    token = await seed.token("admin")
    unknown = await client.get("/v1/quotes/NOSUCH/book", headers=auth(token))
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"].endswith("/symbol-not-found") and unknown.json()["symbol"] == "NOSUCH"
    for bad in ("11", "-1", "abc", "1.5", "", "99999999999999999999"):
        response = await client.get("/v1/quotes/AAPL/book", params={"depth": bad}, headers=auth(token))
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/invalid-depth")
    missing = await client.get("/v1/quotes/AAPL/book")
    assert missing.status_code == 401 and missing.json()["type"].endswith("/unauthorized")
    revoked = await seed.token("admin", revoked=True)
    assert (await client.get("/v1/quotes/AAPL/book", headers=auth(revoked))).status_code == 401
