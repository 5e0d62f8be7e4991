"""Market-wide circuit breaker in the gateway: watches the index (a configured symbol's quote, or an
equal-weight index of the traded symbols' quotes) and sets or clears the ``halt`` trading control, which
the order transaction reads (new orders refused with 103=2 while halted). Halts and resumptions are
``risk.halt`` audit events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog

from audit.events import AuditEvent
from audit.outbox import append_event
from gateway.oms.circuit_breaker import (
    BreakerState,
    TradingHalted,
    TradingResumed,
    index_from_quote,
    index_from_quotes,
    on_index,
    on_time,
    start_session,
)
from marketdata.redis_quotes import QuoteReader

log = structlog.get_logger(__name__)

__all__ = ["HaltMonitor", "record_halt"]


async def record_halt(pool: asyncpg.Pool, engaged: bool, reason: str, level: int | None) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE trading_controls SET engaged = $1, reason = $2, updated_at = now() "
                           "WHERE name = 'halt'", engaged, reason)
        await append_event(conn, AuditEvent("risk.halt", actor="system:circuit_breaker",
                                            status="halted" if engaged else "resumed", reason=reason,
                                            extra={"level": level}))


class HaltMonitor:
    def __init__(self, pool: asyncpg.Pool, quotes: QuoteReader, symbols: Sequence[str],
                 index_symbol: str | None = None, interval: float = 1.0) -> None:
        self.pool = pool
        self.quotes = quotes
        self.symbols = list(symbols)
        self.index_symbol = index_symbol
        self.interval = interval
        self.state: BreakerState | None = None

    async def check(self, at: datetime | None = None) -> list[TradingHalted | TradingResumed]:
        at = at or datetime.now(UTC)
        if self.index_symbol:
            quote = await self.quotes.get(self.index_symbol)
            reading = index_from_quote(quote) if quote is not None else None
        else:
            reading = index_from_quotes((await self.quotes.get_many(self.symbols)).values())
        if self.state is None:
            if reading is None:
                return []
            # 24-hour trading has no close: a timed halt is always possible
            self.state = start_session(reading.prev_close, at + timedelta(days=1))
        if reading is None:
            self.state, events = on_time(self.state, at)
        else:
            self.state, events = on_index(self.state, at, reading.level)
        for change in events:
            if isinstance(change, TradingHalted):
                log.warning("oms.trading_halted", level=change.level, text=change.text)
                await record_halt(self.pool, True, change.text, change.level)
            else:
                log.info("oms.trading_resumed", level=change.level)
                await record_halt(self.pool, False, f"trading resumed after level {change.level} halt",
                                  change.level)
        return list(events)
