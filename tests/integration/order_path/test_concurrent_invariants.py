"""Five sessions trading at once (random orders, cancels, replaces): the ledger's invariants hold after."""

from __future__ import annotations

import random

import asyncpg

from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import SYMBOLS, OrderPathEnv, check_invariants
from tests.integration.order_path.workload import Trader, cancel_everything, run_traders, wait_all_final

ORDERS_PER_SESSION = 200


async def test_concurrent_sessions_keep_the_ledger_whole(order_path_env: OrderPathEnv, pool: asyncpg.Pool,
                                                         quotes: QuoteReader) -> None:
    rng = random.Random(20261121)
    traders = [Trader(f"CLIENT{n}", random.Random(rng.random()), SYMBOLS) for n in range(1, 6)]
    for trader in traders:
        trader.attach(await order_path_env.client(trader.comp_id))
    try:
        await run_traders(traders, quotes, ORDERS_PER_SESSION)
        await cancel_everything(pool, traders, logs=order_path_env.gateway_log)
        await wait_all_final(traders)
        sent = sum(t.sent for t in traders)
        assert sent >= 5 * ORDERS_PER_SESSION * 0.9
        fills = await pool.fetchval("SELECT count(*) FROM executions WHERE exec_type = 'trade'")
        assert fills > 0
        await check_invariants(pool)
    finally:
        for trader in traders:
            await trader.detach()
            if trader.client is not None:
                await trader.client.logout()
