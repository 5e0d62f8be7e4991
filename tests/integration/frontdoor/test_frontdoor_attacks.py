"""Each test is an attack on the FIX front door, written as the raw bytes an attacker sends, with the
expected refusal, and a control showing the legitimate path still works (issue 9)."""

from __future__ import annotations

import asyncio
import resource
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from gateway_process import PASSWORDS, GatewayProcess, outbox_events
from gateway_wire import WireClient, value

from brokerage.services import free_port
from ledger.credentials import hash_password

pytestmark = pytest.mark.integration

StartGateway = Callable[..., GatewayProcess]  # the start_gateway fixture (conftest.py)


def connect_from(port: int, source: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True once the peer closes (EOF or reset) within ``timeout``; data before that is skipped."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
    return False


def wait_for_event(database_url: str, kind: str, timeout: float = 10.0) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        events = [payload for event, payload in asyncio.run(outbox_events(database_url)) if event == kind]
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def logged_on(port: int, sender: str = "CLIENT1", next_seq: int = 1, **logon: object) -> WireClient:
    client = WireClient(port, sender=sender, next_seq=next_seq)
    client.logon(PASSWORDS[sender], **logon)  # type: ignore[arg-type]
    client.expect("A")
    return client


def round_trip(client: WireClient, request_id: str, timeout: float) -> float:
    started = time.monotonic()
    client.send("1", [(112, request_id)])
    heartbeat = client.expect("0", timeout=timeout)
    assert value(heartbeat, 112) == request_id
    return time.monotonic() - started


# --- 141=Y without the password --------------------------------------------------------------------
@pytest.mark.parametrize(("password", "reason"), [("guess", "Invalid username or password"),
                                                  (None, "Password (554) required")])
def test_reset_logon_without_the_password_is_refused_and_the_client_resumes(
        start_gateway: StartGateway, password: str | None, reason: str) -> None:
    gateway = start_gateway()
    client = logged_on(gateway.port)  # the real client: Logon 1, TestRequest 2, Logout 3
    round_trip(client, "before", 10)
    client.send("5")
    client.expect("5")
    client.close()

    attacker = WireClient(gateway.port)  # the attack: 141=Y knowing only the CompID
    body = [(98, "0"), (108, "30"), (141, "Y")] + ([(554, password)] if password else [])
    attacker.send("A", body)
    logout = attacker.expect("5")
    assert (value(logout, 58), value(logout, 49), value(logout, 56)) == (reason, "BROKER", "CLIENT1")
    assert attacker.wait_closed()
    attacker.close()
    assert wait_for_event(gateway.database_url, "session.logon_failed")[0]["reason"] == reason

    # control: the real client resumes at 34=4 and the engine answers with its own 34=4 (no reset)
    resumed = WireClient(gateway.port, next_seq=4)
    resumed.logon(PASSWORDS["CLIENT1"])
    assert value(resumed.expect("A"), 34) == "4"
    round_trip(resumed, "after", 10)
    resumed.close()

    # and 141=Y with the right password is relayed: a legitimate reset still works
    reset = WireClient(gateway.port)
    reset.send("A", [(98, "0"), (108, "30"), (141, "Y"), (554, PASSWORDS["CLIENT1"])])
    reply = reset.expect("A")
    assert (value(reply, 141), value(reply, 34)) == ("Y", "1")
    reset.close()


# --- slowloris: 20 connections dribbling partial first messages ---------------------------------------
def test_dribbling_connections_do_not_stall_a_logged_on_session(start_gateway: StartGateway) -> None:
    gateway = start_gateway(FIX_LOGON_TIMEOUT_SECONDS="30", FIX_FIRST_BYTE_TIMEOUT_SECONDS="30")
    client = logged_on(gateway.port, sender="CLIENT2")
    partial = b"8=FIX.4.4\x019=200\x0135=A\x0149=CLIENT1\x0156=BROKER\x01"
    dribblers = [connect_from(gateway.port) for _ in range(20)]
    try:
        for step in range(6):
            for sock in dribblers:
                sock.sendall(partial[step * 3:step * 3 + 3])
            # the session's TestRequest round trip answers promptly (a generous bound, not a benchmark)
            assert round_trip(client, f"probe-{step}", timeout=10) < 2.0
    finally:
        for sock in dribblers:
            sock.close()
    client.close()
    assert gateway.alive()


def test_dribbling_logon_is_dropped_at_the_logon_timeout(start_gateway: StartGateway) -> None:
    gateway = start_gateway(FIX_LOGON_TIMEOUT_SECONDS="2")
    sock = connect_from(gateway.port)
    sock.sendall(b"8=FIX.4.4\x019=")
    assert closed_by_peer(sock, timeout=10)
    sock.close()
    logged_on(gateway.port).close()  # control


# --- 1,100 idle connections -------------------------------------------------------------------------
def test_idle_connections_are_held_off_the_engine_and_dropped(start_gateway: StartGateway) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1400:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    gateway = start_gateway(FIX_MAX_CONNECTIONS_PER_IP="2000", FIX_FIRST_BYTE_TIMEOUT_SECONDS="20",
                            FIX_LOGON_TIMEOUT_SECONDS="20")
    idle: list[socket.socket] = []
    try:
        for _ in range(1100):
            idle.append(connect_from(gateway.port))
        # the gateway holds them all (past fd 1024) and a real client still logs on and trades messages
        client = logged_on(gateway.port)
        round_trip(client, "with-1100-idle", timeout=10)
        # the idle ones are dropped after the idle timeout; the session stays up
        deadline = time.monotonic() + 60
        assert all(closed_by_peer(sock, max(0.1, deadline - time.monotonic())) for sock in idle)
        round_trip(client, "after-the-drop", timeout=10)
        client.close()
    finally:
        for sock in idle:
            sock.close()
    assert gateway.alive()


# --- malformed first messages --------------------------------------------------------------------------
def test_oversized_logon_is_closed_before_it_is_read(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    announced = connect_from(gateway.port)  # BodyLength announces 1 MB: closed at once
    announced.sendall(b"8=FIX.4.4\x019=1000000\x0135=A\x01")
    assert closed_by_peer(announced, timeout=10)
    announced.close()

    padded = WireClient(gateway.port)  # a well-formed Logon padded past 8 KiB
    data = padded.encode("A", [(98, "0"), (108, "30"), (58, "x" * 9000), (554, PASSWORDS["CLIENT1"])])
    padded.send_bytes(data)
    assert padded.receive(timeout=10) is None  # closed, nothing answered
    padded.close()
    logged_on(gateway.port).close()  # control


def test_non_logon_first_message_is_refused(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    order = WireClient(gateway.port)
    order.send("D", [(11, "x"), (21, "1"), (38, "1"), (40, "1"), (54, "1"), (55, "AAPL"),
                     (60, "20260101-00:00:00.000")])
    assert value(order.expect("5"), 58) == "First message must be a Logon (35=A)"
    assert order.wait_closed()
    order.close()
    junk = connect_from(gateway.port)
    junk.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert closed_by_peer(junk, timeout=10)
    junk.close()
    logged_on(gateway.port).close()  # control


@pytest.mark.parametrize(("sender", "target", "reason"), [
    ("CLIENT1", "SOMEONE", "Wrong TargetCompID"),
    ("NOBODY", "BROKER", "Invalid username or password"),
])
def test_wrong_comp_id_is_refused(start_gateway: StartGateway, sender: str, target: str, reason: str) -> None:
    gateway = start_gateway()
    client = WireClient(gateway.port, sender=sender, target=target)
    client.logon(PASSWORDS["CLIENT1"])
    logout = client.expect("5")
    assert (value(logout, 58), value(logout, 49), value(logout, 56)) == (reason, target, sender)
    assert client.wait_closed()
    client.close()
    logged_on(gateway.port).close()  # control


@pytest.mark.parametrize("heartbeat", [0, 86400])
def test_absurd_heartbeat_interval_is_refused(start_gateway: StartGateway, heartbeat: int) -> None:
    gateway = start_gateway()
    client = WireClient(gateway.port)
    client.logon(PASSWORDS["CLIENT1"], heartbeat=heartbeat)
    assert value(client.expect("5"), 58) == "HeartBtInt (108) must be 1..300 seconds"
    client.close()
    logged_on(gateway.port, heartbeat=300).close()  # control


# --- caps -----------------------------------------------------------------------------------------
def test_per_ip_connection_cap(start_gateway: StartGateway) -> None:
    gateway = start_gateway(FIX_MAX_CONNECTIONS_PER_IP="5")
    held = [connect_from(gateway.port, "127.0.0.3") for _ in range(5)]
    extra = connect_from(gateway.port, "127.0.0.3")
    assert closed_by_peer(extra, timeout=10)  # the sixth from that address is closed at once
    extra.close()
    logged_on(gateway.port).close()  # control: another address (127.0.0.1) still logs on
    for sock in held:
        sock.close()


def test_failed_logons_lock_the_comp_id_out_with_back_off(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    for _ in range(4):  # three free failures, the fourth starts a 1 s lockout
        attacker = WireClient(gateway.port, sender="CLIENT2")
        attacker.logon("guess")
        assert value(attacker.expect("5"), 58) == "Invalid username or password"
        attacker.close()
    locked = WireClient(gateway.port, sender="CLIENT2")
    locked.logon(PASSWORDS["CLIENT2"])  # even the right password waits out the lockout
    assert value(locked.expect("5"), 58) == "Too many failed logons, retry later"
    locked.close()
    assert "locked for 1 s" in wait_for_event(gateway.database_url, "session.logon_locked")[0]["reason"]
    logged_on(gateway.port, sender="CLIENT1").close()  # another CompID is not affected
    time.sleep(1.5)
    logged_on(gateway.port, sender="CLIENT2").close()  # after the back-off the client gets in


def test_oversized_message_after_logon_closes_the_connection(start_gateway: StartGateway) -> None:
    gateway = start_gateway(FIX_MAX_MESSAGE_BYTES="10000")
    client = logged_on(gateway.port)
    client.send("1", [(112, "x" * 5000)])
    assert value(client.expect("0"), 112) == "x" * 5000  # control: under the cap
    client.send("1", [(112, "y" * 20000)])
    assert client.wait_closed()
    client.close()
    assert "over the 10000-byte cap" in wait_for_event(gateway.database_url, "session.frontdoor_closed")[0]["reason"]


def test_password_change_and_disable_apply_at_the_next_logon(start_gateway: StartGateway) -> None:
    gateway = start_gateway()
    logged_on(gateway.port).close()

    async def update(statement: str, *args: object) -> None:
        conn = await asyncpg.connect(gateway.database_url)
        try:
            await conn.execute(statement, *args)
        finally:
            await conn.close()

    asyncio.run(update("UPDATE fix_sessions SET password_hash = $1 WHERE sender_comp_id = 'CLIENT1'",
                       hash_password("changed")))
    old = WireClient(gateway.port, next_seq=2)
    old.logon(PASSWORDS["CLIENT1"])
    assert value(old.expect("5"), 58) == "Invalid username or password"
    old.close()
    new = WireClient(gateway.port, next_seq=2)
    new.logon("changed")
    new.expect("A")
    new.send("5")
    new.expect("5")
    new.close()
    asyncio.run(update("UPDATE fix_sessions SET enabled = false WHERE sender_comp_id = 'CLIENT1'"))
    disabled = WireClient(gateway.port, next_seq=4)
    disabled.logon("changed")
    assert value(disabled.expect("5"), 58) == "Session disabled"
    disabled.close()


# --- the internal QuickFIX port ----------------------------------------------------------------------
def test_internal_quickfix_port_is_unreachable_from_another_source(start_gateway: StartGateway) -> None:
    backend = free_port()
    gateway = start_gateway(FIX_BACKEND_PORT=str(backend))
    with pytest.raises(OSError):  # from 127.0.0.2 the SYN is dropped (connect times out)
        connect_from(backend, "127.0.0.2", timeout=2).close()
    logged_on(gateway.port).close()  # control: through the front door (its 127.0.0.1 connection)


# --- TLS only -------------------------------------------------------------------------------------------
def test_tls_port_works_and_the_plain_port_is_closed(start_gateway: StartGateway, seeded_db: str,
                                                     tmp_path: Path) -> None:
    from test_gateway_resume import self_signed_certificate

    certificate, key = self_signed_certificate(tmp_path)
    process = GatewayProcess(seeded_db, tmp_path, tls_port=free_port(), certificate=certificate, private_key=key)
    gateway = start_gateway(process, FIX_PLAIN_ENABLED="false")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    assert gateway.tls_port is not None
    client = WireClient(gateway.tls_port, sender="CLIENT2", tls=ssl.create_default_context(cafile=str(certificate)))
    client.logon(PASSWORDS["CLIENT2"])
    client.expect("A")
    round_trip(client, "over-tls", 10)
    client.close()
