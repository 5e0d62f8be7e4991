"""The ingest loop against a real Redis: quotes written in batches, published, readable by the reader."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from marketdata.fix_md import SOH
from marketdata.ingestor import Ingestor
from marketdata.quotes import channel_for, decode_batch, now_us
from marketdata.redis_quotes import QuoteReader, QuoteWriter


def fix_time(us: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y%m%d-%H:%M:%S.%f")


def increment(entries: list[tuple[str, str, str, str, str]], sent_us: int) -> str:
    fields = ["8=FIX.4.4", "35=X", f"52={fix_time(sent_us)}", "262=md1", f"268={len(entries)}"]
    for action, kind, symbol, price, size in entries:
        fields += [f"279={action}", f"269={kind}", f"55={symbol}", f"270={price}"]
        if size:
            fields.append(f"271={size}")
    return SOH.join(fields) + SOH


async def test_updates_reach_redis_and_subscribers(redis_client: aioredis.Redis) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(channel_for("AAPL"))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    ingestor = Ingestor(QuoteWriter(redis_client, publish=True), batch_max=3)
    written_before = REGISTRY.get_sample_value("marketdata_quotes_written_total") or 0.0
    malformed_before = REGISTRY.get_sample_value("marketdata_malformed_messages_total") or 0.0
    stop = asyncio.Event()
    task = asyncio.create_task(ingestor.run(stop))
    sent = now_us()
    symbols = [f"S{i}" for i in range(10)] + ["AAPL"]
    ingestor.submit(increment([("0", "0", s, "10.01", "100") for s in symbols], sent))
    ingestor.submit(increment([("0", "1", "AAPL", "10.03", "200"), ("0", "2", "AAPL", "10.02", "5")], sent + 10))
    ingestor.submit("35=X\x01this is not FIX")
    await asyncio.wait_for(ingestor.drained(), 10)

    quotes = await QuoteReader(redis_client).get_many(symbols)
    assert set(quotes) == set(symbols)
    aapl = quotes["AAPL"]
    assert (aapl.bid, aapl.ask, aapl.last) == (Decimal("10.01"), Decimal("10.03"), Decimal("10.02"))
    assert aapl.exchange_ts_us // 1000 == (sent + 10) // 1000  # SendingTime is in milliseconds
    assert aapl.ingest_ts_us >= aapl.exchange_ts_us and not aapl.is_stale(5)
    assert ingestor.stats.malformed == 1 and ingestor.stats.writes >= 4  # batches of at most 3
    assert REGISTRY.get_sample_value("marketdata_quotes_written_total") == written_before + len(symbols)
    assert REGISTRY.get_sample_value("marketdata_malformed_messages_total") == malformed_before + 1

    published: list[tuple[str, str]] = []
    while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)) is not None:
        published += decode_batch(message["data"])
    assert [s for s, _ in published].count("AAPL") >= 1
    assert all(channel_for(s) == channel_for("AAPL") for s, _ in published)
    stop.set()
    await asyncio.wait_for(task, 5)
    await pubsub.aclose()  # type: ignore[attr-defined,unused-ignore]


async def test_redis_outage_keeps_the_quotes_for_the_next_write(redis_client: aioredis.Redis) -> None:
    broken = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    ingestor = Ingestor(QuoteWriter(broken))
    ingestor.apply(increment([("0", "2", "F", "12.5", "1")], now_us()))
    assert await ingestor.flush() == 0
    assert ingestor.stats.write_errors == 1 and ingestor.book.pending == 1
    ingestor.writer = QuoteWriter(redis_client)
    assert await ingestor.flush() == 1
    assert (await QuoteReader(redis_client).get("F")).last == Decimal("12.5")  # type: ignore[union-attr]
    await broken.aclose()  # type: ignore[attr-defined,unused-ignore]
