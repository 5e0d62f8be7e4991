"""The reconciliation shell against the real ledger: a fill the venue repeats in answer to a status request
(PossResend, its original venue ExecID) that the ledger never booked is booked once, audited as
``order.reconciled``; a second reconciliation with the same answer changes nothing. (The venue here is a
stand-in answering the 35=H, so the fill is one the real exchange never had: the order is then canceled at
the real exchange and the ledger invariants are checked.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import ROUND_DOWN, Decimal

import asyncpg
import quickfix as fix
import quickfix44 as fix44

from brokerage.settings import Settings
from gateway.oms.config import risk_limits
from gateway.oms.links import ClientLink, VenueLink
from gateway.oms.reconciliation import BookFill, Reconciler
from gateway.oms.venue import VenueReports
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import check_invariants, until_status
from tests.integration.venue_recovery.conftest import VenueEnv, reconciled_events

SID = fix.SessionID("FIX.4.4", "GATEWAY", "EXCHANGE")


def report(order_id: str, exec_type: str, status: str, cum: Decimal, *, exec_id: str, last: Decimal = Decimal(0),
           px: Decimal = Decimal(0), resend: bool = False) -> fix.Message:
    m = fix44.ExecutionReport()
    for tag, value in ((37, "V1"), (11, order_id), (17, exec_id), (150, exec_type), (39, status), (55, "F"),
                       (54, "1"), (38, "100"), (32, last), (31, px), (151, 100 - cum), (14, cum), (6, px)):
        m.setField(tag, str(value))
    if resend:
        m.getHeader().setField(97, "Y")
    return m


async def test_a_repeated_fill_the_ledger_missed_is_booked_once_and_audited(venue_env: VenueEnv,
                                                                            pool: asyncpg.Pool,
                                                                            quotes: QuoteReader) -> None:
    mark = (await quotes.get_many(["F"]))["F"].mark
    assert mark is not None
    price = (mark * Decimal("0.95")).quantize(Decimal("0.01"), ROUND_DOWN)
    client = await venue_env.client("CLIENT3")
    try:
        cl = await client.new_order_single("F", "buy", 100, "limit", price=price, tif="gtc")
        await until_status(client, cl, {"0"})
        order_id = await pool.fetchval("SELECT order_id FROM orders WHERE session_id = 'CLIENT3' "
                                       "AND cl_ord_id = $1", cl)
        reports_in = VenueReports(pool, ClientLink(lambda sid, m: True, "BROKER"), risk_limits(Settings()),
                                  "venue-test")
        asked = asyncio.Event()

        def send(message: fix.Message) -> bool:
            if message.getField(11) == order_id:
                asked.set()
            return True

        reconciler = Reconciler(pool, VenueLink(send), reports_in, wait_seconds=2.0)
        fill = report(order_id, "F", "1", Decimal(10), exec_id="STANDIN-1", last=Decimal(10), px=price, resend=True)
        status = report(order_id, "I", "1", Decimal(10), exec_id="STANDIN-S")

        async def venue_answers() -> None:
            await asked.wait()
            await reconciler.on_execution_report(SID, fill)
            await reconciler.on_execution_report(SID, status)

        for attempt in range(2):
            asked.clear()
            answering = asyncio.create_task(venue_answers())
            result = await reconciler.run(f"test {attempt}")
            await answering
            booked = [r for r in result.repairs if isinstance(r, BookFill) and r.order_id == order_id]
            assert len(booked) == (1 if attempt == 0 else 0)
        assert await pool.fetchval("SELECT count(*) FROM executions WHERE venue_exec_id = 'STANDIN-1'") == 1
        assert await pool.fetchval("SELECT cum_qty FROM orders WHERE order_id = $1", order_id) == 10
        events = [e for e in await reconciled_events(pool) if e.get("order_id") == order_id]
        assert len(events) == 1 and "STANDIN-1" in json.dumps(events[0]), events
        await reports_in.stop()
        # the real exchange cancels what is left; the ledger stays consistent
        await until_status(client, await client.cancel(cl), {"4"})
        await asyncio.sleep(0.5)
        assert await pool.fetchval("SELECT reserved_cash FROM orders WHERE order_id = $1", order_id) == 0
        await check_invariants(pool)
    finally:
        with contextlib.suppress(Exception):
            await client.logout()
