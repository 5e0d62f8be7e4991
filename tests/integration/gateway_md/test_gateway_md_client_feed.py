"""FIX clients subscribe on the real gateway (fixclient over TCP) and get quotes the ingestor would
publish into Redis: 35=W then 35=X for their symbols only, 35=Y for bad requests, nothing after
unsubscribing or after logging out."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from gateway_process import PASSWORDS, GatewayProcess
from redis.asyncio import Redis

from fixclient.client import FixClient
from fixclient.messages import InboundMessage
from marketdata.book import QuoteBook
from marketdata.depth_redis import BookWriter
from marketdata.fix_md import NEW, MdEntry, Snapshot
from marketdata.quotes import Quote, now_us
from marketdata.redis_quotes import QuoteWriter

if TYPE_CHECKING:
    from tests.conftest import TestServers

pytestmark = pytest.mark.integration



def quote(symbol: str, bid: str, size: int = 10) -> Quote:
    return Quote(symbol, bid=Decimal(bid), bid_size=Decimal(size), ask=Decimal(bid) + Decimal("0.05"),
                 ask_size=Decimal(size), exchange_ts_us=now_us(), ingest_ts_us=now_us())


async def connect(gateway: GatewayProcess, comp_id: str = "CLIENT1", reset: bool = False) -> FixClient:
    client = await FixClient.connect("127.0.0.1", gateway.port, comp_id, "BROKER", username=comp_id.lower(),
                                     password=PASSWORDS[comp_id], reset_seq_num=reset)
    await client.logon()
    return client


def of(req_id: str, msg_type: str, tag: int | None = None, value: str | None = None):  # type: ignore[no-untyped-def]
    def match(m: InboundMessage) -> bool:
        return m.msg_type == msg_type and m.get(262) == req_id and (tag is None or value in m.get_all(tag))
    return match


def after(client: FixClient, mark: int, req_id: str) -> list[InboundMessage]:
    return [m for m in list(client.inbox.history)[mark:] if m.get(262) == req_id]


async def test_snapshot_then_increments_for_subscribed_symbols_only_and_none_after_unsubscribe(
        md_gateway: GatewayProcess, quote_writer: QuoteWriter) -> None:
    await quote_writer.write([quote("AAPL", "150.10"), quote("MSFT", "300.20")])
    client = await connect(md_gateway)
    await client.market_data_request(["AAPL"], md_req_id="R-AAPL")
    await client.market_data_request(["MSFT"], md_req_id="R-MSFT", entry_types=("0", "1", "2"))

    snapshot = await client.wait_for(of("R-AAPL", "W"), timeout=10)
    assert snapshot.get(55) == "AAPL"
    assert snapshot.get_all(269) == ["0", "1"] and snapshot.get_all(270) == ["150.1", "150.15"]
    assert snapshot.get_all(290) == ["1", "1"]
    assert (await client.wait_for(of("R-MSFT", "W"), timeout=10)).get_all(270) == ["300.2", "300.25"]

    # a burst on AAPL and an update of a symbol nobody asked for
    await quote_writer.write([quote("AAPL", "150.11"), quote("IBM", "120")])
    await quote_writer.write([quote("AAPL", "150.12", size=7)])
    increment = await client.wait_for(of("R-AAPL", "X", 270, "150.12"), timeout=10)
    assert set(increment.get_all(55)) == {"AAPL"}
    assert increment.get_all(279)[:2] == ["1", "1"]  # MDUpdateAction Change of the top of book
    assert "7" in increment.get_all(271)
    assert not any(m.msg_type in "WX" and "IBM" in m.get_all(55) for m in client.inbox.history)

    # unsubscribed: AAPL goes quiet while MSFT keeps coming
    await client.market_data_request(["AAPL"], subscribe=False, md_req_id="R-AAPL")
    await asyncio.sleep(0.2)  # the unsubscribe is handled before the next quote is published
    mark = len(client.inbox.history)
    await quote_writer.write([quote("AAPL", "151"), quote("MSFT", "301")])
    await client.wait_for(of("R-MSFT", "X", 270, "301"), timeout=10)
    await asyncio.sleep(0.3)
    assert after(client, mark, "R-AAPL") == []
    await client.logout()


async def test_bad_requests_get_market_data_request_rejects(md_gateway: GatewayProcess) -> None:
    client = await connect(md_gateway)
    await client.market_data_request(["AAPL", "NOSUCHSYM"], md_req_id="R-BAD")
    reject = await client.wait_for(of("R-BAD", "Y"), timeout=10)
    assert reject.get(281) == "0" and "NOSUCHSYM" in (reject.get(58) or "")
    # nothing was subscribed: the known symbol of the refused request gets no snapshot
    assert not any(m.msg_type == "W" and m.get(262) == "R-BAD" for m in client.inbox.history)

    await client.market_data_request(["AAPL"], md_req_id="R-DEEP", depth=11)
    deep = await client.wait_for(of("R-DEEP", "Y"), timeout=10)
    assert deep.get(281) == "5" and "0 (full book, 10 levels)" in (deep.get(58) or "")
    await client.market_data_request(["AAPL"], md_req_id="R-TYPE", entry_types=("4",))
    assert (await client.wait_for(of("R-TYPE", "Y"), timeout=10)).get(281) == "8"
    await client.market_data_request(["AAPL"], md_req_id="R-ONE")
    await client.wait_for(of("R-ONE", "W"), timeout=10)
    await client.market_data_request(["MSFT"], md_req_id="R-ONE")
    assert (await client.wait_for(of("R-ONE", "Y"), timeout=10)).get(281) == "1"
    await client.market_data_request(["AAPL"], subscribe=False, md_req_id="R-NEVER")
    never = await client.wait_for(of("R-NEVER", "Y"), timeout=10)
    assert never.get(281) is None and "R-NEVER" in (never.get(58) or "")
    # a SubscriptionRequestType outside FIX 4.4's values is refused by the session layer (35=3)
    await client.send("V", [(262, "R-SUBTYPE"), (263, "7"), (264, 1), (267, 1), (269, "0"), (146, 1),
                            (55, "AAPL")])
    session_reject = await client.wait_for(lambda m: m.msg_type == "3" and m.get(371) == "263", timeout=10)
    assert session_reject.get(372) == "V"
    assert md_gateway.alive()
    await client.logout()


async def test_logout_ends_the_sessions_subscriptions(md_gateway: GatewayProcess,
                                                      quote_writer: QuoteWriter) -> None:
    first = await connect(md_gateway, "CLIENT2")
    await first.market_data_request(["AAPL"], md_req_id="OLD")
    await first.wait_for(of("OLD", "W"), timeout=10)
    await first.logout()

    again = await connect(md_gateway, "CLIENT2", reset=True)
    await again.market_data_request(["MSFT"], md_req_id="NEW")
    await again.wait_for(of("NEW", "W"), timeout=10)
    await quote_writer.write([quote("AAPL", "152"), quote("MSFT", "302")])
    await again.wait_for(of("NEW", "X", 270, "302"), timeout=10)
    await asyncio.sleep(0.3)
    assert not any(m.get(262) == "OLD" for m in again.inbox.history)
    await again.logout()


async def write_book(redis: Redis, symbol: str, best_bid: str, bids: int, asks: int) -> None:
    """``bids`` levels a cent apart from ``best_bid`` and ``asks`` from 100.01, written and published by the
    ingestor's book writer from the ingestor's own book (as an exchange snapshot would leave it)."""
    top = Decimal(best_bid)
    entries = [MdEntry(NEW, "0", symbol, str(top - Decimal(i) / 100), str(100 * (i + 1))) for i in range(bids)]
    entries += [MdEntry(NEW, "1", symbol, str(Decimal("100.01") + Decimal(i) / 100), str(50 + i)) for i in range(asks)]
    entries.append(MdEntry(NEW, "2", symbol, best_bid, "7"))
    book = QuoteBook()
    book.apply_snapshot(Snapshot("md-1", symbol, tuple(entries), now_us()))
    await BookWriter(redis).write(book.states, [symbol], now_us())


async def test_depth_snapshots_and_increments_carry_levels_with_their_positions(
        md_gateway: GatewayProcess, test_servers: TestServers) -> None:
    redis = Redis.from_url(test_servers.redis_url)
    try:
        await write_book(redis, "AAPL", "99.99", bids=12, asks=6)
        client = await connect(md_gateway)
        await client.market_data_request(["AAPL"], md_req_id="D-FULL", depth=0, entry_types=("0", "1", "2"))
        full = await client.wait_for(of("D-FULL", "W"), timeout=10)
        assert full.get(55) == "AAPL" and full.get(268) == "17"  # 10 bids (of 12), 6 offers, the last trade
        assert full.get_all(269) == ["0"] * 10 + ["1"] * 6 + ["2"]
        assert full.get_all(290) == [str(i) for i in range(1, 11)] + [str(i) for i in range(1, 7)]
        assert full.get_all(270)[:3] == ["99.99", "99.98", "99.97"] and full.get_all(270)[10:12] == ["100.01", "100.02"]
        assert full.get_all(271)[:2] == ["100", "200"]

        await client.market_data_request(["AAPL"], md_req_id="D-5", depth=5, entry_types=("0", "1"))
        five = await client.wait_for(of("D-5", "W"), timeout=10)
        assert five.get_all(290) == ["1", "2", "3", "4", "5"] * 2
        assert five.get_all(270)[4] == "99.95"

        await client.send("V", [(262, "D-SNAP"), (263, "0"), (264, 3), (267, 1), (269, "1"), (146, 1), (55, "AAPL")])
        snap = await client.wait_for(of("D-SNAP", "W"), timeout=10)
        assert snap.get_all(269) == ["1", "1", "1"] and snap.get_all(270) == ["100.01", "100.02", "100.03"]

        # a better bid (the sizes follow the positions): for depth 5, 99.95 leaves (Delete at 290=5, deepest
        # first), 100.00 enters at 290=1 and the four levels below change size in place
        await write_book(redis, "AAPL", "100.00", bids=12, asks=6)
        increment = await client.wait_for(of("D-5", "X", 270, "100"), timeout=10)
        assert increment.get(268) == "6" and set(increment.get_all(55)) == {"AAPL"}
        assert increment.get_all(279) == ["2", "0", "1", "1", "1", "1"]
        assert increment.get_all(269) == ["0"] * 6
        assert increment.get_all(270) == ["99.95", "100", "99.99", "99.98", "99.97", "99.96"]
        assert increment.get_all(271) == ["100", "200", "300", "400", "500"]  # none on the Delete
        assert increment.get_all(290) == ["5", "1", "2", "3", "4", "5"]
        await client.logout()
    finally:
        await redis.aclose()  # type: ignore[attr-defined,unused-ignore]
