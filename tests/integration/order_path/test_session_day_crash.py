"""A new FIX session day (or a 141=Y reset) starts the exchange link's sequence numbers again at 1. If the
gateway is then killed with exchange fills received but not committed, those fills must still be booked,
exactly once: the inbound mark of the new store is compared with the new store's numbers only (ADR 010).

Real processes. The new session day is simulated the way QuickFIX makes one: both sides' message stores for
the link are replaced by new ones (new creation time, sequence numbers 1) while the processes are down. The
previous day's mark is high (the day handled many reports), so a mark that only goes up would hide the new
day's numbers. Fills are held "in flight" by locking ``journal_entries`` (only a fill writes it): QuickFIX has
taken the reports (their MsgSeqNums are consumed), the ledger has not booked them, and the gateway is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from redis.asyncio import Redis

from fixclient import FixClient
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import check_invariants, until_final, until_status
from tests.integration.order_path.system import OrderPathEnv, _stop, running_system

if TYPE_CHECKING:
    from tests.conftest import TestServers

CLIENTS = ("CLIENT1", "CLIENT2", "CLIENT3")


@pytest.fixture(scope="module")
def day_env(test_servers: TestServers, ledger_template_db: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderPathEnv]:
    with running_system(test_servers, ledger_template_db, tmp_path_factory.mktemp("session_day"), 11) as env:
        yield env


def _link_store_files(env: OrderPathEnv) -> list[Path]:
    return [*(env.root / "gateway" / "fix" / "gateway-exchange" / "store").glob("FIX.4.4-GATEWAY-EXCHANGE*"),
            *(env.root / "exchange" / "fix" / "exchange" / "store").glob("FIX.4.4-EXCHANGE-GATEWAY*")]


def _new_session_day(env: OrderPathEnv) -> None:
    """Both ends of the exchange link begin a new store, as QuickFIX does at 00:00 UTC (or on 141=Y)."""
    env.kill_gateway()
    _stop(env.exchange)
    files = _link_store_files(env)
    assert files, "no link store found"
    for path in files:
        path.unlink()
    time.sleep(1.1)  # a store creation time is kept to the second: the new store is a different one
    env.start_exchange()
    env.start_gateway()


def _received_by_gateway(env: OrderPathEnv, order_id: str) -> bool:
    """The gateway's QuickFIX took a fill report for the order (its inbound MsgSeqNum is consumed)."""
    logs = (env.root / "gateway" / "fix" / "gateway-exchange" / "log").glob("*GATEWAY-EXCHANGE*messages*")
    return any(f"\x0111={order_id}\x01" in text and "\x01150=F\x01" in text
               for text in (p.read_text(errors="replace") for p in logs))


async def _marketable_buy(client: FixClient, quotes: QuoteReader, symbol: str) -> tuple[str, str]:
    quote = await quotes.get(symbol)
    assert quote is not None and quote.ask is not None
    price = (quote.ask * Decimal("1.03")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    cl = await client.new_order_single(symbol, "buy", 5, "limit", price=price)
    pending = await client.next_execution_report(cl, timeout=20)
    assert pending.ord_status == "A", pending.text
    return cl, pending.order_id or ""


async def _connect(env: OrderPathEnv) -> dict[str, FixClient]:
    return {comp_id: await env.client(comp_id) for comp_id in CLIENTS}


async def _close(clients: dict[str, FixClient]) -> None:
    for client in clients.values():
        with contextlib.suppress(Exception):
            await client.close("test done")


async def test_fills_in_flight_after_a_session_reset_survive_a_kill(day_env: OrderPathEnv) -> None:
    env = day_env
    pool = await asyncpg.create_pool(env.database_url, min_size=1, max_size=4)
    redis = Redis.from_url(env.redis_url, decode_responses=True)
    quotes = QuoteReader(redis)
    clients = await _connect(env)
    try:
        # day 1: some traffic, and a day that handled many reports (a mark far above tomorrow's numbers)
        cl, _ = await _marketable_buy(clients["CLIENT1"], quotes, "AAPL")
        assert (await until_final(clients["CLIENT1"], cl, timeout=30)).ord_status == "2"
        await pool.execute("INSERT INTO fix_inbound_marks (session_key, session_start, last_seq) "
                           "VALUES ('venue', $1, 100000)", datetime(2026, 1, 1, tzinfo=UTC))
        await _close(clients)

        # day 2: both stores new, sequence numbers from 1
        _new_session_day(env)
        clients = await _connect(env)
        cl, _ = await _marketable_buy(clients["CLIENT1"], quotes, "MSFT")
        assert (await until_final(clients["CLIENT1"], cl, timeout=30)).ord_status == "2"
        await asyncio.sleep(1.0)  # the new store's mark is saved (every 200 ms)
        starts = await pool.fetch("SELECT session_start, last_seq FROM fix_inbound_marks WHERE session_key = "
                                  "'venue' ORDER BY session_start")
        assert len(starts) >= 2 and starts[-1]["last_seq"] < 100, [dict(r) for r in starts]

        # fills the exchange sends but the ledger cannot book yet: journal_entries locked
        lock = await asyncpg.connect(env.database_url)
        tx = lock.transaction()
        await tx.start()
        await lock.execute("LOCK TABLE journal_entries IN EXCLUSIVE MODE")
        in_flight: dict[str, tuple[str, str]] = {}
        symbols = dict(zip(CLIENTS, ("AAPL", "MSFT", "F"), strict=True))
        try:
            for comp_id, symbol in symbols.items():
                in_flight[comp_id] = await _marketable_buy(clients[comp_id], quotes, symbol)
            deadline = time.monotonic() + 30
            while not all(_received_by_gateway(env, oid) for _, oid in in_flight.values()):
                assert time.monotonic() < deadline, "the exchange's fills never reached the gateway"
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # the marks are saved as usual meanwhile: they must stay below the fills
            env.kill_gateway()
        finally:
            await tx.rollback()
            await lock.close()
        ids = [oid for _, oid in in_flight.values()]
        assert await pool.fetchval("SELECT count(*) FROM executions WHERE order_id = ANY($1::text[]) "
                                   "AND exec_type = 'trade'", ids) == 0, "the fills were booked before the kill"

        # restart: the link asks the exchange again from the new store's mark; every fill booked once
        await _close(clients)
        env.start_gateway()
        clients = await _connect(env)
        for comp_id, (cl, _) in in_flight.items():
            await clients[comp_id].order_status(cl, symbol=symbols[comp_id], side="buy")
            final = await until_status(clients[comp_id], cl, {"2"}, timeout=60)
            assert final.ord_status == "2"
        rows = await pool.fetch("SELECT order_id, count(*) AS n, count(DISTINCT venue_exec_id) AS venue, "
                                "sum(last_qty) AS qty FROM executions WHERE order_id = ANY($1::text[]) "
                                "AND exec_type = 'trade' GROUP BY order_id", ids)
        assert {r["order_id"] for r in rows} == set(ids)
        for row in rows:  # every venue ExecID booked once, the whole quantity
            assert row["n"] == row["venue"] and row["qty"] == 5, dict(row)
        assert await pool.fetchval("SELECT count(*) FROM orders WHERE order_id = ANY($1::text[]) "
                                   "AND status = 'filled' AND reserved_cash = 0", ids) == len(ids)
        assert "oms.recovery_rewind_inbound" in env.gateway_logs[-1].read_text()
        await check_invariants(pool)
    finally:
        await _close(clients)
        await redis.aclose()
        await pool.close()
