"""Rejections and controls on the real path: each answer names the rule and its figures."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

import asyncpg

from fixclient.codec import encode_message
from fixclient.messages import new_order_single_body, ticket
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import REPO, OrderPathEnv, check_invariants, until_status


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


async def touch(quotes: QuoteReader, symbol: str) -> tuple[Decimal, Decimal]:
    quote = await quotes.get(symbol)
    assert quote is not None and quote.bid is not None and quote.ask is not None
    return quote.bid, quote.ask


async def test_sell_more_than_held_is_rejected(order_path_env: OrderPathEnv, pool: asyncpg.Pool,
                                               quotes: QuoteReader) -> None:
    bid, _ = await touch(quotes, "F")
    client = await order_path_env.client("CLIENT1")
    try:
        held = await pool.fetchrow("SELECT qty, blocked_qty FROM holdings WHERE account_id = 'ACC-CLIENT1' "
                                   "AND symbol = 'F'")
        free = int(held["qty"] - held["blocked_qty"]) if held else 0
        cl = await client.new_order_single("F", "sell", free + 10, "limit", price=cents(bid))
        report = await client.next_execution_report(cl)
        assert (report.exec_type, report.ord_status, report.ord_rej_reason) == ("8", "8", 0)
        assert report.text == f"insufficient shares: sell {free + 10} F, available {free}"
    finally:
        await client.logout()


async def test_duplicate_cl_ord_id_and_poss_resend(order_path_env: OrderPathEnv, pool: asyncpg.Pool,
                                                   quotes: QuoteReader) -> None:
    bid, _ = await touch(quotes, "AAPL")
    price = cents(bid * Decimal("0.9"))
    client = await order_path_env.client("CLIENT1")
    try:
        cl = await client.new_order_single("AAPL", "buy", 3, "limit", price=price)
        await until_status(client, cl, {"0"})
        again = await client.new_order_single("AAPL", "buy", 3, "limit", price=price, cl_ord_id=cl)
        assert again == cl
        duplicate = await client.next_execution_report(cl)
        assert (duplicate.ord_status, duplicate.ord_rej_reason) == ("8", 6)
        assert duplicate.text and "duplicate ClOrdID" in duplicate.text
        # PossResend (97=Y) of the same NewOrderSingle: the order's current status, never a second order
        body = new_order_single_body(cl, ticket("AAPL", "buy", 3, "2", price, None, "0", None), datetime.now(UTC))
        seq = client.next_sender_seq_num
        await client.send_raw(encode_message("D", client.session._header(seq, [(97, "Y")]), body, "FIX.4.4"),
                              consumes_seq_num=True)
        status = await client.next_execution_report(cl)
        assert (status.exec_type, status.ord_status) == ("I", "0")
        assert await pool.fetchval("SELECT count(*) FROM orders WHERE cl_ord_id = $1", cl) == 1
        await client.order_status(cl)
        answer = await client.next_execution_report(cl)
        assert answer.exec_type == "I" and answer.leaves_qty == 3 and answer.cum_qty == 0
        await client.cancel(cl)
    finally:
        await client.logout()


async def test_cancel_and_replace_of_unknown_order(order_path_env: OrderPathEnv) -> None:
    client = await order_path_env.client("CLIENT2")
    try:
        cancel = await client.cancel("NO-SUCH-ORDER", symbol="AAPL", side="buy")
        reject = await client.next_cancel_reject(cancel)
        assert reject.raw.get(102) == "1" and reject.raw.get(434) == "1" and reject.raw.get(37) == "NONE"
        replace = await client.replace("NO-SUCH-ORDER", qty=5, price="10", symbol="AAPL", side="buy")
        reject = await client.next_cancel_reject(replace)
        assert reject.raw.get(102) == "1" and reject.raw.get(434) == "2"
        status_of = "NO-SUCH-ORDER"
        await client.order_status(status_of, symbol="AAPL", side="buy")
        answer = await client.next_execution_report(status_of)
        assert (answer.exec_type, answer.ord_status, answer.ord_rej_reason) == ("I", "8", 5)
    finally:
        await client.logout()


async def test_replace_up_and_down_adjusts_the_block(order_path_env: OrderPathEnv, pool: asyncpg.Pool,
                                                     quotes: QuoteReader) -> None:
    bid, _ = await touch(quotes, "MSFT")
    low = cents(bid * Decimal("0.93"))
    lower = cents(bid * Decimal("0.92"))
    client = await order_path_env.client("CLIENT2")

    async def blocked() -> Decimal:
        value: Decimal = await pool.fetchval("SELECT blocked FROM cash_balances WHERE account_id = 'ACC-CLIENT2'")
        return value

    try:
        before = await blocked()
        cl = await client.new_order_single("MSFT", "buy", 10, "limit", price=low)
        await until_status(client, cl, {"0"})
        assert await blocked() == before + 10 * low
        up = await client.replace(cl, qty=20, price=low)
        assert (await client.next_execution_report(up)).exec_type == "E"
        replaced = await client.next_execution_report(up)
        assert (replaced.exec_type, replaced.ord_status, replaced.order_qty) == ("5", "0", 20)
        assert replaced.orig_cl_ord_id == cl and replaced.leaves_qty == 20
        assert await blocked() == before + 20 * low
        down = await client.replace(up, qty=5, price=lower)
        await until_status(client, down, {"0"})
        assert await blocked() == before + 5 * lower
        cancel = await client.cancel(down)
        await until_status(client, cancel, {"4"})
        assert await blocked() == before
        await check_invariants(pool)
    finally:
        await client.logout()


async def test_replace_off_the_lot_tick_or_4_decimals_is_rejected(order_path_env: OrderPathEnv, pool: asyncpg.Pool,
                                                                   quotes: QuoteReader) -> None:
    bid, _ = await touch(quotes, "MSFT")
    low = cents(bid * Decimal("0.93"))
    client = await order_path_env.client("CLIENT2")
    try:
        cl = await client.new_order_single("MSFT", "buy", 10, "limit", price=low)
        await until_status(client, cl, {"0"})
        blocked = await pool.fetchval("SELECT blocked FROM cash_balances WHERE account_id = 'ACC-CLIENT2'")
        for qty, price, why in (("10.00005", low, "invalid quantity: 10.00005"),
                                (10, low + Decimal("0.005"), f"invalid price: price {low + Decimal('0.005')}")):
            bad = await client.replace(cl, qty=qty, price=price)
            reject = await client.next_cancel_reject(bad)
            assert reject.raw.get(102) == "99" and reject.raw.get(434) == "2" and reject.raw.get(39) == "0"
            assert (reject.raw.get(58) or "").startswith(why), reject.raw.get(58)
        row = await pool.fetchrow("SELECT qty, price, status FROM orders WHERE cl_ord_id = $1", cl)
        assert (row["qty"], row["price"], row["status"]) == (10, low, "new")
        assert await pool.fetchval("SELECT blocked FROM cash_balances WHERE account_id = 'ACC-CLIENT2'") == blocked
        cancel = await client.cancel(cl)
        await until_status(client, cancel, {"4"})
        await check_invariants(pool)
    finally:
        await client.logout()


async def test_market_orders_need_a_reference_price(order_path_env: OrderPathEnv) -> None:
    client = await order_path_env.client("CLIENT2")
    try:
        # NVDA is in the universe but neither traded by this exchange nor quoted: nothing to value it at
        cl = await client.new_order_single("NVDA", "buy", 5, "market")
        report = await client.next_execution_report(cl)
        assert report.ord_status == "8" and report.text and report.text.startswith("no reference price")
        cl = await client.new_order_single("ZZZZ", "buy", 5, "limit", price="10")
        report = await client.next_execution_report(cl)
        assert (report.ord_status, report.ord_rej_reason, report.text) == ("8", 1, "unknown symbol: ZZZZ")
    finally:
        await client.logout()


async def test_unsupported_message_and_rate_limit_keep_the_session(order_path_env: OrderPathEnv) -> None:
    client = await order_path_env.client("CLIENT5")
    try:
        await client.send("R", [(131, "Q-1"), (146, 1), (55, "AAPL")])
        reject = await client.wait_for(lambda m: m.msg_type == "j" and m.get(372) == "R")
        assert reject.get(380) == "3"
        for n in range(130):  # burst 100, 50/s: the tail is throttled
            await client.order_status(f"RATE-{n}", symbol="AAPL", side="buy")
        throttled = await client.wait_for(lambda m: m.msg_type == "j" and "rate limit" in (m.get(58) or ""))
        assert throttled.get(380) == "0" and throttled.get(372) == "H"
        await asyncio.sleep(1.0)
        await client.order_status("AFTER", symbol="AAPL", side="buy")
        answer = await client.next_execution_report("AFTER")
        assert answer.exec_type == "I" and not client.is_closed
    finally:
        await client.logout()


def kill_switch(env: OrderPathEnv, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "brokerage.cli", "kill-switch", *args], cwd=REPO,
                            env={**os.environ, "BROKERAGE_DATABASE_URL": env.database_url},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_kill_switch_cancels_working_orders_and_blocks_new_ones(order_path_env: OrderPathEnv,
                                                                      pool: asyncpg.Pool, quotes: QuoteReader) -> None:
    bid, _ = await touch(quotes, "AAPL")
    price = cents(bid * Decimal("0.9"))
    client = await order_path_env.client("CLIENT3")
    try:
        working = await client.new_order_single("AAPL", "buy", 7, "limit", price=price)
        await until_status(client, working, {"0"})
        assert "engaged" in kill_switch(order_path_env, "on", "--account", "ACC-CLIENT3", "--reason", "test")
        # the gateway cancels under a ClOrdID of its own; OrigClOrdID (41) names the client's order
        canceled = await client.wait_for(lambda m: m.msg_type == "8" and m.get(41) == working and m.get(39) == "4")
        assert canceled.get(151) == "0" and (canceled.get(11) or "").startswith("SYS-")
        refused = await client.new_order_single("AAPL", "buy", 1, "limit", price=price)
        report = await client.next_execution_report(refused)
        assert report.ord_status == "8" and report.text and report.text.startswith("kill switch")
        assert "released" in kill_switch(order_path_env, "off", "--account", "ACC-CLIENT3")
        accepted = await client.new_order_single("AAPL", "buy", 1, "limit", price=price)
        await until_status(client, accepted, {"0"})
        await client.cancel(accepted)
        events = await pool.fetch("SELECT payload->>'status' AS s FROM outbox WHERE event_type = 'risk.kill_switch' "
                                  "AND account_id = 'ACC-CLIENT3' ORDER BY seq")
        assert [e["s"] for e in events] == ["engaged", "released"]
        await asyncio.sleep(0.5)
        await check_invariants(pool)
    finally:
        await client.logout()
