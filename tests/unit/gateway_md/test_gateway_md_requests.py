"""The 35=V handler with an in-memory stand-in for the Redis MGET: snapshots, registration,
rejects, a Redis failure, a logout while the snapshot is being read, and the resync after the
listener reconnects."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import quickfix as fix
import quickfix44 as fix44
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.md.fanout import ClientMarketData
from marketdata.quotes import Quote, quote_key

KEY = "FIX.4.4:BROKER->CLIENT1"


class FakeRedis:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def mget(self, keys: list[str]) -> list[str | None]:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RedisConnectionError("down")
        return [self.values.get(k) for k in keys]


class Client:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.logged_on = True

    def send(self, _sid: fix.SessionID, message: fix.Message) -> bool:
        self.sent.append(message.toString().replace("\x01", "|"))
        return True


def v(req_id: str, request_type: str, symbols: list[str]) -> fix.Message:
    m = fix44.MarketDataRequest()
    for tag, value in ((262, req_id), (263, request_type), (264, "1"), (265, "1")):
        m.setField(tag, value)
    for t in ("0", "1"):
        group = fix44.MarketDataRequest.NoMDEntryTypes()
        group.setField(269, t)
        m.addGroup(group)
    for s in symbols:
        group = fix44.MarketDataRequest.NoRelatedSym()
        group.setField(55, s)
        m.addGroup(group)
    return m


async def setup() -> tuple[ClientMarketData, FakeRedis, Client, fix.SessionID]:
    redis, client = FakeRedis(), Client()
    redis.values[quote_key("AAPL")] = Quote("AAPL", bid=Decimal("10.5"), bid_size=Decimal(3), ingest_ts_us=5).to_json()
    md = ClientMarketData(redis, {"AAPL", "MSFT"}.__contains__, client.send,  # type: ignore[arg-type]
                          is_logged_on=lambda _sid: client.logged_on)
    md._tasks = [asyncio.create_task(asyncio.sleep(0))]  # no listener: updates are dispatched by hand
    md._listening.set()
    return md, redis, client, fix.SessionID("FIX.4.4", "BROKER", "CLIENT1")


async def test_subscribe_sends_snapshots_and_registers() -> None:
    md, _, client, sid = await setup()
    await md.on_market_data_request(sid, v("R1", "1", ["AAPL", "MSFT"]))
    assert len(client.sent) == 2
    assert "|35=W|" in client.sent[0] and "|55=AAPL|262=R1|268=1|269=0|270=10.5|271=3|290=1|" in client.sent[0]
    assert "|55=MSFT|262=R1|268=0|" in client.sent[1]
    assert md.book.watchers == {"AAPL": {KEY}, "MSFT": {KEY}}
    await md.on_market_data_request(sid, v("R1", "2", ["AAPL", "MSFT"]))
    assert md.book.watchers == {}


async def test_snapshot_only_registers_nothing_and_rejects_name_the_problem() -> None:
    md, _, client, sid = await setup()
    await md.on_market_data_request(sid, v("S1", "0", ["AAPL"]))
    assert "|35=W|" in client.sent[-1] and md.book.watchers == {}
    await md.on_market_data_request(sid, v("S2", "1", ["AAPL", "NOPE"]))
    assert "|35=Y|" in client.sent[-1] and "|281=0|" in client.sent[-1] and "unknown symbol: NOPE" in client.sent[-1]
    await md.on_market_data_request(sid, v("S3", "2", ["AAPL"]))
    assert "|35=Y|" in client.sent[-1] and "no active subscription with MDReqID S3" in client.sent[-1]
    no_id = v("", "1", ["AAPL"])
    no_id.removeField(262)
    await md.on_market_data_request(sid, no_id)
    assert "|35=j|" in client.sent[-1] and "|380=5|" in client.sent[-1]
    assert md.book.watchers == {}


async def test_redis_failure_rejects_and_unregisters() -> None:
    md, redis, client, sid = await setup()
    redis.fail = True
    await md.on_market_data_request(sid, v("R1", "1", ["AAPL"]))
    assert len(client.sent) == 1 and "|35=Y|" in client.sent[0] and "temporarily unavailable" in client.sent[0]
    assert md.book.watchers == {}


async def test_logout_while_the_snapshot_is_read_sends_nothing() -> None:
    md, redis, client, sid = await setup()
    redis.gate = asyncio.Event()
    pending = asyncio.create_task(md.on_market_data_request(sid, v("R1", "1", ["AAPL"])))
    await asyncio.sleep(0.01)
    md.drop_session(KEY)
    redis.gate.set()
    await pending
    assert client.sent == [] and md.book.sessions == {}


async def test_requests_of_a_session_no_longer_logged_on_are_ignored() -> None:
    md, _, client, sid = await setup()
    client.logged_on = False
    await md.on_market_data_request(sid, v("R1", "1", ["AAPL"]))
    assert client.sent == [] and md.book.watchers == {}


async def test_resync_after_a_reconnect_sends_what_changed_meanwhile() -> None:
    md, redis, client, sid = await setup()
    await md.on_market_data_request(sid, v("R1", "1", ["AAPL"]))
    redis.values[quote_key("AAPL")] = Quote("AAPL", bid=Decimal("10.6"), bid_size=Decimal(3),
                                            ingest_ts_us=9).to_json()
    await md._resync()
    md.flush()
    assert "|35=X|" in client.sent[-1] and "|279=1|269=0|55=AAPL|270=10.6|271=3|290=1|" in client.sent[-1]
