"""Margin calls and liquidation on real processes, black-box where the client can see it:

* a client order whose ClOrdID uses the old liquidation prefix (``LIQ-``) does not make the margin monitor
  skip the account: the monitor cancels it like any client order and liquidates; only the orders it sent
  are ``orders.origin = 'system'``, tied to the margin call's id;
* a liquidation refused (here: by an operator halt) is not sent again on every check: attempts per margin
  call are spaced by the retry window, one ``risk.liquidation`` event each;
* with quotes older than the setting, nothing is decided and the call says "valuation unavailable: stale
  quote for MSFT ..." until fresh quotes return.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal

import asyncpg

from tests.integration.halts_margin.conftest import RETRY, brokerage
from tests.integration.order_path.conftest import OrderPathEnv, until_status
from tests.integration.order_path.test_margin_and_halts import Feed, eventually


async def test_spoofed_liquidation_clordid_paced_attempts_and_stale_quotes(
        halt_env: tuple[OrderPathEnv, str], feed: Feed, db: asyncpg.Pool) -> None:
    env, _ = halt_env
    client = await env.client("CLIENT4")  # margin account, 100,000 of cash
    try:
        true = await feed.market.get("MSFT")
        assert true is not None and true.ask is not None and true.bid is not None and true.mark is not None
        price = (true.ask * Decimal("1.01")).quantize(Decimal("0.01"), ROUND_DOWN)
        qty = int(Decimal(128_000) / price)  # ~128k of a real-priced stock: on margin
        bought = await client.new_order_single("MSFT", "buy", qty, "limit", price=price)
        filled = await until_status(client, bought, {"2", "8"})
        assert filled.ord_status == "2", filled.text
        # the attacker's order: a resting buy whose ClOrdID looks like the monitor's own
        spoof = await client.new_order_single("MSFT", "buy", 1, "limit", cl_ord_id="LIQ-spoof-1",
                                              price=(true.bid * Decimal("0.95")).quantize(Decimal("0.01")))
        assert (await until_status(client, spoof, {"0", "8"})).ord_status == "0"
        assert await db.fetchval("SELECT origin FROM orders WHERE cl_ord_id = 'LIQ-spoof-1'") == "client"

        brokerage(env, "halt", "on", "--reason", "liquidation drill")  # liquidation orders will be refused
        low = (true.mark / 4).quantize(Decimal("0.01"))
        feed.override["MSFT"] = replace(true, bid=low, ask=low, last=low, prev_close=None)
        await feed.publish()
        call_id = await eventually(lambda: db.fetchval(
            "SELECT call_id FROM margin_calls WHERE account_id = 'ACC-CLIENT4' AND status <> 'met'"))
        # grace over: the monitor cancels the spoofed order (it does not skip the account) and liquidates
        canceled = await client.wait_for(lambda m: m.msg_type == "8" and m.get(41) == "LIQ-spoof-1"
                                         and m.get(39) == "4", timeout=30)
        assert canceled is not None
        refused = await client.wait_for(lambda m: m.msg_type == "8" and (m.get(11) or "").startswith("LIQ-L")
                                        and m.get(39) == "8", timeout=30)
        assert "trading halt" in (refused.get(58) or "")
        assert await db.fetchval("SELECT status FROM margin_calls WHERE call_id = $1", call_id) == "liquidating"

        # quotes stop: valuation unavailable, said on the call, and nothing is decided on stale marks
        assert feed.task is not None
        feed.task.cancel()
        valuation = await eventually(lambda: db.fetchval(
            "SELECT valuation FROM margin_calls WHERE call_id = $1 AND valuation <> 'ok'", call_id), timeout=30)
        assert str(valuation).startswith("valuation unavailable: stale quote for MSFT")
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'risk.margin_call' AND "
                                 "payload->>'status' = 'valuation_unavailable'") >= 1
        feed.task = asyncio.create_task(feed.run())
        await eventually(lambda: db.fetchval("SELECT valuation = 'ok' FROM margin_calls WHERE call_id = $1",
                                             call_id), timeout=30)

        brokerage(env, "halt", "off")
        sold = await client.wait_for(lambda m: m.msg_type == "8" and (m.get(11) or "").startswith("LIQ-L")
                                     and m.get(39) == "2", timeout=60)
        assert sold.get(54) == "2"
        system = await db.fetch("SELECT cl_ord_id, origin_reason, margin_call_id FROM orders "
                                "WHERE account_id = 'ACC-CLIENT4' AND origin = 'system'")
        assert system and all(r["margin_call_id"] == call_id and r["cl_ord_id"].startswith("LIQ-L") for r in system)
        assert "LIQ-spoof-1" not in {r["cl_ord_id"] for r in system}
        # pacing: one risk.liquidation event per attempt, attempts at least the retry window apart
        attempts = await db.fetch(
            "SELECT occurred_at, (payload->>'attempt')::int AS n FROM outbox "
            "WHERE event_type = 'risk.liquidation' AND account_id = 'ACC-CLIENT4' ORDER BY seq")
        assert [a["n"] for a in attempts] == list(range(1, len(attempts) + 1)) and len(attempts) >= 2
        gaps = [(b["occurred_at"] - a["occurred_at"]).total_seconds() for a, b in itertools.pairwise(attempts)]
        assert all(gap >= RETRY - 0.5 for gap in gaps), gaps
        assert await db.fetchval("SELECT liquidation_attempts FROM margin_calls WHERE call_id = $1",
                                 call_id) == len(attempts)
        refused_orders = await db.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'order.rejected' AND account_id = 'ACC-CLIENT4' "
            "AND payload::text LIKE '%trading halt%'")
        assert 1 <= refused_orders <= len(attempts)  # one plan line (MSFT) per attempt, never one per check
        held = await db.fetchval("SELECT qty FROM holdings WHERE account_id = 'ACC-CLIENT4' AND symbol = 'MSFT'")
        assert held < qty
        feed.override.clear()
        await feed.publish()
        await eventually(lambda: db.fetchval(
            "SELECT status = 'met' FROM margin_calls WHERE call_id = $1", call_id), timeout=30)
    finally:
        feed.override.clear()
        brokerage(env, "halt", "off")
        await client.logout()
