"""The gateway's initiator toward the exchange: retries until the venue is up, resumes its sequence
numbers after a gateway restart, and survives messages it has no handler for yet."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import quickfix as fix
from gateway_process import GatewayProcess

from brokerage.services import free_port
from fixsession.application import SafeApplication
from fixsession.engine import Engine
from fixsession.messages import msg_seq_num, msg_type
from fixsession.settings import Endpoint, SessionSpec

pytestmark = pytest.mark.integration


class Venue(SafeApplication):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__("venue", loop)
        self.logons = asyncio.Queue[int | None]()

    def on_admin_in(self, message: fix.Message, session_id: fix.SessionID) -> None:
        if msg_type(message) == "A":  # the MsgSeqNum of each Logon the gateway sends us
            self.bridge.loop.call_soon_threadsafe(  # type: ignore[union-attr]
                self.logons.put_nowait, msg_seq_num(message))


def execution_report() -> fix.Message:
    report = fix.Message()
    report.getHeader().setField(fix.MsgType("8"))
    for field in (fix.OrderID("V1"), fix.ExecID("E1"), fix.ExecType("0"), fix.OrdStatus("0"), fix.Symbol("AAPL"),
                  fix.Side("1"), fix.LeavesQty(100), fix.CumQty(0), fix.AvgPx(0)):
        report.setField(field)
    return report


async def wait_logged_on(engine: Engine, session_id: fix.SessionID) -> None:
    for _ in range(100):
        if engine.is_logged_on(session_id):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the link did not log on")


async def test_exchange_link_connects_late_and_resumes_after_restart(seeded_db: str, tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    exchange_port = free_port()
    exchange_id, gateway_id = f"EX{uuid.uuid4().hex[:6]}", f"GW{uuid.uuid4().hex[:6]}"
    gateway = GatewayProcess(seeded_db, tmp_path / "gateway", exchange=(exchange_port, exchange_id, gateway_id))
    gateway.data_dir.mkdir()
    gateway.start()  # the exchange is not up yet: the initiator keeps retrying every second
    await asyncio.sleep(1.5)
    venue = Venue(loop)
    engine = Engine(Endpoint("venue", "acceptor", tmp_path / "venue", exchange_port),
                    [SessionSpec(exchange_id, gateway_id)], venue)
    engine.start()
    to_gateway = fix.SessionID("FIX.4.4", exchange_id, gateway_id)
    try:
        # Attempts while the venue was down may already have used sequence numbers: the venue then
        # asks for a resend and the gateway gap-fills, as FIX requires.
        first = await asyncio.wait_for(venue.logons.get(), 20)
        assert first is not None and first >= 1
        await wait_logged_on(engine, to_gateway)
        assert venue.send(to_gateway, execution_report())  # no order path yet: logged, never a crash
        await asyncio.sleep(0.5)
        assert gateway.stop() == 0, gateway.log()  # logs out: the gateway's Logout is its 34=2

        gateway.start()
        second = await asyncio.wait_for(venue.logons.get(), 20)
        assert second is not None and second >= first + 2, "resumed after its Logout, no reset"
        await wait_logged_on(engine, to_gateway)
        assert gateway.alive()
    finally:
        gateway.stop()
        await asyncio.to_thread(engine.stop)
    assert "fix.exchange_message_unhandled" in gateway.log() or any(
        "exchange_message_unhandled" in path.read_text() for path in (tmp_path / "gateway").glob("gateway-*.log"))
