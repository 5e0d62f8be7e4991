"""WebSocket /v1/stream on a real uvicorn server, fed through real Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from brokerage.services import free_port
from gateway.api.routes.stream import close_stream_hub, router, stream_hub
from marketdata.book import QuoteBook
from marketdata.depth_redis import BookWriter
from marketdata.fix_md import NEW, MdEntry, Snapshot
from marketdata.quotes import Quote, channel_for, encode_batch, now_us
from marketdata.redis_quotes import QuoteWriter


@pytest.fixture
async def server(redis_client: aioredis.Redis) -> AsyncIterator[tuple[str, FastAPI]]:
    app = FastAPI()
    app.include_router(router)
    app.state.redis = redis_client
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    while not uv.started:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
        await asyncio.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/v1/stream", app
    finally:
        await close_stream_hub(app)
        uv.should_exit = True
        await asyncio.wait_for(task, 10)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))  # type: ignore[no-any-return]


async def receive_until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        message = await receive(ws)
        if message["type"] == kind:
            return message


def quote(symbol: str, last: str) -> Quote:
    now = now_us()
    return Quote(symbol, bid=Decimal(last) - Decimal("0.01"), ask=Decimal(last) + Decimal("0.01"),
                 last=Decimal(last), exchange_ts_us=now, ingest_ts_us=now)


async def test_subscribe_snapshot_updates_and_unknown_symbols(
    server: tuple[str, FastAPI], redis_client: aioredis.Redis
) -> None:
    url, _ = server
    writer = QuoteWriter(redis_client, publish=True)
    await writer.write([quote("AAPL", "190.00")])
    async with connect(url) as ws:
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["aapl", "MSFT", "ZZZZ9"]}))
        error = await receive(ws)
        assert error == {"type": "error", "code": "unknown_symbols", "message": "not listed: ZZZZ9",
                         "symbols": ["ZZZZ9"]}
        subscribed = await receive(ws)
        assert subscribed["type"] == "subscribed" and subscribed["subscriptions"] == ["AAPL", "MSFT"]
        snapshot = await receive(ws)
        assert snapshot["type"] == "quote" and snapshot["quote"]["symbol"] == "AAPL"
        assert snapshot["quote"]["last"] == "190.00"

        await writer.write([quote("F", "12.00"), quote("MSFT", "410.00")])  # F: nobody asked
        update = await receive(ws)
        assert update["quote"]["symbol"] == "MSFT" and update["quote"]["last"] == "410.00"

        await ws.send(json.dumps({"action": "unsubscribe", "symbols": ["MSFT"]}))
        assert (await receive_until(ws, "unsubscribed"))["subscriptions"] == ["AAPL"]
        await writer.write([quote("MSFT", "411.00")])
        await writer.write([quote("AAPL", "191.00")])
        # up to our AAPL 191.00, nothing of MSFT's 411 (other feeds' AAPL quotes may come between)
        seen: list[dict[str, Any]] = []
        while not seen or (seen[-1]["symbol"], seen[-1]["last"]) != ("AAPL", "191.00"):
            seen.append((await receive(ws))["quote"])
        assert [q for q in seen if q["symbol"] != "AAPL"] == [], seen
        # nothing more arrives for the unsubscribed symbol (Redis pub/sub is server-wide: other tests' feeds may
        # publish AAPL, which this client still follows)
        extra: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                while True:
                    extra.append(json.loads(await ws.recv()))
        assert not [m for m in extra if m.get("quote", {}).get("symbol") == "MSFT"], extra


async def test_bad_messages_get_errors_and_the_connection_survives(server: tuple[str, FastAPI]) -> None:
    url, _ = server
    async with connect(url) as ws:
        for bad in ("hello", '{"action":"subscribe","symbols":"AAPL"}', '{"action":"sell","symbols":["AAPL"]}'):
            await ws.send(bad)
            assert (await receive(ws))["code"] == "bad_request"
        await ws.send(b"\x00\x01")
        assert (await receive(ws))["message"] == "send JSON text frames, not binary"
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["F"]}))
        assert (await receive_until(ws, "subscribed"))["subscriptions"] == ["F"]


async def test_slow_consumer_is_conflated_then_dropped(
    server: tuple[str, FastAPI], redis_client: aioredis.Redis
) -> None:
    url, app = server
    symbols = ["AAPL", "MSFT", "F", "GM"]
    hub = stream_hub(app)
    hub.send_timeout = 0.5  # a client that takes no frame for 0.5 s is dropped
    async with connect(url, max_size=None, compression=None, max_queue=1) as ws:  # no deflate: frames stay big
        await ws.send(json.dumps({"action": "subscribe", "symbols": symbols}))
        await receive_until(ws, "subscribed")
        [client] = hub.clients.values()
        fat = "x" * 20_000  # the hub forwards payloads as they are: big frames fill the socket buffers fast
        peak = 0
        for i in range(1500):  # ~30 MB offered, far more than the kernel buffers hold; we never read
            for s in symbols:
                await redis_client.publish(channel_for(s), encode_batch([(s, json.dumps({"n": i, "pad": fat}))]))
            peak = max(peak, len(client.outbox.pending))
            if client.id not in hub.clients:
                break
        assert peak <= len(symbols)  # never more than one pending update per symbol
        for _ in range(100):
            if client.id not in hub.clients:
                break
            await asyncio.sleep(0.05)
        assert client.id not in hub.clients and client.outbox.conflated > 0
        with pytest.raises(ConnectionClosed):  # what was in flight can still be read, then the end
            while True:
                await asyncio.wait_for(ws.recv(), 5)


async def write_book(redis: aioredis.Redis, symbol: str, best_bid: str, levels: int = 12) -> None:
    """A book ``levels`` deep a side, written and published the way the ingestor's book writer does."""
    top = Decimal(best_bid)
    entries = [MdEntry(NEW, "0", symbol, str(top - Decimal(i) / 100), str(100 + i)) for i in range(levels)]
    entries += [MdEntry(NEW, "1", symbol, str(top + Decimal(1 + i) / 100), str(200 + i)) for i in range(levels)]
    book = QuoteBook()
    book.apply_snapshot(Snapshot("md-1", symbol, tuple(entries), now_us()))
    await BookWriter(redis).write(book.states, [symbol], now_us())


