"""Two gateway shards trading the same accounts at once, one of them killed -9 and restarted mid-run:
the ledger's invariants hold across shards (blocked = the open orders' reservations, the journal
replays to the balances, one journal entry per venue ExecID) and every client has a final report for
every order it entered."""

from __future__ import annotations

import asyncio
import contextlib
import random

import asyncpg

from gateway.shards import Placement
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import SYMBOLS, check_invariants
from tests.integration.order_path.workload import Trader, cancel_everything, run_traders, wait_all_final
from tests.integration.shards.conftest import EXTRA, SHARDS, ShardedEnv

ORDERS_PER_SESSION = 120
KILL_AT = 50


async def reconnect(env: ShardedEnv, traders: list[Trader]) -> None:
    for trader in traders:
        await trader.detach()
        if trader.client is not None:
            with contextlib.suppress(Exception):
                await trader.client.close("shard gone")
        trader.attach(await env.client(trader.comp_id))
    await asyncio.sleep(1.0)  # resends of what the clients missed arrive first
    for trader in traders:
        await trader.ask_status()


async def test_two_shards_same_accounts_kill_one(sharded_env: ShardedEnv, pool: asyncpg.Pool,
                                                 quotes: QuoteReader) -> None:
    placement = Placement(SHARDS)
    comp_ids = [f"CLIENT{n}" for n in range(1, 6)] + sorted(EXTRA)
    on = {comp: placement.shard_of(comp) for comp in comp_ids}
    assert set(on.values()) == {0, 1}
    accounts = {comp: EXTRA.get(comp, f"ACC-{comp}") for comp in comp_ids}
    shared = {acc for acc in accounts.values() if len({on[c] for c in comp_ids if accounts[c] == acc}) == 2}
    assert shared == {"ACC-CLIENT1", "ACC-CLIENT4"}  # both shards trade these two accounts

    rng = random.Random(15)
    traders = [Trader(comp, random.Random(rng.random()), SYMBOLS) for comp in comp_ids]
    for trader in traders:
        trader.attach(await sharded_env.client(trader.comp_id))
    victims = [t for t in traders if on[t.comp_id] == 1]

    async def maybe_crash(i: int) -> None:
        if i != KILL_AT:
            return
        sharded_env.kill_shard(1)  # shard 0's sessions keep trading meanwhile
        await asyncio.sleep(0.5)
        sharded_env.start_shard(1)
        await reconnect(sharded_env, victims)

    try:
        await run_traders(traders, quotes, ORDERS_PER_SESSION, between=maybe_crash)
        await asyncio.sleep(2.0)
        await cancel_everything(pool, traders, timeout=60)
        for trader in traders:
            await trader.ask_status()
        await wait_all_final(traders, timeout=30)
        await check_invariants(pool)
        # each shard entered orders for the shared accounts, and the killed one was restarted
        rows = await pool.fetch("SELECT account_id, session_id FROM orders GROUP BY 1, 2")
        for account in shared:
            assert {on[r["session_id"]] for r in rows if r["account_id"] == account} == {0, 1}
        doubled = await pool.fetchval("SELECT count(*) FROM (SELECT venue_exec_id FROM executions "
                                      "WHERE venue_exec_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) d")
        assert doubled == 0
        unfinal = await pool.fetchval("SELECT count(*) FROM orders WHERE status NOT IN "
                                      "('filled', 'canceled', 'rejected', 'expired')")
        assert unfinal == 0
        assert await pool.fetchval("SELECT count(*) FROM executions WHERE exec_type = 'trade'") > 0
        restarted = sharded_env.shard_logs[1][-1].read_text()
        assert "oms.recovery_reconciled" in restarted
        assert "GATEWAY-2->EXCHANGE" in restarted  # shard 1's own exchange link
        assert "oms.shard_reconcile_scope" in restarted  # reconciled its own orders only
    finally:
        for trader in traders:
            await trader.detach()
            if trader.client is not None:
                with contextlib.suppress(Exception):
                    await trader.client.logout()
