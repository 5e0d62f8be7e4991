"""The exchange link's inbound mark never passes a report that is not applied yet (pure asyncio, no database)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.oms import metrics as oms_metrics
from gateway.oms.session_days import NO_SESSION_START
from gateway.oms.session_lanes import SessionLanes
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


async def test_a_lane_stopped_mid_transaction_leaves_the_mark_before_its_batch() -> None:
    venue = VenueReports(None, clients=None, limits=None, lanes=1)  # type: ignore[arg-type]
    began = asyncio.Event()

    async def commit_never_answers(batch: list[object], failed: list[object], top_up: object) -> None:
        began.set()
        await asyncio.Event().wait()  # COMMIT on the wire when the gateway stops: applied or not, unknown

    venue._apply_until_done = commit_never_answers  # type: ignore[method-assign]
    venue.accounts["O1"] = "ACC1"
    venue.marks.seen(NO_SESSION_START, 41)
    await venue._dispatch("O1", object(), 42)
    await asyncio.wait_for(began.wait(), 5)
    await venue.stop()
    assert venue.handled_mark == 41  # 42 comes again after a restart (a no-op if it was applied)
    await asyncio.wait_for(venue.drain(), 5)  # and the lane's queue does not count it as still waiting


async def test_a_session_lane_stopped_mid_batch_does_not_mark_it_handled() -> None:
    handled: list[int] = []
    began = asyncio.Event()

    async def new_orders(session_id: str, batch: list[object]) -> None:
        began.set()
        await asyncio.Event().wait()

    lanes = SessionLanes(new_orders, lambda session_id, seq, start: handled.append(seq))  # type: ignore[arg-type]
    lanes.submit("S1", (object(), None), 7)
    await asyncio.wait_for(began.wait(), 5)
    await lanes.stop()
    assert handled == []  # the client's message 7 is asked for again after a restart
    await asyncio.wait_for(lanes.join(), 5)


async def test_a_session_lane_marks_a_batch_handled_once_it_is_answered() -> None:
    handled: list[int] = []

    async def new_orders(session_id: str, batch: list[object]) -> None:
        if len(handled) == 0 and len(batch) == 1:
            raise RuntimeError("answered by the batch's own error path")

    lanes = SessionLanes(new_orders, lambda session_id, seq, start: handled.append(seq))  # type: ignore[arg-type]
    lanes.submit("S1", (object(), None), 7)
    await asyncio.wait_for(lanes.join(), 5)
    lanes.submit("S1", (object(), None), 8)
    await asyncio.wait_for(lanes.join(), 5)
    assert handled == [7, 8]


async def test_a_lane_retries_a_batch_a_fault_cut_short_and_later_reports_wait_behind_it() -> None:
    venue = VenueReports(None, clients=None, limits=None, lanes=1)  # type: ignore[arg-type]
    applied: list[object] = []
    marks: list[int] = []

    async def fault_once(items: list[tuple[str, object]], failed: list[object], top_up: object) -> None:
        if not applied:
            applied.append("fault")
            marks.append(venue.handled_mark)
            await venue._dispatch("O1", "r43", 43)  # the order's next report arrives meanwhile
            raise RuntimeError("a bug after the commit")
        applied.extend(item for _, item in items)

    venue.apply_batch = fault_once  # type: ignore[method-assign,assignment]
    venue.accounts["O1"] = "ACC1"
    venue.marks.seen(NO_SESSION_START, 41)
    faults = oms_metrics.VENUE_LANE_FAULTS._value.get()
    try:
        await venue._dispatch("O1", "r42", 42)
        await asyncio.wait_for(venue.drain(), 5)
        assert applied == ["fault", "r42", "r43"]  # retried, and the later report stayed behind it
        assert marks == [41]  # never past 42 while it was not applied
        assert venue.handled_mark == 43
        assert oms_metrics.VENUE_LANE_FAULTS._value.get() == faults + 1  # alert VenueReportLaneFault
    finally:
        await venue.stop()