async def test_depth_subscription_gets_books_cut_to_its_depth_and_can_go_back_to_quotes(
    server: tuple[str, FastAPI], redis_client: aioredis.Redis
) -> None:
    url, _ = server
    await write_book(redis_client, "MSFT", "400.00")
    async with connect(url) as ws:
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["msft"], "depth": 3}))
        subscribed = await receive_until(ws, "subscribed")
        assert (subscribed["symbols"], subscribed["depth"], subscribed["subscriptions"]) == (["MSFT"], 3, ["MSFT"])
        first = await receive_until(ws, "book")
        assert first["depth"] == 3 and first["book"]["symbol"] == "MSFT"
        assert first["book"]["bids"] == [["400.00", "100"], ["399.99", "101"], ["399.98", "102"]]
        assert first["book"]["asks"] == [["400.01", "200"], ["400.02", "201"], ["400.03", "202"]]

        await write_book(redis_client, "MSFT", "400.05")  # the market moves: the whole book again, cut to 3
        moved = await receive_until(ws, "book")
        while moved["book"]["bids"][0][0] != "400.05":  # other tests' feeds may publish MSFT too
            moved = await receive_until(ws, "book")
        assert [level[0] for level in moved["book"]["bids"]] == ["400.05", "400.04", "400.03"]

        await ws.send(json.dumps({"action": "subscribe", "symbols": ["MSFT"], "depth": 0}))  # the full book
        assert (await receive_until(ws, "subscribed"))["depth"] == 10
        full = await receive_until(ws, "book")
        assert full["depth"] == 10 and len(full["book"]["bids"]) == 10 and len(full["book"]["asks"]) == 10

        await ws.send(json.dumps({"action": "subscribe", "symbols": ["MSFT"]}))  # back to quotes
        assert (await receive_until(ws, "subscribed"))["symbols"] == ["MSFT"]
        await QuoteWriter(redis_client, publish=True).write([quote("MSFT", "401.00")])
        await write_book(redis_client, "MSFT", "401.00")
        update = await receive_until(ws, "quote")
        while update["quote"].get("last") != "401.00":
            update = await receive_until(ws, "quote")
        extra: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                while True:
                    extra.append(json.loads(await ws.recv()))
        assert not [m for m in extra if m["type"] == "book"], extra

        for bad in (11, -1, "5", 2.5, True):
            await ws.send(json.dumps({"action": "subscribe", "symbols": ["MSFT"], "depth": bad}))
            error = await receive_until(ws, "error")
            assert error["code"] == "bad_request" and "depth" in error["message"]


async def test_quotes_and_books_count_together_against_the_symbol_cap(server: tuple[str, FastAPI]) -> None:
    url, app = server
    stream_hub(app).max_symbols = 2
    async with connect(url) as ws:
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["AAPL", "F"]}))
        assert (await receive_until(ws, "subscribed"))["subscriptions"] == ["AAPL", "F"]
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["MSFT"], "depth": 5}))
        refused = await receive_until(ws, "error")
        assert refused["code"] == "too_many_symbols" and refused["symbols"] == ["MSFT"]
        assert (await receive_until(ws, "subscribed"))["symbols"] == []  # as for quotes: nothing added
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["F"], "depth": 5}))  # moves F: no new room
        moved = await receive_until(ws, "subscribed")
        assert (moved["symbols"], moved["subscriptions"]) == (["F"], ["AAPL", "F"])
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["GM"]}))
        assert (await receive_until(ws, "error"))["symbols"] == ["GM"]
