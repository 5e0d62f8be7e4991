"""The relay's client->engine direction with fake transports: bytes pass verbatim whatever the
chunking, and a message over the cap closes the connection even when it arrives in pieces."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest

from gateway.frontdoor.framing import encode
from gateway.frontdoor.policy import Limits
from gateway.frontdoor.router import single_shard
from gateway.frontdoor.server import BackendConnection, ClientConnection, FrontDoor, FrontDoorConfig


class FakeTransport:
    def __init__(self) -> None:
        self.written = bytearray()
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted


class NoCredentials:
    require_password = False

    async def session(self, sender_comp_id: str, target_comp_id: str) -> None:
        return None


def relaying(max_message_bytes: int = 4096) -> tuple[ClientConnection, FakeTransport, FakeTransport]:
    door = FrontDoor(FrontDoorConfig("BROKER", Limits(max_logon_bytes=1024, max_message_bytes=max_message_bytes)),
                     NoCredentials(), single_shard("127.0.0.1", 1))
    client = ClientConnection(door, "127.0.0.1")
    client_transport, engine_transport = FakeTransport(), FakeTransport()
    client.transport = cast(Any, client_transport)
    client.backend = BackendConnection(client)
    client.backend.transport = cast(Any, engine_transport)
    client.state = "relay"
    return client, client_transport, engine_transport


def message(seq: int, size: int = 40) -> bytes:
    return encode("FIX.4.4", "1", [(49, "C"), (56, "BROKER"), (34, str(seq)), (112, "x" * size)])


@pytest.mark.parametrize("seed", range(5))
def test_bytes_pass_verbatim_whatever_the_chunking(seed: int) -> None:
    rng = random.Random(seed)
    stream = b"".join(message(n, rng.randrange(1, 2000)) for n in range(50))
    stream = b"junk" + stream[:300] + b"8=FIX.4.4\x019=12x\x01" + stream[300:]  # garbage the engine drops too
    client, client_transport, engine = relaying()
    position = 0
    while position < len(stream):
        step = rng.randrange(1, 700)
        client.data_received(stream[position:position + step])
        position += step
    assert bytes(engine.written) == stream and not client_transport.aborted
    assert len(client.tail) < 4096


def test_a_message_over_the_cap_closes_even_in_pieces() -> None:
    client, client_transport, engine = relaying(max_message_bytes=4096)
    small, big = message(1), message(2, 5000)
    client.data_received(small + big[:30])  # the header announces 5,000+ bytes: closed here
    assert client_transport.aborted and client.state == "closed"
    assert bytes(engine.written) == b""  # nothing of that chunk reached the engine


def test_junk_without_a_message_start_is_bounded() -> None:
    client, client_transport, _ = relaying(max_message_bytes=4096)
    for _ in range(100):
        if client.state == "closed":
            break
        client.data_received(b"x" * 100)
    assert client_transport.aborted


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def record(self, event_type: str, comp_id: str, reason: str = "") -> None:
        self.events.append((event_type, comp_id, reason))


class PausableTransport(FakeTransport):
    def __init__(self) -> None:
        super().__init__()
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_write_buffer_size(self) -> int:
        return 300_000


async def test_a_client_that_stops_reading_is_cut_off_as_a_slow_consumer() -> None:
    import asyncio

    door = FrontDoor(FrontDoorConfig("BROKER", Limits(slow_consumer_seconds=0.2)), NoCredentials(),
                     single_shard("127.0.0.1", 1))
    audit = Recorded()
    door.audit = cast(Any, audit)
    client = ClientConnection(door, "127.0.0.1")
    client_transport, engine_transport = PausableTransport(), PausableTransport()
    client.transport = cast(Any, client_transport)
    client.backend = BackendConnection(client)
    client.backend.transport = cast(Any, engine_transport)
    client.state, client.sender_comp_id = "relay", "CLIENT1"

    client.pause_writing()  # the client's socket is full: the engine's side stops being read
    assert not engine_transport.reading
    client.resume_writing()  # it read again in time: nothing happens
    await asyncio.sleep(0.3)
    assert engine_transport.reading and not client_transport.aborted and audit.events == []

    client.pause_writing()  # and now it reads nothing for longer than the limit
    await asyncio.sleep(0.4)
    assert client_transport.aborted and engine_transport.aborted and client.state == "closed"
    assert [(e, c) for e, c, _ in audit.events] == [("session.slow_consumer", "CLIENT1")]
    assert "slow consumer" in audit.events[0][2] and "300000 bytes waiting" in audit.events[0][2]
