"""Market halts in PostgreSQL: the circuit breaker's shell and the operator's halt.

Every halt is a ``market_halts`` row (kind, level, reason, who, trading day, started/ends/ended). The order
transaction reads one flag, ``trading_controls`` 'halt' (engaged + the active halts' reasons), which is
rewritten from the active rows in the same transaction as every change to them, so a refusal names the
halt and survives a restart without anything in memory.

``HaltMonitor.check`` (the gateway, every second) loads the breaker's state for the latest trading day
(``circuit_breaker_days`` + the active breaker halt), runs the pure ``circuit_breaker.step`` with the
time, the index and today's close, and writes what changed: new halts, timed resumptions (a halt whose
``ends_at`` has passed is closed, whoever started it), the daily reset, the flag. ``set_operator_halt``
(`brokerage halt on|off`) changes the same rows from another process; the order path sees the flag at
once and the monitor picks the rest up on its next look. Both take one advisory lock per change.
Every change is a ``risk.halt`` event in the outbox.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg
import structlog

from audit.events import AuditEvent
from audit.outbox import append_event
from gateway.oms.circuit_breaker import (
    BreakerEvent,
    BreakerRules,
    BreakerState,
    DayStarted,
    IndexReading,
    TradingHalted,
    TradingResumed,
    index_from_quote,
    index_from_quotes,
    regular_close,
    step,
    trading_day_of,
)
from ledger.journal_store import Conn
from marketdata.redis_quotes import QuoteReader
from refdata.instruments import Instrument

log = structlog.get_logger(__name__)

__all__ = ["ActiveHalt", "HaltMonitor", "active_halts", "calendar_close", "index_constituents", "set_operator_halt",
           "sync_halt_flag"]

_LOCK = 0x48414C54  # pg_advisory_xact_lock key shared by the gateway and the CLI ("HALT")
BREAKER_ACTOR = "system:circuit_breaker"


def index_constituents(instruments: Iterable[Instrument]) -> list[str]:
    """The symbols the breaker's own index is computed from when no index symbol is configured: the S&P 500
    members (the instruments with real reference data, ADR 014; the index the market-wide rule is defined
    on), or every instrument when there are none. Reading only these keeps the monitor's once-a-second quote
    read at ~470 symbols instead of the whole universe (ADR 022)."""
    listed = list(instruments)
    members = [i.symbol for i in listed if not i.synthetic]
    return members or [i.symbol for i in listed]


@dataclass(frozen=True, slots=True)
class ActiveHalt:
    halt_id: int
    kind: str
    level: int | None
    reason: str
    actor: str
    started_at: datetime
    ends_at: datetime | None


def utc_now() -> datetime:
    return datetime.now(UTC)


def calendar_close(trading_24h: bool) -> Callable[[datetime], datetime | None]:
    """Today's close at an instant: 16:00 ET with 24-hour trading, else the exchange calendar's session close
    (early closes included; None while the market is closed)."""
    if trading_24h:
        return lambda at: regular_close(trading_day_of(at))

    def close(at: datetime) -> datetime | None:
        from gateway.oms.market_hours import load_calendar, market_status

        return market_status(load_calendar(), at).session_close
    return close


async def active_halts(conn: Conn | asyncpg.Pool) -> list[ActiveHalt]:
    rows = await conn.fetch("SELECT halt_id, kind, level, reason, actor, started_at, ends_at FROM market_halts "
                            "WHERE ended_at IS NULL ORDER BY started_at, halt_id")
    return [ActiveHalt(r["halt_id"], r["kind"], r["level"], r["reason"], r["actor"], r["started_at"], r["ends_at"])
            for r in rows]


async def _end(conn: Conn, where: str, args: Sequence[object], at: datetime, by: str, why: str) -> int:
    """Close the halts ``where`` selects (among the active ones), each with a ``risk.halt`` resumed event."""
    rows = await conn.fetch(
        f"UPDATE market_halts SET ended_at = coalesce(least(ends_at, $1), $1), ended_by = $2, end_reason = $3 "
        f"WHERE ended_at IS NULL AND {where} RETURNING halt_id, kind, level, reason", at, by, why, *args)
    for row in rows:
        await append_event(conn, AuditEvent("risk.halt", actor=by, status="resumed", reason=why, extra={
            "halt_id": row["halt_id"], "kind": row["kind"], "level": row["level"], "halt_reason": row["reason"]}))
    return len(rows)


async def _start(conn: Conn, kind: str, level: int | None, reason: str, actor: str, at: datetime,
                 ends_at: datetime | None) -> int:
    halt_id: int = await conn.fetchval(
        "INSERT INTO market_halts (kind, level, reason, actor, trading_day, started_at, ends_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING halt_id",
        kind, level, reason, actor, trading_day_of(at), at, ends_at)
    await append_event(conn, AuditEvent("risk.halt", actor=actor, status="halted", reason=reason, extra={
        "halt_id": halt_id, "kind": kind, "level": level, "ends_at": ends_at.isoformat() if ends_at else None}))
    return halt_id


async def sync_halt_flag(conn: Conn, at: datetime) -> tuple[bool, str]:
    """Close halts whose window has passed, then rewrite ``trading_controls`` 'halt' from the active ones."""
    await _end(conn, "ends_at <= $4", (at,), at, BREAKER_ACTOR, "halt window over: trading resumed")
    halts = await active_halts(conn)
    engaged = bool(halts)
    reason = "; ".join(h.reason for h in halts)
    await conn.execute("UPDATE trading_controls SET engaged = $1, reason = $2, updated_at = now() "
                       "WHERE name = 'halt' AND (engaged <> $1 OR reason <> $2)", engaged, reason)
    return engaged, reason


async def set_operator_halt(pool: asyncpg.Pool, engaged: bool, actor: str, reason: str = "",
                            at: datetime | None = None) -> int:
    """`brokerage halt on`: start an operator halt (0 when one is already active, else 1). `halt off`:
    end every active halt, operator's and circuit breaker's alike (the number ended); a breaker level
    that has fired stays used for the day, so it does not halt again at once."""
    at = at or utc_now()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        if engaged:
            if any(h.kind == "operator" for h in await active_halts(conn)):
                changed = 0
            else:
                text = f"operator halt: {reason}" if reason else "operator halt"
                await _start(conn, "operator", None, text, actor, at, None)
                changed = 1
        else:
            changed = await _end(conn, "true", (), at, actor, reason or "operator resumed trading")
        await sync_halt_flag(conn, at)
    return changed


class HaltMonitor:
    """The circuit breaker in the running gateway (see the module docstring)."""

    def __init__(self, pool: asyncpg.Pool, quotes: QuoteReader, symbols: Sequence[str],
                 index_symbol: str | None = None, *, rules: BreakerRules | None = None,
                 close_of: Callable[[datetime], datetime | None] | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.pool = pool
        self.quotes = quotes
        self.symbols = list(symbols)
        self.index_symbol = index_symbol
        self.rules = rules or BreakerRules()
        # today's close at an instant (early closes included); None: the market is closed, nothing to halt
        self.close_of = close_of or (lambda at: regular_close(trading_day_of(at)))
        self.clock = clock
        self.flag: tuple[bool, str] | None = None

    async def reading(self) -> IndexReading | None:
        with contextlib.suppress(Exception):  # Redis away: no reading, time still passes
            if self.index_symbol:
                quote = await self.quotes.get(self.index_symbol)
                return index_from_quote(quote) if quote is not None else None
            return index_from_quotes((await self.quotes.get_many(self.symbols)).values())
        return None

    async def check(self, at: datetime | None = None) -> list[BreakerEvent]:
        at = at or self.clock()
        close = self.close_of(at)
        reading = await self.reading() if close is not None else None
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            state = await _load_state(conn, close or at)
            new, events = step(state, at, reading, close or at, self.rules)
            for change in events:
                await _apply(conn, change, at)
            if new is not None and (state is None or new.triggered != state.triggered
                                    or new.trading_day != state.trading_day):
                await conn.execute(
                    "INSERT INTO circuit_breaker_days (trading_day, prev_close, triggered) VALUES ($1, $2, $3) "
                    "ON CONFLICT (trading_day) DO UPDATE SET triggered = EXCLUDED.triggered, updated_at = now()",
                    new.trading_day, new.prev_close, sorted(new.triggered))
            # the daily reset also ends breaker halts of earlier days the state no longer knew of
            await _end(conn, "kind = 'circuit_breaker' AND trading_day < $4", (trading_day_of(at),), at,
                       BREAKER_ACTOR, "new trading day: circuit breaker reset")
            flag = await sync_halt_flag(conn, at)
        if flag != self.flag:  # also what the CLI changed: the gateway follows it here
            log.warning("oms.halt_state", halted=flag[0], reason=flag[1])
            self.flag = flag
        return list(events)


async def _load_state(conn: Conn, session_close: datetime) -> BreakerState | None:
    day = await conn.fetchrow("SELECT trading_day, prev_close, triggered FROM circuit_breaker_days "
                              "ORDER BY trading_day DESC LIMIT 1")
    if day is None:
        return None
    halt = await conn.fetchrow("SELECT level, ends_at FROM market_halts WHERE kind = 'circuit_breaker' "
                               "AND ended_at IS NULL AND trading_day = $1 ORDER BY level DESC LIMIT 1",
                               day["trading_day"])
    trading_day: date = day["trading_day"]
    return BreakerState(day["prev_close"], session_close, frozenset(day["triggered"]),
                        halt["level"] if halt else None, halt["ends_at"] if halt else None, trading_day)


async def _apply(conn: Conn, change: BreakerEvent, at: datetime) -> None:
    if isinstance(change, TradingHalted):
        log.warning("oms.trading_halted", level=change.level, text=change.text)
        await _start(conn, "circuit_breaker", change.level, change.text, BREAKER_ACTOR, change.at, change.until)
    elif isinstance(change, TradingResumed):
        log.info("oms.trading_resumed", level=change.level)
        await _end(conn, "kind = 'circuit_breaker'", (), change.at, BREAKER_ACTOR,
                   f"trading resumed after circuit breaker level {change.level} halt")
    elif isinstance(change, DayStarted):
        log.info("oms.circuit_breaker_day", trading_day=str(change.trading_day), prev_close=str(change.prev_close))
