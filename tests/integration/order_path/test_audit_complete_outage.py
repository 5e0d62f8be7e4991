"""Audit completeness through a PostgreSQL outage, on real processes: rejects decided before any transaction,
database-down rejects, cancel rejects, throttles (35=j), a session-level Reject (35=3), logout and logon all
happen while PostgreSQL is unreachable (the gateway reaches it through a TCP relay the test cuts); once it is
back, every one of them is in the outbox, exactly once (the durable spool under the data dir, replayed
idempotently by event id)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.integration.order_path.conftest import until_status
from tests.integration.order_path.system import OrderPathEnv, _redis_db, ledger_database, seed_ledger
from tests.integration.order_path.test_database_outage import Relay

if TYPE_CHECKING:
    from tests.conftest import TestServers

DB_DOWN = "order entry unavailable: the ledger database cannot be reached; nothing was accepted"


@pytest.fixture(scope="module")
def audit_env(test_servers: TestServers, ledger_template_db: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OrderPathEnv, Relay, str]]:
    with ledger_database(test_servers, ledger_template_db, "orders") as url:
        real = make_url(url)
        relay = Relay(real.host or "127.0.0.1", real.port or 5432)
        relayed = real.set(port=relay.port).render_as_string(hide_password=False)
        root = tmp_path_factory.mktemp("audit_outage")
        (root / "clients").mkdir()
        env = OrderPathEnv(relayed, _redis_db(test_servers.redis_url, 12), root,
                           extra_env={"BROKERAGE_FIX_RATE_LIMIT_BURST": "10",
                                      "BROKERAGE_FIX_RATE_LIMIT_PER_SECOND": "1"})
        asyncio.run(seed_ledger(url, root))
        try:
            env.start_exchange()
            env.start_gateway()
            yield env, relay, url
        finally:
            env.stop_all()
            relay.close()


async def _events(pool: asyncpg.Pool, kind: str, actor: str = "fix:CLIENT1") -> list[asyncpg.Record]:
    return await pool.fetch("SELECT event_id, payload FROM outbox WHERE event_type = $1 AND payload->>'actor' = $2 "
                            "ORDER BY seq", kind, actor)


async def test_every_reject_and_session_event_lands_once_after_an_outage(
        audit_env: tuple[OrderPathEnv, Relay, str]) -> None:
    env, relay, direct_url = audit_env
    pool = await asyncpg.create_pool(direct_url, min_size=1, max_size=2)
    client = await env.client("CLIENT1")
    try:
        cl = await client.new_order_single("AAPL", "buy", 1, "limit", price="1.00")
        assert (await until_status(client, cl, {"0", "8"})).ord_status == "0"
        deadline = time.monotonic() + 30
        while not await _events(pool, "session.logon"):  # the logon went through the spool: replayed soon
            assert time.monotonic() < deadline, "the logon never reached the outbox"
            await asyncio.sleep(0.2)
        logons_before = len(await _events(pool, "session.logon"))
        relay.cut()

        down = await client.new_order_single("AAPL", "buy", 1, "limit", price="1.00")
        assert (await client.next_execution_report(down, timeout=30)).text == DB_DOWN
        unknown = await client.new_order_single("AAPL", "buy", 1, "limit", price="1.00", account="ACC-NOBODY")
        assert (await client.next_execution_report(unknown, timeout=30)).ord_rej_reason == 15  # unknown account
        cancel = await client.cancel("NEVER-SENT", symbol="AAPL", side="buy")
        await client.next_cancel_reject(cancel, timeout=30)
        await client.send("D", [(11, "NO-SIDE"), (55, "AAPL"), (38, 1), (40, "2"), (44, "1.00"),
                                (60, "20261202-10:00:00.000")])  # Side (54) missing: a session-level Reject
        await client.wait_for(lambda m: m.msg_type == "3", timeout=30)
        for n in range(25):  # burst 10, then 1/s: throttled (35=j); those let through meet the outage (35=j too)
            await client.order_status(f"T-{n}", symbol="AAPL", side="buy")
        await client.wait_for(lambda m: m.msg_type == "j" and "rate limit" in (m.get(58) or ""), timeout=30)
        await asyncio.sleep(2.0)
        business_rejects = sum(1 for m in client.inbox.history if m.msg_type == "j")
        await client.logout()
        client = await env.client("CLIENT1")
        spool = env.root / "gateway" / "audit-spool"
        assert any(p.stat().st_size for p in spool.glob("*.jsonl")), "nothing was spooled during the outage"

        relay.restore()
        deadline = time.monotonic() + 90
        while True:  # the spool is replayed once the pool reaches PostgreSQL again
            logons = await _events(pool, "session.logon")
            if len(logons) > logons_before and not any(p.stat().st_size for p in spool.glob("*.jsonl")):
                break
            assert time.monotonic() < deadline, "the spool was not replayed"
            await asyncio.sleep(0.5)

        rows = await pool.fetch("SELECT payload->>'cl_ord_id' AS cl, payload->>'rule' AS rule, count(*) AS n "
                                "FROM outbox WHERE event_type = 'order.rejected' GROUP BY 1, 2")
        rejected = {(r["cl"], r["rule"]): r["n"] for r in rows}
        assert rejected[(down, "database_unavailable")] == 1
        assert rejected[(unknown, "unknown_account")] == 1
        cancels = await pool.fetch("SELECT payload->>'reason' AS reason FROM outbox WHERE event_type = "
                                   "'order.cancel_rejected' AND payload->>'cl_ord_id' = $1", cancel)
        assert [r["reason"] for r in cancels] == [DB_DOWN]
        assert len(await _events(pool, "session.reject")) == 1
        assert len(await _events(pool, "session.business_reject")) == business_rejects
        throttled = await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'session.business_reject' "
                                        "AND payload->>'rule' = 'throttle'")
        assert throttled >= 1
        assert len(await _events(pool, "session.logout")) >= 1
        assert len(await _events(pool, "session.logon")) == logons_before + 1
        assert await pool.fetchval("SELECT count(*) = count(DISTINCT event_id) FROM outbox")
    finally:
        with contextlib.suppress(Exception):
            await client.logout()
        await pool.close()
