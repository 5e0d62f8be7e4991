"""The FIX side of the ingestor against the real exchange process: subscribe, ingest, keep current."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from marketdata.depth import DepthBook, book_key
from marketdata.depth_redis import BookReader, BookWriter
from marketdata.fix_feed import MarketDataFeed, feed_engine
from marketdata.ingestor import Ingestor
from marketdata.quotes import Quote
from marketdata.redis_quotes import QuoteReader, QuoteWriter

if TYPE_CHECKING:
    from tests.integration.marketdata.conftest import RunningExchange


async def test_quotes_from_the_exchange_land_in_redis_and_unknown_symbols_are_left_out(
    running_exchange: RunningExchange, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    loop = asyncio.get_running_loop()
    symbols = running_exchange.symbols
    ingestor = Ingestor(QuoteWriter(redis_client, publish=True))
    ingestor.books = BookWriter(redis_client)  # market depth, as `brokerage marketdata` runs by default
    wanted = [*symbols, "NOTLISTED"]
    feed = MarketDataFeed(ingestor, wanted, loop, chunk=3, depth=10)  # two requests; the second has the unknown one
    engine = feed_engine(feed, tmp_path, "127.0.0.1", running_exchange.port, "MDFEED", "EXCHANGE", heartbeat=5)
    stop = asyncio.Event()
    task = asyncio.create_task(ingestor.run(stop))
    engine.start()
    try:
        await asyncio.wait_for(feed.logged_on.wait(), 30)
        reader = QuoteReader(redis_client)
        for _ in range(300):
            quotes = await reader.get_many(list(symbols))
            if len(quotes) == len(symbols) and all(q.bid and q.ask for q in quotes.values()):
                break
            await asyncio.sleep(0.1)
        assert set(quotes) == set(symbols)
        for quote in quotes.values():
            assert quote.bid is not None and quote.ask is not None and quote.bid < quote.ask
            assert quote.prev_close is not None and quote.exchange_ts_us > 0
            assert 0 <= quote.ingest_ts_us - quote.exchange_ts_us < 5_000_000
        assert feed.unknown_symbols == {"NOTLISTED"}
        assert await reader.get("NOTLISTED") is None

        # the market moves: later writes carry later exchange times
        first = {s: q.exchange_ts_us for s, q in quotes.items()}
        for _ in range(100):
            later = await reader.get_many(list(symbols))
            if any(later[s].exchange_ts_us > first[s] for s in symbols):
                break
            await asyncio.sleep(0.1)
        assert any(later[s].exchange_ts_us > first[s] for s in symbols)
        assert ingestor.stats.malformed == 0

        # the depth next to each quote: the exchange's levels (its market makers quote five a side), best first;
        # books are written once someone reads them (ADR 033), then with every write of their quote
        assert await redis_client.get(book_key(symbols[0])) is None
        read = await BookReader(redis_client).get_many(list(symbols))
        assert set(read) == set(symbols) and all(len(b.bids) >= 2 and len(b.asks) >= 2 for b in read.values())
        for symbol in symbols:
            for _ in range(100):
                raw_quote, raw_book = await redis_client.mget([f"quote:{symbol}", book_key(symbol)])
                assert raw_quote is not None and raw_book is not None
                book, quote = DepthBook.from_json(raw_book), Quote.from_json(raw_quote)
                if book.ingest_ts_us == quote.ingest_ts_us:
                    break  # the same write (the book follows the quote by one round trip)
                await asyncio.sleep(0.05)
            assert book.quote() == quote
            assert 2 <= len(book.bids) <= 10 and 2 <= len(book.asks) <= 10, book
            assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
            assert [p for p, _ in book.asks] == sorted(p for p, _ in book.asks)
            assert all(size > 0 for _, size in book.bids + book.asks)
        assert await redis_client.get(book_key("NOTLISTED")) is None
    finally:
        await asyncio.to_thread(engine.stop, True)
        stop.set()
        await asyncio.wait_for(task, 10)
