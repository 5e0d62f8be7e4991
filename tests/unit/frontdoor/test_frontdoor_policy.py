"""The front door's pure pieces: framing (QuickFIX's boundaries), the Logon gate, caps, back-off, router."""

from __future__ import annotations

import pytest

from gateway.fix.sessions import BAD_CREDENTIALS, DISABLED, PASSWORD_REQUIRED, ClientSession
from gateway.frontdoor.framing import FrameError, encode, frame_end, parse_strict, pending_header_length
from gateway.frontdoor.logon import (
    NOT_A_LOGON,
    WRONG_BEGIN_STRING,
    WRONG_TARGET,
    LogonRequest,
    Refusal,
    parse_logon,
    session_refusal,
)
from gateway.frontdoor.policy import TOO_MANY_CONNECTIONS, TOO_MANY_FROM_IP, ConnectionGate, Limits, LogonBackoff
from gateway.frontdoor.router import Backend, ShardRouter, single_shard
from ledger.credentials import hash_password

LIMITS = Limits()


def logon(*fields: tuple[int, str], sender: str = "CLIENT1", target: str = "BROKER", msg_type: str = "A") -> bytes:
    return encode("FIX.4.4", msg_type, [(49, sender), (56, target), (34, "1"), (52, "20260101-00:00:00.000"),
                                        *fields])


# --- framing -------------------------------------------------------------------------------------
def test_frame_end_finds_back_to_back_messages_and_waits_for_partial_ones() -> None:
    one, two = logon((98, "0"), (108, "30")), encode("FIX.4.4", "0", [(34, "2")])
    stream = one + two
    first = frame_end(stream)
    assert first is not None and (first.start, first.end) == (0, len(one))
    second = frame_end(stream, first.end)
    assert second is not None and second.end == len(stream)
    for cut in range(len(one)):
        assert frame_end(one[:cut]) is None
    assert pending_header_length(one[:20]) == first.body_length


def test_frame_end_follows_quickfix_on_garbage_and_short_body_length() -> None:
    # leading garbage is skipped to "8=", a too-short BodyLength extends to the next "<SOH>10="
    message = b"35=0\x01" + b"8=FIX.4.4\x019=5\x0135=0\x0134=2\x0110=000\x01"
    frame = frame_end(message)
    assert frame is not None and frame.start == 5 and frame.end == len(message)
    with pytest.raises(FrameError):
        frame_end(b"8=FIX.4.4\x019=x1\x0135=0\x0110=000\x01")


def test_parse_strict_checks_body_length_and_checksum() -> None:
    good = logon((98, "0"), (108, "30"))
    assert parse_strict(good)[2] == (35, b"A")
    with pytest.raises(FrameError, match="CheckSum"):
        parse_strict(good[:-4] + b"999\x01")
    with pytest.raises(FrameError, match="BodyLength"):
        parse_strict(good.replace(b"\x019=", b"\x019=1", 1))


# --- the Logon gate ------------------------------------------------------------------------------
def test_parse_logon_accepts_a_logon_and_hides_the_password() -> None:
    request = parse_logon(logon((98, "0"), (108, "30"), (141, "Y"), (553, "u"), (554, "pw")), LIMITS)
    assert isinstance(request, LogonRequest)
    assert (request.sender_comp_id, request.heartbeat_seconds, request.reset_seq_num) == ("CLIENT1", 30, True)
    assert "pw" not in repr(request)


@pytest.mark.parametrize(("message", "reason"), [
    (logon(msg_type="D"), NOT_A_LOGON),
    (logon((108, "0")), "HeartBtInt (108) must be 1..300 seconds"),
    (logon((108, "86400")), "HeartBtInt (108) must be 1..300 seconds"),
    (logon((108, "30"), (554, "a"), (554, "b")), "Malformed Logon: tag 554 repeated"),
    (logon((108, "30"), sender="a\x7fb"), "Malformed Logon: SenderCompID (49) and TargetCompID (56) required"),
])
def test_parse_logon_refusals(message: bytes, reason: str) -> None:
    refusal = parse_logon(message, LIMITS)
    assert isinstance(refusal, Refusal) and refusal.reason == reason


