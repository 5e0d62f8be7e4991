"""Concurrent new-order batches share quote round trips, each answer read after its request (ADR 030)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import cast

import pytest

from gateway.oms.quote_reads import SharedQuoteReads
from marketdata.quotes import Quote
from marketdata.redis_quotes import QuoteReader


class FakeReader:
    """Counts MGETs; each takes until ``release`` is set; the price is the MGET's number (its freshness)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def get_many(self, symbols: Sequence[str]) -> dict[str, Quote]:
        self.calls.append(list(symbols))
        number = len(self.calls)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {s: cast(Quote, (s, Decimal(number))) for s in symbols if s != "NOQUOTE"}


def _reads(reader: FakeReader) -> SharedQuoteReads:
    return SharedQuoteReads(cast(QuoteReader, reader))


async def test_reads_queued_during_a_round_trip_share_the_next_one() -> None:
    reader = FakeReader()
    shared = _reads(reader)
    first = asyncio.create_task(shared.get_many(["AAPL"]))
    await asyncio.sleep(0)  # the first MGET is under way
    later = [asyncio.create_task(shared.get_many(symbols)) for symbols in (["MSFT"], ["AAPL", "NOQUOTE"], ["PEP"])]
    await asyncio.sleep(0)
    assert reader.calls == [["AAPL"]]  # the later ones wait for the next round trip, not this one
    reader.release.set()
    assert await first == {"AAPL": ("AAPL", Decimal(1))}
    answers = await asyncio.gather(*later)
    assert reader.calls == [["AAPL"], ["AAPL", "MSFT", "NOQUOTE", "PEP"]]  # one MGET for the three
    assert answers == [{"MSFT": ("MSFT", Decimal(2))}, {"AAPL": ("AAPL", Decimal(2))}, {"PEP": ("PEP", Decimal(2))}]
    assert shared.round_trips == 2


async def test_a_failed_round_trip_fails_its_reads_only() -> None:
    reader = FakeReader()
    shared = _reads(reader)
    reader.fail = ConnectionError("redis down")
    reader.release.set()
    with pytest.raises(ConnectionError):
        await shared.get_many(["AAPL"])
    reader.fail = None
    assert await shared.get_many(["AAPL"]) == {"AAPL": ("AAPL", Decimal(2))}


async def test_a_cancelled_reader_does_not_stop_the_others() -> None:
    reader = FakeReader()
    shared = _reads(reader)
    gone = asyncio.create_task(shared.get_many(["AAPL"]))
    kept = asyncio.create_task(shared.get_many(["MSFT"]))
    await asyncio.sleep(0)
    gone.cancel()
    reader.release.set()
    assert await kept == {"MSFT": ("MSFT", Decimal(1))}
    with pytest.raises(asyncio.CancelledError):
        await gone
