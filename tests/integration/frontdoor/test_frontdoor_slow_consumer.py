"""The slow-consumer attack on real sockets: a client logs on, then never reads while its engine has a lot
to send. The front door must not buffer without bound: once the client has read nothing for
slow_consumer_seconds it closes both sides and audits why (the engine behind it is a stand-in that floods
the client, so the test does not depend on market data or order rates)."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime

from gateway.fix.sessions import ClientSession
from gateway.frontdoor.credentials import StaticCredentials
from gateway.frontdoor.framing import encode
from gateway.frontdoor.policy import Limits
from gateway.frontdoor.router import single_shard
from gateway.frontdoor.server import FrontDoor, FrontDoorConfig

FLOOD_CHUNK = b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01" * 2048  # ~70 KB of heartbeats per write


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def record(self, event_type: str, comp_id: str, reason: str = "") -> None:
        self.events.append((event_type, comp_id, reason))


async def test_a_client_that_stops_reading_is_cut_off_and_audited() -> None:
    engine_saw_close = asyncio.Event()
    engine_sent = 0

    async def flooding_engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal engine_sent
        await reader.read(4096)  # the relayed Logon
        try:
            while engine_sent < 512 * 1024 * 1024:  # bounded: 512 MB at most, far beyond any buffer
                writer.write(FLOOD_CHUNK)
                engine_sent += len(FLOOD_CHUNK)
                await writer.drain()  # blocks while the front door has stopped reading from us
        except (ConnectionError, OSError):
            pass
        finally:
            engine_saw_close.set()
            writer.close()

    engine = await asyncio.start_server(flooding_engine, "127.0.0.1", 0)
    engine_port = engine.sockets[0].getsockname()[1]
    session = ClientSession("CLIENT1", "BROKER", "FIX.4.4", None, "", True)
    audit = Recorded()
    door = FrontDoor(FrontDoorConfig("BROKER", Limits(slow_consumer_seconds=1.0), fd_floor=0),
                     StaticCredentials([session], profile="conformance"), single_shard("127.0.0.1", engine_port),
                     audit=audit)  # type: ignore[arg-type]
    port = await door.listen("127.0.0.1", 0)
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that takes almost nothing
    client.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(client, ("127.0.0.1", port))
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
        await loop.sock_sendall(client, encode("FIX.4.4", "A", [(49, "CLIENT1"), (56, "BROKER"), (34, "1"),
                                                                (52, stamp), (98, "0"), (108, "30")]))
        started = time.monotonic()
        await asyncio.wait_for(engine_saw_close.wait(), timeout=60)  # the front door cut the engine side
        took = time.monotonic() - started
        events = [(kind, comp_id) for kind, comp_id, _ in audit.events]
        assert events == [("session.slow_consumer", "CLIENT1")], audit.events
        assert "slow consumer" in audit.events[0][2]
        assert took >= 1.0  # not before the client had its slow_consumer_seconds
        assert not door.connections  # nothing left buffered for it
        # the client side is closed too: draining what reached its socket ends in EOF or a reset
        client.setblocking(True)
        client.settimeout(10)
        closed = False
        try:
            while client.recv(1 << 20):
                pass
            closed = True
        except (ConnectionResetError, BrokenPipeError):
            closed = True
        assert closed
    finally:
        client.close()
        await door.close()
        engine.close()
        await engine.wait_closed()


async def test_a_client_that_reads_slowly_but_steadily_is_kept() -> None:
    """The control: pauses shorter than the limit never cut a client off."""
    engine_done = asyncio.Event()

    async def bursty_engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        try:
            for _ in range(40):  # 40 bursts of ~70 KB
                writer.write(FLOOD_CHUNK)
                await writer.drain()
        finally:
            engine_done.set()

    engine = await asyncio.start_server(bursty_engine, "127.0.0.1", 0)
    engine_port = engine.sockets[0].getsockname()[1]
    audit = Recorded()
    door = FrontDoor(FrontDoorConfig("BROKER", Limits(slow_consumer_seconds=3.0), fd_floor=0),
                     StaticCredentials([ClientSession("CLIENT1", "BROKER", "FIX.4.4", None, "", True)],
                                       profile="conformance"), single_shard("127.0.0.1", engine_port),
                     audit=audit)  # type: ignore[arg-type]
    port = await door.listen("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
        writer.write(encode("FIX.4.4", "A", [(49, "CLIENT1"), (56, "BROKER"), (34, "1"), (52, stamp), (98, "0"),
                                             (108, "30")]))
        received = 0
        while received < 40 * len(FLOOD_CHUNK):
            chunk = await asyncio.wait_for(reader.read(256 * 1024), timeout=30)
            assert chunk, "the front door closed a client that was reading"
            received += len(chunk)
            await asyncio.sleep(0.05)  # slow, but well within the limit
        assert audit.events == []
    finally:
        writer.close()
        await door.close()
        engine.close()
        await engine.wait_closed()
