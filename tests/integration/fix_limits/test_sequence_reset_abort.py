"""Found by the fuzzer: a SequenceReset (35=4, not a gap fill) lowering NewSeqNo, read from the same socket
buffer right after the engine dropped the session (a refused Logon, a Logout, a MsgSeqNum too low), makes
QuickFIX 1.15.1 build a session Reject while not logged on, which throws std::runtime_error outside any
handler ("Tried to send a reject while not logged on"): the process aborts. Two frames in one packet,
no password needed. ``SafeApplication`` now removes NewSeqNo from a SequenceReset that arrives while the
session is not logged on (it sees it in ``fromAdmin``, before QuickFIX acts on it)."""

from __future__ import annotations

import pytest
from gateway_process import GatewayProcess
from gateway_wire import WireClient

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("dropping", ["refused_logon", "too_low", "logout"])
def test_sequence_reset_after_the_session_dropped_does_not_abort_the_gateway(
        limited_gateway: GatewayProcess, dropping: str) -> None:
    client = WireClient(limited_gateway.port, "CLIENT1")
    client.logon("s3cret-one")
    client.expect("A")
    client.send("1", [(112, "a")])
    client.expect("0")
    if dropping == "refused_logon":
        client.send("5")
        client.expect("5")
        client.close()  # the gateway now expects MsgSeqNum 4 from CLIENT1
        client = WireClient(limited_gateway.port, "CLIENT1", next_seq=4)
        first = client.encode("A", [(98, "0"), (108, "30"), (554, "guess")])
    elif dropping == "too_low":
        first = client.encode("1", [(112, "old")], seq=1)
    else:
        first = client.encode("5", [])
    try:  # the frame that makes the engine drop the session and, in the same packet, a SequenceReset
        client.send_bytes(first + client.encode("4", [(36, "1")]))
        assert client.wait_closed(10)
    finally:
        client.close()
    assert limited_gateway.alive(), limited_gateway.log()[-3000:]

    control = WireClient(limited_gateway.port, "CLIENT1", next_seq=20)
    try:
        control.logon("s3cret-one")
        assert control.receive(10) is not None  # a Logon (and a ResendRequest): served again
    finally:
        control.close()
