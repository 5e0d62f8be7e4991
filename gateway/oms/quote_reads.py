"""New-order batches' quote reads share Redis round trips (ADR 030).

Every new-order batch reads its symbols' quotes (one MGET) before its transaction. The client session lanes
run concurrently, so at moderate rates, where batches are small, several lanes ask at about the same time
and each MGET costs the gateway a full redis-py round trip for one or two orders. Here a read that arrives
while an MGET is under way waits for the NEXT one, which serves every read queued meanwhile: each answer
is still read after its request was made (never older than it is now), and concurrent requests cost one
round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from marketdata.quotes import Quote
from marketdata.redis_quotes import QuoteReader

__all__ = ["SharedQuoteReads"]

_Wait = tuple[list[str], "asyncio.Future[dict[str, Quote]]"]


class SharedQuoteReads:
    def __init__(self, reader: QuoteReader) -> None:
        self.reader = reader
        self._queued: list[_Wait] = []
        self._runner: asyncio.Task[None] | None = None
        self.round_trips = 0

    async def get_many(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """The quotes of ``symbols`` (absent: no quote), read by an MGET that starts after this call; the
        reader's exception if that MGET fails."""
        future: asyncio.Future[dict[str, Quote]] = asyncio.get_running_loop().create_future()
        self._queued.append((list(symbols), future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="oms-quote-reads")
        return await future

    async def _run(self) -> None:
        while self._queued:
            waiting, self._queued = self._queued, []
            self.round_trips += 1
            try:
                quotes = await self.reader.get_many(sorted({s for symbols, _ in waiting for s in symbols}))
            except asyncio.CancelledError:  # shutting down: so are the reads waiting on this one
                for _, future in [*waiting, *self._queued]:
                    future.cancel()
                self._queued = []
                raise
            except Exception as error:  # every read of this round trip gets the error
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(error)
                continue
            for symbols, future in waiting:
                if not future.done():  # its caller may have been cancelled meanwhile
                    future.set_result({s: quotes[s] for s in symbols if s in quotes})
