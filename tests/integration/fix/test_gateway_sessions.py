"""The client acceptor on a real socket: logon gate, outbox events, rejects, garbage tolerance."""

from __future__ import annotations

import asyncio
import time

import pytest
from gateway_process import PASSWORDS, GatewayProcess, outbox_events
from gateway_wire import WireClient, value

pytestmark = pytest.mark.integration


def wait_for_events(database_url: str, count: int, timeout: float = 10.0) -> list[tuple[str, dict[str, str]]]:
    deadline = time.monotonic() + timeout
    while True:
        events = asyncio.run(outbox_events(database_url))
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("password", "username", "reason"),
    [
        ("wrong", None, "Invalid username or password"),
        (None, None, "Password (554) required"),
        (PASSWORDS["CLIENT1"], "someone-else", "Invalid username or password"),
    ],
)
def test_bad_logon_gets_logout_with_reason_and_no_session(
    gateway: GatewayProcess, password: str | None, username: str | None, reason: str
) -> None:
    client = WireClient(gateway.port)
    client.logon(password, username=username)
    logout = client.expect("5")
    assert value(logout, 58) == reason
    assert value(logout, 34) == "1"
    assert client.wait_closed(), "the connection must be dropped after the refusal"
    client.close()

    events = wait_for_events(gateway.database_url, 1)
    assert [(kind, payload["actor"], payload.get("reason")) for kind, payload in events] == [
        ("session.logon_failed", "fix:CLIENT1", reason)
    ]

    # The refused Logon never reached the engine (the front door answered it): the right password
    # works with 34=1 again and the engine's own sequence starts at 1 too.
    retry = WireClient(gateway.port)
    retry.logon(PASSWORDS["CLIENT1"])
    assert value(retry.expect("A"), 34) == "1"
    retry.close()
    assert gateway.alive()


def test_disabled_session_is_refused(gateway: GatewayProcess) -> None:
    client = WireClient(gateway.port, sender="DISABLED1")
    client.logon("whatever")
    assert value(client.expect("5"), 58) == "Session disabled"
    assert client.wait_closed()
    client.close()


def test_unknown_comp_id_is_refused_like_a_bad_password(gateway: GatewayProcess) -> None:
    client = WireClient(gateway.port, sender="NOBODY")
    client.logon("x")
    assert value(client.expect("5"), 58) == "Invalid username or password"  # no oracle for CompIDs
    assert client.wait_closed()
    client.close()
    assert gateway.alive()


def test_logon_app_message_reject_and_logout(gateway: GatewayProcess) -> None:
    client = WireClient(gateway.port, sender="CLIENT2")
    client.logon(PASSWORDS["CLIENT2"], username="client2", heartbeat=30)
    logon = client.expect("A")
    assert (value(logon, 49), value(logon, 56), value(logon, 108)) == ("BROKER", "CLIENT2", "30")
    assert value(logon, 554) is None and value(logon, 58) is None

    # No order path yet: a valid NewOrderSingle gets a BusinessMessageReject, never a crash.
    client.send("D", [(11, "ord-1"), (21, "1"), (38, "100"), (40, "1"), (54, "1"), (55, "AAPL"),
                      (60, "20260101-00:00:00.000")])
    reject = client.expect("j")
    assert (value(reject, 45), value(reject, 372), value(reject, 380)) == ("2", "D", "3")
    assert value(reject, 58) == "Unsupported Message Type"

    # Session-level validation still belongs to the engine: a bad enum gets a session Reject.
    client.send("D", [(11, "ord-2"), (21, "1"), (38, "100"), (40, "w"), (54, "1"), (55, "AAPL"),
                      (60, "20260101-00:00:00.000")])
    session_reject = client.expect("3")
    assert (value(session_reject, 45), value(session_reject, 371), value(session_reject, 373)) == ("3", "40", "5")

    client.send("5")
    assert client.expect("5") is not None
    assert client.wait_closed()
    client.close()

    events = wait_for_events(gateway.database_url, 2)
    assert [(kind, payload["actor"]) for kind, payload in events] == [
        ("session.logon", "fix:CLIENT2"), ("session.logout", "fix:CLIENT2")]


def test_garbled_input_does_not_crash_the_engine(gateway: GatewayProcess) -> None:
    # Garbage before any Logon: the connection is dropped, the engine lives on.
    junk = WireClient(gateway.port)
    junk.send_bytes(b"\x00\xff this is not FIX \x01\x01=\x01" * 50)
    assert junk.wait_closed()
    junk.close()

    client = WireClient(gateway.port)
    client.logon(PASSWORDS["CLIENT1"])
    client.expect("A")
    good = client.encode("1", [(112, "PING-1")], seq=client.next_seq)
    client.send_bytes(good.replace(b"10=", b"10=9")[:-1] + b"\x01")  # bad checksum: ignored
    client.send_bytes(b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01")  # wrong BodyLength: ignored
    client.send_bytes(b"8=FIX.4.4\x0135=0\x019=20\x01garbage\x01\x01\x0110=000\x01")  # fields out of order
    client.send_bytes("8=FIX.4.4\x019=12\x0135=D\x01\u00e9\u00e9=\xff\x0110=123\x01".encode())
    client.send("1", [(112, "PING-2")])  # the sequence continues as if nothing had arrived
    heartbeat = client.expect("0")
    assert value(heartbeat, 112) == "PING-2"
    client.send("5")
    client.expect("5")
    client.close()
    assert gateway.alive()