SESSION = ClientSession("CLIENT1", "BROKER", "FIX.4.4", "client1", hash_password("right"), True)


def request(password: str | None = "right", target: str = "BROKER", begin: str = "FIX.4.4") -> LogonRequest:
    return LogonRequest(begin, "CLIENT1", target, 30, True, None, password)


@pytest.mark.parametrize(("req", "session", "reason", "counts"), [
    (request(), SESSION, None, False),
    (request("wrong"), SESSION, BAD_CREDENTIALS, True),
    (request(None), SESSION, PASSWORD_REQUIRED, True),
    (request(), None, BAD_CREDENTIALS, True),  # unknown CompID: same reason as a bad password
    (request(target="OTHER"), SESSION, WRONG_TARGET, True),
    (request(begin="FIX.4.2"), SESSION, WRONG_BEGIN_STRING, True),
    (request(), ClientSession("CLIENT1", "BROKER", "FIX.4.4", None, SESSION.password_hash, False), DISABLED, False),
])
def test_session_refusal(req: LogonRequest, session: ClientSession | None, reason: str | None, counts: bool) -> None:
    refusal = session_refusal(req, session, "BROKER", require_password=True)
    assert (refusal.reason if refusal else None) == reason
    if refusal is not None:
        assert refusal.credential_failure == counts and refusal.can_reply


def test_conformance_policy_needs_no_password_but_still_the_session() -> None:
    assert session_refusal(request(None), SESSION, "BROKER", require_password=False) is None
    refusal = session_refusal(request(None), None, "BROKER", require_password=False)
    assert refusal is not None and refusal.reason == BAD_CREDENTIALS


# --- caps --------------------------------------------------------------------------------------------
def test_connection_gate_caps_per_ip_and_in_total() -> None:
    gate = ConnectionGate(Limits(max_connections=3, max_connections_per_ip=2))
    assert gate.open("10.0.0.1") is None and gate.open("10.0.0.1") is None
    assert gate.open("10.0.0.1") == TOO_MANY_FROM_IP
    assert gate.open("10.0.0.2") is None
    assert gate.open("10.0.0.3") == TOO_MANY_CONNECTIONS
    gate.close("10.0.0.1")
    assert gate.open("10.0.0.3") is None
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.3"):
        gate.close(ip)
    assert gate.total == 0 and gate.per_ip == {}


def test_backoff_is_free_then_doubles_up_to_the_cap_and_clears() -> None:
    backoff = LogonBackoff(free=2, base=1.0, cap=8.0, forget=100.0)
    assert [backoff.failed("C", 0.0) for _ in range(2)] == [0.0, 0.0]
    assert [backoff.failed("C", 0.0) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.locked_for("C", 3.0) == 5.0
    assert backoff.locked_for("other", 3.0) == 0.0
    backoff.succeeded("C")
    assert backoff.locked_for("C", 3.0) == 0.0
    backoff.failed("D", 0.0)
    backoff.failed("D", 0.0)
    assert backoff.failed("D", 200.0) == 0.0  # forgotten after a quiet spell: free attempts again


def test_backoff_memory_is_bounded() -> None:
    backoff = LogonBackoff(free=0, base=1.0, cap=1.0, forget=100.0, max_keys=10)
    for n in range(100):
        backoff.failed(f"ip{n}", 0.0)
    assert len(backoff) == 10 and backoff.locked_for("ip99", 0.5) > 0 and backoff.locked_for("ip0", 0.5) == 0


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        Limits(max_connections=1, max_connections_per_ip=2)
    with pytest.raises(ValueError):
        Limits(heartbeat_min=0)


# --- routing -------------------------------------------------------------------------------------
def test_router_is_stable_and_honours_pins() -> None:
    assert single_shard("127.0.0.1", 9000).route("ANY") == Backend("127.0.0.1", 9000)
    shards = ShardRouter((Backend("h", 1), Backend("h", 2), Backend("h", 3)), pinned={"VIP": 2})
    assert shards.route("VIP") == Backend("h", 3)
    assert all(shards.route(f"C{n}") == shards.route(f"C{n}") for n in range(50))
    assert len({shards.shard_of(f"C{n}") for n in range(50)}) == 3
