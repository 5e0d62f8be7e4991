"""The exchange link's inbound mark never passes a report that is not applied yet (pure asyncio, no database)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.oms.session_days import NO_SESSION_START
from gateway.oms.venue import VenueReports


class _SlowPool:
    """An order's account read from the database: one slow round trip (a cache miss after a restart)."""

    def __init__(self, accounts: dict[str, str]) -> None:
        self.accounts = accounts
        self.release = asyncio.Event()

    async def fetchval(self, query: str, *args: Any) -> str | None:
        await self.release.wait()
        return self.accounts.get(args[0])


async def test_a_report_waiting_for_its_account_holds_the_mark_and_an_unknown_order_frees_it() -> None:
    pool = _SlowPool({"O1": "ACC1"})
    venue = VenueReports(pool, clients=None, limits=None, lanes=1)  # type: ignore[arg-type]
    idle = asyncio.Event()
    venue._workers = [asyncio.create_task(idle.wait())]  # nothing applies: the report stays not applied
    try:
        venue.marks.seen(NO_SESSION_START, 41)
        waiting = asyncio.create_task(venue._dispatch("O1", object(), 42))
        unknown = asyncio.create_task(venue._dispatch("O9", object(), 43))
        await asyncio.sleep(0.01)
        assert venue.handled_mark == 41  # 42 is still being looked up: never passed
        pool.release.set()
        await asyncio.gather(waiting, unknown)
        assert venue.handled_mark == 41  # 42 queued on its lane; 43 (unknown order) is nothing to apply
        venue.marks.done(NO_SESSION_START, 42)  # the lane applied it
        assert venue.handled_mark == 43
    finally:
        for worker in venue._workers:
            worker.cancel()
