"""Found by the fuzzer: a logged-on client's ResendRequest whose BeginSeqNo does not fit a 32-bit int
(7=2147483648) froze the whole gateway for tens of seconds. QuickFIX 1.15.1 reads it without an overflow
check (-2147483648), then walks its FileStore one sequence number at a time over 2^31 numbers holding the
session's locks; the event loop waits on the same lock when it reads sequence numbers, so every session and
the front door stall with it. ``SafeApplication`` now makes such a value unreadable before the engine serves
it: the client gets a session Reject (373=6) at once, and the other sessions never notice."""

from __future__ import annotations

import pytest
from gateway_process import PASSWORDS, GatewayProcess
from gateway_wire import WireClient, printable, value

pytestmark = pytest.mark.integration


def logged_on(gateway: GatewayProcess, sender: str) -> WireClient:
    client = WireClient(gateway.port, sender)
    client.logon(PASSWORDS[sender])
    client.expect("A")
    return client


@pytest.mark.parametrize(("begin", "end", "tag"), [
    ("2147483648", "0", 7),  # wraps to -2^31: 2^31 store lookups
    ("1" * 40, "0", 7),  # wraps to some other value
    ("1", "99999999999", 16),
])
def test_resend_request_beyond_32_bits_is_rejected_and_stalls_nothing(limited_gateway: GatewayProcess, begin: str,
                                                                       end: str, tag: int) -> None:
    gateway = limited_gateway  # its resend cap (3) comes after this check; its admin rate admits these few
    attacker = logged_on(gateway, "CLIENT1")
    bystander = logged_on(gateway, "CLIENT2")
    try:
        attacker.send("2", [(7, begin), (16, end)])
        bystander.send("1", [(112, "still-there")])  # the other session is answered at once, not after the walk
        heartbeat = bystander.expect("0", timeout=3)
        assert value(heartbeat, 112) == "still-there"

        reject = attacker.expect("3", timeout=3)
        assert value(reject, 371) == str(tag), printable(reject)
        assert value(reject, 373) == "6", printable(reject)  # incorrect data format for value
        assert value(reject, 45) == "2", printable(reject)  # the ResendRequest's MsgSeqNum
        # nothing was resent, and the session's sequence numbers are where they should be
        attacker.send("1", [(112, "after")])
        answer = attacker.expect("0", timeout=3)
        assert value(answer, 112) == "after", printable(answer)
    finally:
        attacker.close()
        bystander.close()
    assert gateway.alive()
    assert "fix.resend_range_refused" in gateway.log()
    assert "fix.callback_failed" not in gateway.log()
