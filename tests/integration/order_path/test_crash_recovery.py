"""kill -9 of the gateway at three random moments of a five-session run: after each restart nothing is
lost or doubled, and every client ends up with a final state for every order it entered."""

from __future__ import annotations

import asyncio
import contextlib
import random

import asyncpg

from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import SYMBOLS, OrderPathEnv, check_invariants
from tests.integration.order_path.workload import Trader, cancel_everything, run_traders, wait_all_final

ORDERS_PER_SESSION = 150


async def reconnect(env: OrderPathEnv, traders: list[Trader]) -> None:
    for trader in traders:
        await trader.detach()
        if trader.client is not None:
            with contextlib.suppress(Exception):
                await trader.client.close("gateway gone")
        trader.attach(await env.client(trader.comp_id))
    await asyncio.sleep(1.0)  # resends of what the clients missed arrive first
    for trader in traders:
        await trader.ask_status()


async def test_gateway_killed_three_times_loses_and_doubles_nothing(order_path_env: OrderPathEnv,
                                                                     pool: asyncpg.Pool,
                                                                     quotes: QuoteReader) -> None:
    rng = random.Random(7)
    kills = sorted(rng.sample(range(10, ORDERS_PER_SESSION - 10), 3))
    traders = [Trader(f"CLIENT{n}", random.Random(rng.random()), SYMBOLS) for n in range(1, 6)]
    for trader in traders:
        trader.attach(await order_path_env.client(trader.comp_id))

    async def maybe_crash(i: int) -> None:
        if i not in kills:
            return
        order_path_env.kill_gateway()
        order_path_env.start_gateway()
        await reconnect(order_path_env, traders)

    try:
        await run_traders(traders, quotes, ORDERS_PER_SESSION, between=maybe_crash)
        await asyncio.sleep(2.0)
        await cancel_everything(pool, traders, logs=order_path_env.gateway_log)
        for trader in traders:
            await trader.ask_status()
        await wait_all_final(traders)
        await check_invariants(pool)
        # the gateway says what it repaired when it starts (a start killed mid-recovery may not get there)
        assert "oms.recovery_reconciled" in order_path_env.gateway_logs[-1].read_text()
        assert order_path_env.gateway_log().count("oms.recovery_rewind_inbound") >= 3
        assert await pool.fetchval("SELECT count(*) FROM executions WHERE exec_type = 'trade'") > 0
    finally:
        for trader in traders:
            await trader.detach()
            if trader.client is not None:
                with contextlib.suppress(Exception):
                    await trader.client.logout()
