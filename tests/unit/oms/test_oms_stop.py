"""Stopping the gateway while an exchange-report lane cannot finish its batch: the stop is bounded, and the
batch it gives up on stays before the inbound mark (its reports come again after the restart)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.oms import bootstrap
from gateway.oms.session_days import NO_SESSION_START
from gateway.oms.venue import VenueReports


async def test_a_stop_gives_up_on_a_stuck_lane_within_its_bound_and_keeps_the_mark(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "DRAIN_SECONDS", 0.3)
    venue = VenueReports(None, clients=None, limits=None, lanes=1)  # type: ignore[arg-type]
    attempts = 0

    async def always_faults(items: list[tuple[str, object]], failed: list[object], top_up: object) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("a fault that persists")

    venue.apply_batch = always_faults  # type: ignore[method-assign,assignment]
    venue.accounts["O1"] = "ACC1"
    venue.marks.seen(NO_SESSION_START, 41)
    await venue._dispatch("O1", "r42", 42)
    began = asyncio.get_running_loop().time()
    await bootstrap._within(venue.drain(), "exchange reports")
    await venue.stop()
    assert asyncio.get_running_loop().time() - began < 5  # bounded, not waiting for the fault to go away
    assert attempts >= 1
    assert venue.handled_mark == 41  # 42 was never applied: asked for again after the restart
