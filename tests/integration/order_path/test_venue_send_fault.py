"""A client report that cannot go out after its batch committed holds back neither the batch's other reports nor
the inbound mark (the unsent one is committed: ``ClientLink.send_overdue`` sends it later), and does not count
as a lane fault."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg

from gateway.oms import metrics as oms_metrics
from gateway.oms.risk_config import RiskLimits
from gateway.oms.venue import VenueReports
from tests.integration.order_path.venue_kit import RecordingClients, cash_account, fill, market_buy, venue_new

D = Decimal


class _FirstSendFails(RecordingClients):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def send(self, *args: object) -> bool:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("the client session went away mid-send")
        return super().send(*args)


async def test_a_failing_send_after_the_commit_does_not_hold_back_the_batch(db_pool: asyncpg.Pool) -> None:
    await cash_account(db_pool, D(5000))
    await market_buy(db_pool, "O1")
    clients = _FirstSendFails()
    venue = VenueReports(db_pool, clients, RiskLimits(), lanes=1)  # type: ignore[arg-type]
    venue.accounts["O1"] = "A1"
    faults = oms_metrics.VENUE_LANE_FAULTS._value.get()
    try:
        await venue._dispatch("O1", venue_new("O1"), 6)  # both queued before the lane runs: one batch
        await venue._dispatch("O1", fill("O1", "X-fill", D(100)), 7)
        await asyncio.wait_for(venue.drain(), 10)
    finally:
        await venue.stop()
    assert clients.calls == 2
    assert [dict(args[2])[150] for args in clients.sent] == ["F"]  # the New's send raised; the Fill still went
    assert venue.handled_mark == 7
    assert await db_pool.fetchval("SELECT status FROM orders WHERE order_id = 'O1'") == "filled"
    assert await db_pool.fetchval("SELECT count(*) FROM executions WHERE order_id = 'O1'") == 2
    assert oms_metrics.VENUE_LANE_FAULTS._value.get() == faults
