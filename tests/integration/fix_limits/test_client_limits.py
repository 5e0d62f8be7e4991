"""An authenticated client cannot starve others: each attack as raw FIX against the real gateway process
(limits of ``LIMITS`` in conftest: app 2/s burst 8, admin 1/s burst 6, resend cap 3, MD caps 2), with the
legitimate path as the control."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from gateway_process import GatewayProcess, outbox_events
from gateway_wire import WireClient, value
from redis.asyncio import Redis

from marketdata.quotes import Quote
from marketdata.redis_quotes import QuoteWriter

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-one"


def logged_on(gateway: GatewayProcess, heartbeat: int = 30, seq: int = 1) -> WireClient:
    client = WireClient(gateway.port, "CLIENT1", next_seq=seq)
    client.logon(PASSWORD, heartbeat=heartbeat)
    client.expect("A")
    return client


def news(headline: str) -> list[tuple[int, str]]:
    """35=B News: an application type the gateway does not serve (BusinessMessageReject 380=3)."""
    return [(148, headline), (33, "1"), (58, headline)]


def md_request(req_id: str, request_type: str, *symbols: str) -> list[tuple[int, str]]:
    return [(262, req_id), (263, request_type), (264, "1"), (267, "1"), (269, "0"), (146, str(len(symbols))),
            *[(55, symbol) for symbol in symbols]]


def drain(client: WireClient, quiet: float = 1.0) -> list[tuple[str, dict[int, str]]]:
    """Every message until ``quiet`` seconds pass without one (or the connection closes)."""
    out: list[tuple[str, dict[int, str]]] = []
    while True:
        try:
            message = client.receive(quiet)
        except TimeoutError:
            return out
        if message is None:
            out.append(("closed", {}))
            return out
        fields = {tag: value(message, tag) or "" for tag in (7, 34, 35, 36, 43, 45, 58, 123, 262, 281, 372, 380)}
        out.append((fields[35], fields))


def test_application_flood_gets_business_rejects_and_the_session_stays(limited_gateway: GatewayProcess,
                                                                       seeded_db: str) -> None:
    client = logged_on(limited_gateway)
    try:
        for n in range(30):
            client.send("B", news(f"spam {n}"))
        replies = drain(client)
        rejects = [f for kind, f in replies if kind == "j"]
        assert len(rejects) == 30, replies
        throttled = [f for f in rejects if f[380] == "0"]
        served = [f for f in rejects if f[380] == "3"]
        assert len(served) >= 8 and len(throttled) >= 15, (len(served), len(throttled))
        assert all("throttled" in f[58] and f[372] == "B" for f in throttled)
        # control: the session is still up and answers at once
        client.send("1", [(112, "still-here")])
        assert value(client.expect("0"), 112) == "still-here"
        time.sleep(1.5)  # tokens come back
        client.send("B", news("later"))
        assert value(client.expect("j"), 380) == "3"
    finally:
        client.close()
    events = asyncio.run(_events_until(seeded_db, "session.throttled"))
    assert len(events) == 1, events  # one audit event per episode, not one per refused message
    assert events[0]["actor"] == "fix:CLIENT1" and "35=B" in events[0]["reason"]
    assert limited_gateway.alive()


async def _events_until(database_url: str, event_type: str, timeout: float = 10) -> list[dict[str, str]]:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        found = [payload for kind, payload in await outbox_events(database_url) if kind == event_type]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


def test_test_request_flood_is_logged_out_with_a_reason(limited_gateway: GatewayProcess) -> None:
    client = logged_on(limited_gateway)
    try:
        for n in range(40):
            client.send("1", [(112, f"ping {n}")])
        replies = drain(client, 6.0)
        logouts = [f for kind, f in replies if kind == "5"]
        assert logouts and "throttled" in logouts[0][58], replies
        # answer the Logout: the session ends cleanly
        client.send("5")
        assert client.wait_closed(10)
    finally:
        client.close()
    # control: the client may log on again and is served normally
    again = WireClient(limited_gateway.port, "CLIENT1", next_seq=client.next_seq)
    try:
        again.logon(PASSWORD)
        again.expect("A")
        for kind, fields in drain(again):
            if kind == "2":  # TestRequests sent after the Logout were never read: gap-fill them, as FIX says
                again.send("4", [(123, "Y"), (36, str(again.next_seq))], seq=int(fields[7]),
                           header=[(43, "Y"), (122, "20200101-00:00:00")])
        again.send("1", [(112, "back")])
        answers = drain(again)
        assert any(f.get(35) == "0" for _, f in answers), (replies, answers)
    finally:
        again.close()


def test_resend_request_is_served_up_to_the_cap(limited_gateway: GatewayProcess) -> None:
    client = logged_on(limited_gateway)
    try:
        for n in range(5):  # five BusinessMessageRejects: our seq 2..6 from the gateway
            client.send("B", news(f"n{n}"))
        assert [kind for kind, _ in drain(client)] == ["j"] * 5
        client.send("2", [(7, "1"), (16, "0")])  # everything: 6 messages, cap 3
        replies = drain(client, 6.0)
        resent = [f for kind, f in replies if f.get(43) == "Y"]
        assert resent, replies
        highest = max(int(f[36]) - 1 if f[35] == "4" else int(f[34]) for f in resent)
        assert highest == 3, resent  # served 1..3 only
        logouts = [f for kind, f in replies if kind == "5"]
        assert logouts and "above the cap of 3" in logouts[0][58], replies
    finally:
        client.close()


def test_market_data_is_gap_filled_not_resent(limited_gateway: GatewayProcess, test_servers: object) -> None:
    asyncio.run(_write_quote(test_servers.redis_url))  # type: ignore[attr-defined]
    client = logged_on(limited_gateway)
    try:
        client.send("V", md_request("snap1", "0", "AAPL"))
        snapshot = client.expect("W")
        seq = int(value(snapshot, 34) or 0)
        client.send("2", [(7, str(seq)), (16, str(seq))])
        replies = drain(client)
        assert [kind for kind, _ in replies] == ["4"], replies
        gap_fill = replies[0][1]
        assert gap_fill[123] == "Y" and gap_fill[43] == "Y" and gap_fill[34] == str(seq)
        assert gap_fill[36] == str(seq + 1)
        client.send("1", [(112, "after")])  # the session goes on
        assert value(client.expect("0"), 112) == "after"
    finally:
        client.close()


async def _write_quote(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        now = int(time.time() * 1_000_000)
        await QuoteWriter(redis).write([Quote("AAPL", Decimal("189.5"), Decimal("189.6"), Decimal(100), Decimal(200),
                                              exchange_ts_us=now, ingest_ts_us=now)])
    finally:
        await redis.aclose()  # type: ignore[attr-defined,unused-ignore]


def test_market_data_caps(limited_gateway: GatewayProcess) -> None:
    client = logged_on(limited_gateway)
    try:
        client.send("V", md_request("big", "0", "AAPL", "MSFT", "F"))
        reject = client.expect("Y")
        assert value(reject, 281) == "2" and "snapshot" in (value(reject, 58) or "")
        for n in range(2):
            client.send("V", md_request(f"sub{n}", "1", "AAPL"))
        client.send("V", md_request("sub2", "1", "MSFT"))
        replies = drain(client, 2.0)
        rejects = [f for kind, f in replies if kind == "Y"]
        assert [f[262] for f in rejects] == ["sub2"], replies
        assert rejects[0][281] == "2" and "live subscriptions" in rejects[0][58]
    finally:
        client.close()


@pytest.mark.parametrize("heartbeat", [0, 100_000])
def test_absurd_heartbeat_interval_is_refused(limited_gateway: GatewayProcess, heartbeat: int) -> None:
    client = WireClient(limited_gateway.port, "CLIENT1")
    try:
        client.logon(PASSWORD, heartbeat=heartbeat)
        assert "HeartBtInt" in (value(client.expect("5"), 58) or "")
        assert client.wait_closed(10)
    finally:
        client.close()
