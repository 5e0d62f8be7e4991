"""The circuit breaker's shell on a real PostgreSQL, with the time and the index injected: halts persisted
with level, reason, who and window; 15:25 ET applied; automatic resume; a restarted monitor (a new
instance) carries on from the database; the daily reset; the operator's halt and resume."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg

from gateway.oms.circuit_breaker import ET, BreakerRules, TradingHalted, with_halt_window
from gateway.oms.halts import HaltMonitor, active_halts, set_operator_halt
from marketdata.quotes import Quote

D = Decimal
DAY = date(2026, 11, 20)


def et(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ET).astimezone(UTC)


class FakeQuotes:
    """Every symbol ``level`` % of its previous close (100)."""

    def __init__(self) -> None:
        self.level = D(100)

    async def get_many(self, symbols: list[str]) -> dict[str, Quote]:
        return {s: Quote(s, last=self.level, prev_close=D(100)) for s in symbols}

    async def get(self, symbol: str) -> Quote | None:
        return Quote(symbol, last=self.level, prev_close=D(100))


def monitor(pool: asyncpg.Pool, quotes: FakeQuotes, window: timedelta = timedelta(minutes=15)) -> HaltMonitor:
    return HaltMonitor(pool, quotes, ["AAPL", "MSFT"], rules=with_halt_window(BreakerRules(), window))  # type: ignore[arg-type]


async def flag(pool: asyncpg.Pool) -> tuple[bool, str]:
    row = await pool.fetchrow("SELECT engaged, reason FROM trading_controls WHERE name = 'halt'")
    assert row is not None
    return row["engaged"], row["reason"]


async def test_level_1_persists_survives_a_restart_and_resumes_after_its_window(db_pool: asyncpg.Pool) -> None:
    quotes = FakeQuotes()
    await monitor(db_pool, quotes).check(et(10))
    quotes.level = D(92)
    events = await monitor(db_pool, quotes).check(et(11))
    assert [type(e) for e in events] == [TradingHalted]
    (halt,) = await active_halts(db_pool)
    assert (halt.kind, halt.level, halt.actor) == ("circuit_breaker", 1, "system:circuit_breaker")
    assert halt.started_at == et(11) and halt.ends_at == et(11, 15)
    engaged, reason = await flag(db_pool)
    assert engaged and reason.startswith("market-wide circuit breaker level 1")
    # a new monitor (the gateway restarted): still halted, level 1 not fired twice
    restarted = monitor(db_pool, quotes)
    assert await restarted.check(et(11, 5)) == [] and (await flag(db_pool))[0]
    quotes.level = D(93)
    await restarted.check(et(11, 15))
    assert await active_halts(db_pool) == [] and not (await flag(db_pool))[0]
    ended = await db_pool.fetchrow("SELECT ended_at, ended_by FROM market_halts")
    assert ended is not None and ended["ended_at"] == et(11, 15)
    quotes.level = D(92)
    assert await restarted.check(et(11, 30)) == []  # level 1 only once a day
    events_logged = await db_pool.fetch("SELECT payload->>'status' AS status FROM outbox "
                                        "WHERE event_type = 'risk.halt' ORDER BY seq")
    assert [r["status"] for r in events_logged] == ["halted", "resumed"]


async def test_1525_et_rule_level_3_and_the_daily_reset(db_pool: asyncpg.Pool) -> None:
    quotes = FakeQuotes()
    breaker = monitor(db_pool, quotes)
    await breaker.check(et(9, 30))
    quotes.level = D(86)
    assert await breaker.check(et(15, 25)) == []  # levels 1 and 2 at or after 15:25 ET: no halt
    assert not (await flag(db_pool))[0]
    quotes.level = D(79)
    await breaker.check(et(15, 30))
    (halt,) = await active_halts(db_pool)
    assert halt.level == 3 and halt.ends_at is None
    assert await db_pool.fetchval("SELECT triggered FROM circuit_breaker_days WHERE trading_day = $1",
                                  DAY) == [1, 2, 3]
    # the next trading day: level 3 ends, levels are fresh, measured against the new previous close
    quotes.level = D(100)
    await breaker.check(et(9, 30, date(2026, 11, 23)))
    assert await active_halts(db_pool) == [] and not (await flag(db_pool))[0]
    assert await db_pool.fetchval("SELECT triggered FROM circuit_breaker_days WHERE trading_day = $1",
                                  date(2026, 11, 23)) == []


async def test_operator_halt_and_resume_with_the_breaker(db_pool: asyncpg.Pool) -> None:
    quotes = FakeQuotes()
    breaker = monitor(db_pool, quotes)
    await breaker.check(et(10))
    assert await set_operator_halt(db_pool, True, "cli:halt", "exchange outage", at=et(10, 1)) == 1
    assert await set_operator_halt(db_pool, True, "cli:halt", "again", at=et(10, 2)) == 0
    assert await flag(db_pool) == (True, "operator halt: exchange outage")
    await breaker.check(et(10, 3))  # the breaker leaves an operator halt alone
    assert (await flag(db_pool))[0]
    quotes.level = D(92)
    await breaker.check(et(10, 4))
    assert len(await active_halts(db_pool)) == 2
    assert await set_operator_halt(db_pool, False, "cli:halt", "all clear", at=et(10, 5)) == 2
    assert await flag(db_pool) == (False, "")
    assert await breaker.check(et(10, 6)) == []  # level 1 used: no second halt right away
    row = await db_pool.fetchrow("SELECT payload FROM outbox WHERE event_type = 'risk.halt' "
                                 "AND payload->>'status' = 'resumed' ORDER BY seq DESC LIMIT 1")
    assert row is not None and "all clear" in row["payload"]
