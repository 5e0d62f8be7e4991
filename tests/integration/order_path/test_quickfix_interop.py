"""Interop: the QuickFIX engine (C++) as an independent client logs on, places an order and gets its fills."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import asyncpg
import quickfix as fix

from fixsession.application import SafeApplication
from fixsession.engine import Engine
from fixsession.settings import Endpoint, SessionSpec
from ledger.repository import LedgerRepository
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import PASSWORDS, OrderPathEnv

CLIENT = "CLIENT4"


class QuickFixClient(SafeApplication):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__("interop-client", loop)
        self.loop = loop
        self.logged_on = asyncio.Event()
        self.reports: asyncio.Queue[dict[int, str]] = asyncio.Queue()

    def on_admin_out(self, message: fix.Message, session_id: fix.SessionID) -> None:
        if message.getHeader().getField(35) == "A":
            message.setField(554, PASSWORDS[CLIENT])

    def on_logon(self, session_id: fix.SessionID) -> None:
        self.loop.call_soon_threadsafe(self.logged_on.set)

    async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
        fields = {}
        for tag in (11, 14, 17, 31, 32, 37, 39, 150, 151, 6, 58):
            if message.isSetField(tag):
                fields[tag] = message.getField(tag)
        fields[35] = message.getHeader().getField(35)
        await self.reports.put(fields)


async def test_quickfix_client_places_an_order_and_gets_its_fills(order_path_env: OrderPathEnv,
                                                                   quotes: QuoteReader) -> None:
    # the package's earlier tests trade this account at random: fund the order here, so it is never refused for
    # buying power whatever they left (seen once: 20 AAPL needed 6,266.80 with 4,964.13 available)
    pool = await asyncpg.create_pool(order_path_env.database_url, min_size=1, max_size=1)
    try:
        await LedgerRepository(pool).deposit(f"ACC-{CLIENT}", Decimal(50_000), idempotency_key="interop-test-funds",
                                             actor="test")
    finally:
        await pool.close()
    loop = asyncio.get_running_loop()
    app = QuickFixClient(loop)
    endpoint = Endpoint(name="interop", role="initiator", data_dir=order_path_env.root / "interop",
                        port=order_path_env.fix_port, reconnect_seconds=1, heartbeat_seconds=30,
                        reset_on_logon=True)  # the session's numbers are the fixclient's until now
    spec = SessionSpec(sender_comp_id=CLIENT, target_comp_id="BROKER")
    engine = Engine(endpoint, [spec], app)
    engine.start()
    try:
        await asyncio.wait_for(app.logged_on.wait(), 20)
        quote = await quotes.get("AAPL")
        assert quote is not None and quote.ask is not None
        order = fix.Message()
        order.getHeader().setField(fix.MsgType("D"))
        for tag, value in ((11, "QF-1"), (21, "1"), (55, "AAPL"), (54, "1"), (60, "20261121-12:00:00.000"),
                           (38, "20"), (40, "2"), (44, str((quote.ask * Decimal("1.01")).quantize(Decimal("0.01")))),
                           (59, "0")):
            order.setField(tag, value)
        assert app.send(fix.SessionID("FIX.4.4", CLIENT, "BROKER"), order)
        seen: list[dict[int, str]] = []
        while not seen or seen[-1].get(39) not in ("2", "8"):
            seen.append(await asyncio.wait_for(app.reports.get(), 15))
        assert [r[150] for r in seen][:2] == ["A", "0"]
        assert seen[-1][39] == "2" and seen[-1][14] == "20" and seen[-1][151] == "0"
        fills = [r for r in seen if r[150] == "F"]
        assert fills and sum(Decimal(r[32]) for r in fills) == 20
        assert len({r[17] for r in seen}) == len(seen)  # our ExecIDs, unique
        assert all(r[37] == seen[0][37] for r in seen)  # our OrderID throughout
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(engine.stop)
