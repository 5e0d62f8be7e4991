"""Group commit on the order path (ADR 048): a lane takes what has queued up, at most its cap, per transaction;
the caps are settings. Pure asyncio, no database: the transaction itself is replaced by a recorder."""

from __future__ import annotations

import asyncio
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

    async def record(items: list[tuple[str, object]], failed: list[object]) -> None:
        sizes.append(len(items))

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
