"""Group commit on the order path (ADR 048): a lane takes what has queued up, at most its cap, per transaction;
the caps are settings. Pure asyncio, no database: the transaction itself is replaced by a recorder."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from brokerage.settings import Settings
from gateway.oms.fix_codec import NewOrderCommand
from gateway.oms.session_lanes import SessionLanes
from gateway.oms.venue import VenueReports


async def test_a_venue_report_lane_applies_its_backlog_in_batches_of_at_most_its_cap() -> None:
    venue = VenueReports(None, clients=None, limits=None, lanes=1, batch_max=5)  # type: ignore[arg-type]
    sizes: list[int] = []

    async def record(batch: list[object], failed: list[object], top_up: Callable[[], list[object]]) -> None:
        sizes.append(len(batch))

    venue._apply_until_done = record  # type: ignore[method-assign]
    for n in range(12):
        venue.accounts[f"O{n}"] = "ACC1"
    try:
        for n in range(12):  # all queued before the lane's worker first runs: a backlog
            await venue._dispatch(f"O{n}", object(), None)
        await asyncio.wait_for(venue.drain(), 5)
        assert sizes == [5, 5, 2]
        await venue._dispatch("O0", object(), None)  # no backlog: a batch of one, nothing waits to fill it
        await asyncio.wait_for(venue.drain(), 5)
        assert sizes[-1] == 1
    finally:
        await venue.stop()


async def test_reports_queued_while_a_batch_begins_join_it_up_to_the_cap_and_count_for_the_mark() -> None:
    venue = VenueReports(None, clients=None, limits=None, lanes=1, batch_max=3)  # type: ignore[arg-type]
    applied: list[list[object]] = []

    async def begin_then_apply(batch: list[tuple[str, object, object]], failed: list[object],
                               top_up: Callable[[], list[tuple[str, object]]]) -> None:
        if not applied:  # four reports reach the lane while the first batch's BEGIN is on the wire
            for n in range(1, 5):
                await venue._dispatch(f"O{n}", f"r{n}", n + 1)
        given = [item for _, item, _ in batch]
        applied.append(given + [item for _, item in top_up()])
        assert [item for _, item, _ in batch] == applied[-1]  # what joined is the lane's to mark done

    venue._apply_until_done = begin_then_apply  # type: ignore[method-assign]
    for n in range(5):
        venue.accounts[f"O{n}"] = "ACC1"
    try:
        await venue._dispatch("O0", "r0", 1)
        await asyncio.wait_for(venue.drain(), 5)
        assert applied == [["r0", "r1", "r2"], ["r3", "r4"]]  # the cap holds for the joined reports too
        assert venue.handled_mark == 5
    finally:
        await venue.stop()


async def test_a_session_lane_enters_queued_new_orders_in_batches_of_at_most_its_cap() -> None:
    sizes: list[int] = []

    async def new_orders(session_id: str, batch: list[tuple[NewOrderCommand, datetime]]) -> None:
        sizes.append(len(batch))

    lanes = SessionLanes(new_orders, lambda session_id, seq, start: None, batch_max=4)
    received = datetime(2026, 12, 3, tzinfo=UTC)
    for seq in range(1, 11):
        lanes.submit("S1", (object(), received), seq)
    await asyncio.wait_for(lanes.join(), 5)
    assert sizes == [4, 4, 2]


def test_the_caps_are_settings_with_defaults_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().order_batch_max, Settings().venue_report_batch_max) == (128, 64)
    assert SessionLanes(new_orders=None, handled=None).batch_max == 128  # type: ignore[arg-type]
    assert VenueReports(None, None, None).batch_max == 64  # type: ignore[arg-type]
    monkeypatch.setenv("BROKERAGE_VENUE_REPORT_BATCH_MAX", "8")
    monkeypatch.setenv("BROKERAGE_ORDER_BATCH_MAX", "16")
    assert (Settings().order_batch_max, Settings().venue_report_batch_max) == (16, 8)
    for out_of_range in ("0", "1025"):
        monkeypatch.setenv("BROKERAGE_VENUE_REPORT_BATCH_MAX", out_of_range)
        with pytest.raises(ValidationError):
            Settings()
