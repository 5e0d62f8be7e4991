"""The project's own FIX client (fixclient) against the real gateway: logon, reject, refused logon."""

from __future__ import annotations

import pytest
from gateway_process import PASSWORDS, GatewayProcess

from fixclient.client import FixClient, LogonRejected

pytestmark = pytest.mark.integration


async def test_fixclient_logs_on_gets_a_business_reject_and_logs_out(gateway: GatewayProcess) -> None:
    client = await FixClient.connect("127.0.0.1", gateway.port, "CLIENT1", "BROKER",
                                     username="client1", password=PASSWORDS["CLIENT1"])
    await client.logon()
    await client.new_order_single("AAPL", "1", 10, ord_type="2", price="100.25")
    reject = await client.wait_for(lambda message: message.msg_type == "j", timeout=10)
    assert (reject.fields[372], reject.fields[380]) == ("D", "3")
    await client.logout()


async def test_fixclient_sees_the_refusal(gateway: GatewayProcess) -> None:
    client = await FixClient.connect("127.0.0.1", gateway.port, "CLIENT1", "BROKER", password="nope")
    with pytest.raises(LogonRejected, match="Invalid username or password"):
        await client.logon()
    await client.close()
