"""A new-order batch holds its accounts locked while it decides its orders: margin valuations are read from the
quote store once per set of holdings in the batch, and not again after a failed read (ADR 048)."""

from __future__ import annotations

import time
from decimal import Decimal

from brokerage.settings import Settings
from gateway.oms.context import RiskInputs
from gateway.oms.margin import QUOTE_STORE_DOWN, Valuation
from marketdata.quotes import Quote


class _CountingQuotes:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    async def get_many(self, symbols: list[str]) -> dict[str, Quote]:
        self.calls.append(symbols)
        if self.fail:
            raise TimeoutError("quote store stalled")
        now_us = time.time_ns() // 1000
        return {s: Quote(s, last=Decimal("10.5"), ingest_ts_us=now_us) for s in symbols}


async def test_one_read_per_set_of_holdings_in_a_batch() -> None:
    quotes = _CountingQuotes()
    inputs = RiskInputs(Settings(), quotes)  # type: ignore[arg-type]
    memo: dict[tuple[str, ...], Valuation] = {}
    first = await inputs.fresh_marks(["MSFT", "AAPL"], memo)
    again = await inputs.fresh_marks(["AAPL", "MSFT", "AAPL"], memo)  # same holdings, another order
    other = await inputs.fresh_marks(["IBM"], memo)
    assert quotes.calls == [["AAPL", "MSFT"], ["IBM"]]
    assert first is again and first.available and first.marks == {"AAPL": Decimal("10.5"), "MSFT": Decimal("10.5")}
    assert other.marks == {"IBM": Decimal("10.5")}
    await inputs.fresh_marks(["MSFT", "AAPL"])  # outside a batch: read every time
    assert len(quotes.calls) == 3


async def test_a_failed_read_is_not_repeated_within_the_batch() -> None:
    quotes = _CountingQuotes(fail=True)
    inputs = RiskInputs(Settings(), quotes)  # type: ignore[arg-type]
    memo: dict[tuple[str, ...], Valuation] = {}
    down = await inputs.fresh_marks(["AAPL"], memo)
    later = await inputs.fresh_marks(["IBM", "MSFT"], memo)
    nothing_held = await inputs.fresh_marks([], memo)
    assert len(quotes.calls) == 1
    assert down.problems == later.problems == (QUOTE_STORE_DOWN,)
    assert not later.available and nothing_held.available  # an account with no holdings needs no marks
