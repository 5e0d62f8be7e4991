"""kill -9 of the exchange while orders rest and fills flow: restarted, it has its books back (the resting
orders are still there, with their ids), and the gateway, reconciling on the link's logon, books every fill
the venue executed exactly once; every client gets a final report for every order."""

from __future__ import annotations

import asyncio
import contextlib
import random
from decimal import ROUND_DOWN, Decimal

import asyncpg

from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import SYMBOLS, check_invariants, until_status
from tests.integration.order_path.workload import Trader, cancel_everything, run_traders, wait_all_final
from tests.integration.venue_recovery.conftest import VenueEnv

ORDERS_PER_SESSION = 120


async def test_exchange_killed_while_orders_rest_and_fills_flow(venue_env: VenueEnv, pool: asyncpg.Pool,
                                                               quotes: QuoteReader) -> None:
    rng = random.Random(11)
    traders = [Trader(f"CLIENT{n}", random.Random(rng.random()), SYMBOLS) for n in range(2, 5)]
    for trader in traders:
        trader.attach(await venue_env.client(trader.comp_id))
    resting_client = await venue_env.client("CLIENT5")
    mark = (await quotes.get_many(["MSFT"]))["MSFT"].mark
    assert mark is not None
    price = (mark * Decimal("0.95")).quantize(Decimal("0.01"), ROUND_DOWN)
    resting = [await resting_client.new_order_single("MSFT", "buy", 5, "limit", price=price, tif=tif)
               for tif in ("day", "gtc", "day")]
    for cl in resting:
        await until_status(resting_client, cl, {"0"})
    logons = venue_env.gateway_log().count("oms.venue_reconciled")
    kills = {30, 75}

    async def maybe_crash(i: int) -> None:
        if i in kills:
            # the second kill hits a recovered link: on a slow machine it could come before the gateway had
            # logged on again and reconciled, and two crashes then made one reconciliation (a flaky count)
            await venue_env.wait_log("oms.venue_reconciled", logons + sorted(kills).index(i))
            venue_env.kill_exchange()
            await asyncio.sleep(1.0)  # orders keep coming while the venue is down
            venue_env.start_exchange()

    try:
        await run_traders(traders, quotes, ORDERS_PER_SESSION, between=maybe_crash)
        await venue_env.wait_log("oms.venue_reconciled", logons + len(kills))
        assert venue_env.exchange_log().count('"restored": true') >= len(kills)
        # the resting orders survived both crashes: still working in the ledger, and the venue cancels them
        rows = await pool.fetch("SELECT cl_ord_id, status FROM orders WHERE session_id = 'CLIENT5' "
                                "AND cl_ord_id = ANY($1::text[])", resting)
        assert {r["status"] for r in rows} == {"new"}, [dict(r) for r in rows]
        for cl in resting:
            report = await until_status(resting_client, await resting_client.cancel(cl), {"4"})
            assert "no longer knows" not in (report.text or "")
        await asyncio.sleep(2.0)
        await cancel_everything(pool, traders, logs=venue_env.gateway_log)
        for trader in traders:
            await trader.ask_status()
        await wait_all_final(traders)
        await check_invariants(pool)
        assert not await pool.fetch("SELECT venue_exec_id FROM executions WHERE venue_exec_id IS NOT NULL "
                                    "GROUP BY venue_exec_id HAVING count(*) > 1")
        # every execution the venue journaled for the gateway's orders is booked, once
        venue_env.stop_exchange_cleanly()
        state = venue_env.venue_state()
        venue_fills = {r.exec_id for reports in state.orders.fills.values() for r in reports}
        booked = {r["venue_exec_id"] for r in await pool.fetch(
            "SELECT venue_exec_id FROM executions WHERE exec_type = 'trade' AND venue_exec_id IS NOT NULL")}
        assert venue_fills, "no fills flowed"
        assert venue_fills == booked
    finally:
        if venue_env.exchange is None or venue_env.exchange.poll() is not None:
            venue_env.start_exchange()
        for trader in traders:
            await trader.detach()
            if trader.client is not None:
                with contextlib.suppress(Exception):
                    await trader.client.logout()
        with contextlib.suppress(Exception):
            await resting_client.logout()
