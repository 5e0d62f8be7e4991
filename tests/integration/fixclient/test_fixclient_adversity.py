"""Timeouts, cancellation, a silent peer and a vanished peer, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from quickfix_echo import EchoAcceptor

from fixclient import events as ev
from fixclient.client import FixClient, SessionClosed
from fixclient.codec import Frame, FrameReader, encode_message, format_utc_timestamp
from fixclient.session import SessionState

pytestmark = pytest.mark.integration


async def logged_on(acceptor: EchoAcceptor, heartbeat: int = 30) -> FixClient:
    client = await FixClient.connect("127.0.0.1", acceptor.port, "CLIENT1", "BROKER", password="demo1",
                                     heartbeat=heartbeat)
    await client.logon()
    return client


async def test_report_timeout_leaves_the_client_usable(acceptor: EchoAcceptor) -> None:
    client = await logged_on(acceptor)
    acceptor.app.hold_reports = True
    held = await client.new_order_single("AAPL", "buy", 1, "market")
    with pytest.raises(TimeoutError, match=held):
        await client.next_execution_report(held, timeout=0.5)
    acceptor.app.hold_reports = False
    answered = await client.new_order_single("AAPL", "buy", 2, "market")
    assert (await client.next_execution_report(answered, timeout=5)).leaves_qty == 2
    assert client.state is SessionState.ACTIVE
    await client.logout()


async def test_cancelled_wait_does_not_lose_the_report(acceptor: EchoAcceptor) -> None:
    client = await logged_on(acceptor)
    acceptor.app.hold_reports = True
    cl_ord_id = await client.new_order_single("AAPL", "buy", 1, "market")
    waiting = asyncio.create_task(client.next_execution_report(cl_ord_id, timeout=30))
    await asyncio.sleep(0.1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    acceptor.app.hold_reports = False
    await client.order_status(cl_ord_id)  # the acceptor answers this one
    report = await client.next_execution_report(cl_ord_id, timeout=5)
    assert report.exec_type == "I"
    await client.logout()


async def test_waiters_fail_fast_when_the_peer_vanishes(acceptor: EchoAcceptor) -> None:
    client = await logged_on(acceptor)
    acceptor.app.hold_reports = True
    cl_ord_id = await client.new_order_single("AAPL", "buy", 1, "market")
    waiting = asyncio.create_task(client.next_execution_report(cl_ord_id, timeout=30))
    matching = asyncio.create_task(client.wait_for(lambda m: False, timeout=30))
    await asyncio.sleep(0.1)
    acceptor.session.disconnect()
    with pytest.raises(SessionClosed):
        await asyncio.wait_for(waiting, 5)
    with pytest.raises(SessionClosed):
        await asyncio.wait_for(matching, 5)
    assert client.is_closed and client.closed_reason == "connection closed by the peer"
    await client.close()


@contextlib.asynccontextmanager
async def silent_acceptor() -> AsyncIterator[int]:
    """Answers the Logon, then never says another word: the client's timers must notice."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        while data := await reader.read(4096):
            for frame in frames.feed(data):
                if isinstance(frame, Frame) and frame.msg_type == "A":
                    header = [(49, "BROKER"), (56, "CLIENT1"), (34, 1), (52, format_utc_timestamp())]
                    writer.write(encode_message("A", header, [(98, 0), (108, frame.get(108))]))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_silent_peer_gets_a_test_request_then_the_session_ends() -> None:
    async with silent_acceptor() as port:
        client = await FixClient.connect("127.0.0.1", port, "CLIENT1", "BROKER", heartbeat=1)
        await client.logon()
        await asyncio.wait_for(client.wait_closed(), 10)
        kinds = [type(e) for e in client.events]
        assert ev.TestRequestSent in kinds and ev.HeartbeatSent in kinds
        assert client.closed_reason is not None and "TestRequest unanswered" in client.closed_reason
        with pytest.raises(SessionClosed):
            await client.new_order_single("AAPL", "buy", 1, "market")
        await client.close()


async def test_logon_reply_from_the_wrong_comp_id_ends_the_session() -> None:
    async with silent_acceptor() as port:
        # the fake always answers as BROKER -> CLIENT1, which is not who NOBODY talks to
        client = await FixClient.connect("127.0.0.1", port, "NOBODY", "BROKER")
        with pytest.raises(SessionClosed, match="CompID"):
            await client.logon(timeout=5)
        await client.close()


async def test_logon_timeout_when_nobody_answers() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            pass
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    try:
        client = await FixClient.connect("127.0.0.1", server.sockets[0].getsockname()[1], "CLIENT1", "BROKER")
        with pytest.raises(TimeoutError, match="no Logon reply"):
            await client.logon(timeout=0.5)
        await client.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_bug_in_message_handling_ends_the_session_instead_of_hanging(acceptor: EchoAcceptor) -> None:
    client = await logged_on(acceptor)

    def broken(frame: Frame, now: float) -> None:
        raise RuntimeError("boom")

    client.session.on_frame = broken  # type: ignore[method-assign,assignment]
    cl_ord_id = await client.new_order_single("AAPL", "buy", 1, "market")
    with pytest.raises(SessionClosed, match="internal error"):
        await client.next_execution_report(cl_ord_id, timeout=5)
    await client.close()
