"""Books on demand (ADR 033) against a real Redis: the ingestor keeps every book in memory but writes
``book:SYMBOL`` only once a reader asks, and a reader appearing mid-stream gets the whole current book."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import redis.asyncio as aioredis

from marketdata.depth import DepthBook, book_channel_for, book_key
from marketdata.depth_demand import LIVE_KEY, WANTED_KEY
from marketdata.depth_redis import BookReader, BookWriter
from marketdata.ingestor import Ingestor
from marketdata.quotes import Quote, decode_batch, now_us
from marketdata.redis_quotes import QuoteWriter
from tests.integration.marketdata.test_marketdata_ingest import increment

D = Decimal
# Symbols (ZQ..) no exchange of the suite lists: feeds left running by other tests share this Redis and
# would write real books for real tickers.


async def wait_for(predicate: object, seconds: float = 10) -> None:
    async def poll() -> None:
        while not await predicate():  # type: ignore[operator]  # noqa: ASYNC110 (polling Redis state)
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), seconds)


@asynccontextmanager
async def running_ingestor(redis: aioredis.Redis, books: bool = True,  # type: ignore[type-arg,unused-ignore]
                           lease_seconds: float | None = None) -> AsyncIterator[Ingestor]:
    """A real ingestor on the test Redis (writing books on demand unless ``books`` is off), stopped at exit."""
    ingestor = Ingestor(QuoteWriter(redis, publish=True))
    if books:
        ingestor.books = BookWriter(redis, publish=True)
    if lease_seconds is not None:
        ingestor.demand.lease_seconds = lease_seconds
    stop = asyncio.Event()
    task = asyncio.create_task(ingestor.run(stop))
    try:
        yield ingestor
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_reader_appearing_mid_stream_gets_the_whole_book_then_every_change(
    redis_client: aioredis.Redis,
) -> None:
    async with running_ingestor(redis_client) as ingestor:
        await wait_for(lambda: redis_client.exists(LIVE_KEY))  # the ingestor writes books on demand
        # Three bid levels and two ask levels built before anyone reads the book, over several messages.
        ingestor.submit(increment([("0", "0", "ZQAA", "10.01", "100"), ("0", "0", "ZQAA", "10.00", "300"),
                                   ("0", "1", "ZQAA", "10.05", "200"), ("0", "0", "ZQMS", "20.00", "1")], now_us()))
        ingestor.submit(increment([("0", "0", "ZQAA", "9.99", "50"), ("0", "1", "ZQAA", "10.06", "70"),
                                   ("0", "2", "ZQAA", "10.02", "5")], now_us()))
        await asyncio.wait_for(ingestor.drained(), 10)
        assert await redis_client.get("quote:ZQAA") is not None
        assert await redis_client.get(book_key("ZQAA")) is None  # nobody asked: no book written

        # A streaming subscriber listens to the book channel first, then reads the book (as the hub does).
        pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(book_channel_for("ZQAA"))
        book = await BookReader(redis_client).get("ZQAA")
        assert book is not None
        assert book.bids == ((D("10.01"), D("100")), (D("10.00"), D("300")), (D("9.99"), D("50")))
        assert book.asks == ((D("10.05"), D("200")), (D("10.06"), D("70")))
        assert book.last == D("10.02")
        quote = Quote.from_json(await redis_client.get("quote:ZQAA"))
        assert book.quote().bid == quote.bid and book.quote().ask == quote.ask
        assert await redis_client.get(book_key("ZQMS")) is None  # only what was asked for

        # From now on every change of the symbol is written and published as a whole book, with its quote.
        ingestor.submit(increment([("2", "0", "ZQAA", "10.01", ""), ("0", "1", "ZQAA", "10.04", "10")], now_us()))
        await asyncio.wait_for(ingestor.drained(), 10)
        raw_quote, raw_book = await redis_client.mget(["quote:ZQAA", book_key("ZQAA")])
        written, quote = DepthBook.from_json(raw_book), Quote.from_json(raw_quote)
        assert written.ingest_ts_us == quote.ingest_ts_us and written.quote() == quote  # one MSET
        assert written.bids == ((D("10.00"), D("300")), (D("9.99"), D("50")))
        assert written.asks == ((D("10.04"), D("10")), (D("10.05"), D("200")), (D("10.06"), D("70")))
        published: list[DepthBook] = []
        for _ in range(100):  # (None also stands for the subscribe confirmation: read until the last one)
            message = await pubsub.get_message(timeout=0.05)
            if message is not None:
                published += [DepthBook.from_json(p) for s, p in decode_batch(message["data"]) if s == "ZQAA"]
            if published and published[-1] == written:
                break
        assert published[0] == book  # the snapshot written for the new reader, published to subscribers
        assert published[-1] == written
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_an_ingestor_started_later_writes_the_books_already_wanted(redis_client: aioredis.Redis) -> None:
    until_ms = (now_us() // 1000) + 60_000
    await redis_client.zadd(WANTED_KEY, {"ZQIB": until_ms})  # a lease taken before this ingestor started
    async with running_ingestor(redis_client) as ingestor:
        await wait_for(lambda: redis_client.exists(LIVE_KEY))
        ingestor.submit(increment([("0", "0", "ZQIB", "100.5", "10"), ("0", "0", "ZQIB", "100.4", "20"),
                                   ("0", "0", "ZQHP", "30", "1")], now_us()))
        await asyncio.wait_for(ingestor.drained(), 10)
        raw = await redis_client.get(book_key("ZQIB"))
        assert raw is not None and DepthBook.from_json(raw).bids == ((D("100.5"), D("10")), (D("100.4"), D("20")))
        assert await redis_client.get(book_key("ZQHP")) is None


async def test_a_lapsed_lease_deletes_the_book_and_a_later_reader_gets_the_current_one(
    redis_client: aioredis.Redis,
) -> None:
    async with running_ingestor(redis_client, lease_seconds=0.3) as ingestor:
        await wait_for(lambda: redis_client.exists(LIVE_KEY))
        ingestor.submit(increment([("0", "0", "ZQFF", "12.5", "10"), ("0", "1", "ZQFF", "12.7", "20")], now_us()))
        await asyncio.wait_for(ingestor.drained(), 10)
        assert (await BookReader(redis_client).get("ZQFF")) is not None
        await wait_for(lambda: redis_client.exists(book_key("ZQFF")))
        # nobody listens to the book channels and the lease lapses: the key goes (no stale book is left)
        await wait_for(lambda: _absent(redis_client, book_key("ZQFF")), 10)
        ingestor.submit(increment([("0", "0", "ZQFF", "12.6", "5")], now_us()))  # changes while nobody watches
        await asyncio.wait_for(ingestor.drained(), 10)
        assert await redis_client.get(book_key("ZQFF")) is None
        book = await BookReader(redis_client).get("ZQFF")
        assert book is not None
        assert book.bids == ((D("12.6"), D("5")), (D("12.5"), D("10"))) and book.asks == ((D("12.7"), D("20")),)


async def _absent(redis: aioredis.Redis, key: str) -> bool:  # type: ignore[type-arg,unused-ignore]
    return not await redis.exists(key)


async def test_without_a_book_writing_ingestor_readers_get_a_one_level_book_at_once(
    redis_client: aioredis.Redis,
) -> None:
    # depth off (BROKERAGE_MARKETDATA_DEPTH_LEVELS=1)
    async with running_ingestor(redis_client, books=False) as ingestor:
        ingestor.submit(increment([("0", "0", "ZQGM", "40.1", "10"), ("0", "0", "ZQGM", "40.0", "10")], now_us()))
        await asyncio.wait_for(ingestor.drained(), 10)
        started = asyncio.get_running_loop().time()
        book = await BookReader(redis_client).get("ZQGM")
        assert asyncio.get_running_loop().time() - started < 1.0  # not waiting for a book nobody writes
        assert book is not None and book.bids == ((D("40.1"), D("10")),)


async def test_a_websocket_depth_subscriber_appearing_mid_stream_gets_the_book_then_its_changes(
    redis_client: aioredis.Redis,
) -> None:
    import json

    from marketdata.stream_hub import StreamHub

    async with running_ingestor(redis_client) as ingestor:
        hub = StreamHub(redis_client, is_known=lambda symbol: True)
        try:
            await wait_for(lambda: redis_client.exists(LIVE_KEY))
            entries = [("0", "0", "ZQMS", "20.00", "100"), ("0", "0", "ZQMS", "19.99", "200"),
                       ("0", "0", "ZQMS", "19.98", "300"), ("0", "1", "ZQMS", "20.02", "50")]
            ingestor.submit(increment(entries, now_us()))
            await asyncio.wait_for(ingestor.drained(), 10)
            client = hub.connect()
            await hub.handle(client, json.dumps({"action": "subscribe", "symbols": ["ZQMS"], "depth": 2}))
            frame = json.loads(client.books.pending["ZQMS"])
            assert frame["depth"] == 2
            assert frame["book"]["bids"] == [["20.00", "100"], ["19.99", "200"]] and frame["book"]["asks"] == [
                ["20.02", "50"]]
            client.books.take()

            ingestor.submit(increment([("2", "0", "ZQMS", "20.00", ""), ("0", "1", "ZQMS", "20.01", "7")], now_us()))

            async def changed() -> bool:
                pending = client.books.pending.get("ZQMS")
                return pending is not None and json.loads(pending)["book"]["asks"][0] == ["20.01", "7"]

            await wait_for(changed)
            book = json.loads(client.books.pending["ZQMS"])["book"]
            assert book["bids"] == [["19.99", "200"], ["19.98", "300"]]
            assert book["asks"] == [["20.01", "7"], ["20.02", "50"]]
        finally:
            await hub.close()
