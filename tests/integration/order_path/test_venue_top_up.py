"""A report that queues on a lane while that lane's transaction is beginning joins the transaction (ADR 055):
an IOC order's New and Fill, one bridge hand-off apart, commit together. Exactly-once is unchanged: each
report is still all or nothing, and the inbound mark passes a joined report only once it is applied."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg

from gateway.oms.risk_config import RiskLimits
from gateway.oms.venue import VenueReports
from tests.integration.order_path.venue_kit import (
    COLLAR_OVERSHOOT,
    RecordingClients,
    cash_account,
    fill,
    market_buy,
    venue_new,
)

D = Decimal


class _ArrivingPool:
    """The real pool; the first time a lane takes a connection, ``arrive`` runs (a report reaching the lane
    while its transaction begins: the dispatch runs before BEGIN's answer is read)."""

    def __init__(self, pool: asyncpg.Pool, arrive: Any) -> None:
        self.pool = pool
        self.arrive = arrive

    def acquire(self) -> Any:
        arrive, self.arrive = self.arrive, None
        if arrive is not None:
            asyncio.get_running_loop().create_task(arrive())
        return self.pool.acquire()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


async def _run(pool: asyncpg.Pool, last_px: Decimal) -> tuple[VenueReports, RecordingClients]:
    clients = RecordingClients()
    venue: VenueReports

    async def fill_arrives() -> None:
        await venue._dispatch("O1", fill("O1", "X-fill", last_px), 7)

    venue = VenueReports(_ArrivingPool(pool, fill_arrives), clients, RiskLimits(), lanes=1)  # type: ignore[arg-type]
    venue.accounts["O1"] = "A1"
    try:
        await venue._dispatch("O1", venue_new("O1"), 6)  # the lane takes the New alone; the Fill comes during BEGIN
        await asyncio.sleep(0.05)
        await asyncio.wait_for(venue.drain(), 10)
    finally:
        await venue.stop()
    return venue, clients


async def test_a_fill_arriving_while_the_new_begins_commits_with_it(db_pool: asyncpg.Pool) -> None:
    await cash_account(db_pool, D(5000))
    await market_buy(db_pool, "O1")
    venue, clients = await _run(db_pool, D(100))
    rows = await db_pool.fetch("SELECT exec_type, xmin::text AS tx FROM executions WHERE order_id = 'O1' ORDER BY seq")
    assert [r["exec_type"] for r in rows] == ["new", "trade"]
    assert len({r["tx"] for r in rows}) == 1  # one transaction for both
    assert [dict(args[2])[150] for args in clients.sent] == ["0", "F"]  # the client hears them in order
    assert venue.handled_mark == 7
    assert (await db_pool.fetchrow("SELECT status, cum_qty FROM orders WHERE order_id = 'O1'"))["status"] == "filled"
    cash = await db_pool.fetchrow("SELECT amount, blocked FROM cash_balances WHERE account_id = 'A1'")
    assert (cash["amount"], cash["blocked"]) == (D(4000), D(0))  # 10 × 100 paid; the block released


async def test_a_joined_fill_the_ledger_refuses_is_pinned_and_the_new_still_applies(db_pool: asyncpg.Pool) -> None:
    await cash_account(db_pool, D(1010), blocked=D(0))
    await market_buy(db_pool, "O1")  # all the cash blocked at the collar; a fill at 110 cannot be paid
    venue, clients = await _run(db_pool, COLLAR_OVERSHOOT)
    assert [dict(args[2])[150] for args in clients.sent] == ["0"]
    assert venue.handled_mark == 6  # never past the fill that was not booked
    assert await db_pool.fetchval("SELECT count(*) FROM executions WHERE venue_exec_id = 'X-fill'") == 0
    assert await db_pool.fetchval("SELECT count(*) FROM unbooked_fills WHERE venue_exec_id = 'X-fill'") == 1
    assert await db_pool.fetchval("SELECT status FROM orders WHERE order_id = 'O1'") == "new"
