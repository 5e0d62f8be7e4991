"""Orders through the whole path: FIX client → gateway (validation, risk, ledger) → exchange → back."""

from __future__ import annotations

import asyncio
import json
from decimal import ROUND_DOWN, Decimal

import asyncpg

from fixclient import FixClient
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import (
    OrderPathEnv,
    check_invariants,
    dec,
    until_final,
    until_status,
)


async def blocked(pool: asyncpg.Pool, account: str) -> Decimal:
    value: Decimal = await pool.fetchval("SELECT blocked FROM cash_balances WHERE account_id = $1", account)
    return value


async def order_row(pool: asyncpg.Pool, cl_ord_id: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM orders WHERE cl_ord_id = $1", cl_ord_id)
    assert row is not None
    return row


async def mid(quotes: QuoteReader, symbol: str) -> Decimal:
    quote = await quotes.get(symbol)
    assert quote is not None and quote.bid is not None and quote.ask is not None
    return quote.bid, quote.ask  # type: ignore[return-value]


async def sell_back(client: FixClient, symbol: str, qty: Decimal) -> None:
    """Give the market makers their shares back, so later tests find both sides of the book (a market maker
    that is short its inventory limit stops quoting asks)."""
    if qty:
        cl = await client.new_order_single(symbol, "sell", int(qty), "market")
        await until_final(client, cl)


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


async def test_resting_buy_blocks_cash_and_cancel_releases_it(order_path_env: OrderPathEnv, pool: asyncpg.Pool,
                                                              quotes: QuoteReader) -> None:
    bid, _ = await mid(quotes, "AAPL")
    price = cents(bid * Decimal("0.95"))
    client = await order_path_env.client("CLIENT1")
    try:
        before = await blocked(pool, "ACC-CLIENT1")
        cl = await client.new_order_single("AAPL", "buy", 10, "limit", price=price)
        pending = await client.next_execution_report(cl)
        assert (pending.exec_type, pending.ord_status) == ("A", "A")
        assert pending.order_id and pending.order_id != "NONE"
        new = await client.next_execution_report(cl)
        assert (new.exec_type, new.ord_status) == ("0", "0")
        assert new.leaves_qty == 10 and new.cum_qty == 0
        assert await blocked(pool, "ACC-CLIENT1") == before + price * 10
        # the audit trail: arrival quote and per-hop timestamps (audit.events contract)
        events = {r["event_type"]: json.loads(r["payload"]) for r in await pool.fetch(
            "SELECT event_type, payload FROM outbox WHERE payload->>'order_id' = $1", new.order_id)}
        accepted, acknowledged = events["order.accepted"], events["order.acknowledged"]
        assert set(accepted["ts"]) == {"received", "risk_checked", "committed"} and accepted["quote"]["bid"]
        assert accepted["actor"] == "fix:CLIENT1" and accepted["cl_ord_id"] == cl and accepted["qty"] == "10"
        assert set(acknowledged["ts"]) == {"routed", "acknowledged"} and acknowledged["status"] == "new"
        cancel = await client.cancel(cl)
        pending_cancel = await client.next_execution_report(cancel)
        assert (pending_cancel.exec_type, pending_cancel.ord_status) == ("6", "6")
        canceled = await client.next_execution_report(cancel)
        assert (canceled.exec_type, canceled.ord_status) == ("4", "4")
        assert canceled.orig_cl_ord_id == cl and canceled.leaves_qty == 0
        assert await blocked(pool, "ACC-CLIENT1") == before
        await check_invariants(pool)
    finally:
        await client.logout()


async def test_marketable_buy_fills_and_books_the_ledger(order_path_env: OrderPathEnv, pool: asyncpg.Pool,
                                                        quotes: QuoteReader) -> None:
    _, ask = await mid(quotes, "MSFT")
    price = cents(ask * Decimal("1.02"))
    client = await order_path_env.client("CLIENT2")
    holding = "SELECT coalesce(sum(qty), 0) FROM holdings WHERE account_id = 'ACC-CLIENT2' AND symbol = 'MSFT'"
    cash = "SELECT amount FROM cash_balances WHERE account_id = 'ACC-CLIENT2'"
    try:
        qty_before, cash_before = await pool.fetchval(holding), await pool.fetchval(cash)
        blocked_before = await blocked(pool, "ACC-CLIENT2")
        cl = await client.new_order_single("MSFT", "buy", 5, "limit", price=price)
        final = await until_final(client, cl)
        assert final.ord_status == "2" and final.cum_qty == 5 and final.leaves_qty == 0
        avg_px = dec(final.raw.get(6))
        assert avg_px <= price
        assert await pool.fetchval(holding) == qty_before + 5
        row = await order_row(pool, cl)
        fills = await pool.fetch("SELECT last_qty, last_px FROM executions WHERE order_id = $1 "
                                 "AND exec_type = 'trade'", row["order_id"])
        paid = sum(((f["last_qty"] * f["last_px"]).quantize(Decimal("0.0001"), ROUND_DOWN) for f in fills),
                   Decimal(0))
        assert await pool.fetchval(cash) == cash_before - paid
        assert await blocked(pool, "ACC-CLIENT2") == blocked_before
        row = await order_row(pool, cl)
        assert row["status"] == "filled" and row["reserved_cash"] == 0
        await check_invariants(pool)
    finally:
        await client.logout()


async def test_insufficient_buying_power_is_rejected_with_figures(order_path_env: OrderPathEnv,
                                                                  quotes: QuoteReader) -> None:
    bid, _ = await mid(quotes, "AAPL")
    client = await order_path_env.client("CLIENT3")
    try:
        cl = await client.new_order_single("AAPL", "buy", 90_000, "limit", price=cents(bid))
        report = await client.next_execution_report(cl)
        assert report.ord_status == "8" and report.exec_type == "8"
        assert report.ord_rej_reason in (0, 3)
        assert report.text and ("buying power" in report.text or "notional" in report.text)
    finally:
        await client.logout()


async def fill_events(pool: asyncpg.Pool, order_id: str) -> list[dict[str, str]]:
    rows = await pool.fetch("SELECT payload FROM outbox WHERE event_type = 'order.fill' "
                            "AND payload->>'order_id' = $1 ORDER BY seq", order_id)
    return [json.loads(r["payload"]) for r in rows]


async def test_partial_fills_release_the_block_proportionally(order_path_env: OrderPathEnv, pool: asyncpg.Pool,
                                                              quotes: QuoteReader) -> None:
    client = await order_path_env.client("CLIENT1")
    try:
        # F's market makers quote levels of 500 shares a few ticks apart: 1,200 shares priced 2% through the
        # ask take several levels (partial fills first, whatever the quote's lag)
        qty = 1200
        for _attempt in range(5):
            _, ask = await mid(quotes, "F")
            price = cents(ask * Decimal("1.02"))
            cl = await client.new_order_single("F", "buy", qty, "limit", price=price)
            assert (await until_status(client, cl, {"1", "2", "0", "8"})).ord_status != "8"
            await asyncio.sleep(0.5)  # let the market maker's next quote trade with what rests
            row = await order_row(pool, cl)
            cancel = await client.cancel(cl) if row["status"] in ("new", "partially_filled") else None
            if cancel:
                await until_status(client, cancel, {"4", "2"})
            events = await fill_events(pool, row["order_id"])
            if events and Decimal(events[0]["last_qty"]) < qty:
                break
        else:
            raise AssertionError("no partial fill in five attempts")
        # replay the release rule on the order's fills: each fill's block is what the rule leaves
        held, leaves = price * qty, Decimal(qty)
        for fill in events:
            qty, px = Decimal(fill["last_qty"]), Decimal(fill["last_px"])
            notional = (qty * px).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
            if qty == leaves:
                held = Decimal(0)
            else:
                pro_rata = (held * qty / leaves).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
                held -= min(held, max(notional, pro_rata))
            leaves -= qty
            assert Decimal(fill["reserved_cash"]) == held, fill
            assert Decimal(fill["leaves_qty"]) == leaves
        final = await order_row(pool, cl)
        assert final["reserved_cash"] == 0 and final["status"] in ("canceled", "filled")
        await check_invariants(pool)
        await sell_back(client, "F", final["cum_qty"])
    finally:
        await client.logout()


async def test_ioc_partial_fill_then_cancel(order_path_env: OrderPathEnv, pool: asyncpg.Pool,
                                            quotes: QuoteReader) -> None:
    client = await order_path_env.client("CLIENT2")
    try:
        # at F's ask (a $0.01 tick is ~7 bps there, so its touch rarely moves under a lagging quote): the first
        # level's 500 shares fill and the IOC cancels the rest
        for _attempt in range(10):
            _, ask = await mid(quotes, "F")
            cl = await client.new_order_single("F", "buy", 1200, "limit", price=ask, tif="ioc")
            final = await until_final(client, cl)
            if final.ord_status == "4" and final.cum_qty and final.cum_qty > 0:
                break
        else:
            raise AssertionError("no IOC partial fill in ten attempts")
        assert final.exec_type == "4" and final.leaves_qty == 0 and final.cum_qty < 1200
        row = await order_row(pool, cl)
        assert (row["status"], row["cum_qty"], row["reserved_cash"]) == ("canceled", final.cum_qty, 0)
        assert await pool.fetchval("SELECT qty FROM holdings WHERE account_id = 'ACC-CLIENT2' AND symbol = 'F'") \
            >= final.cum_qty
        await check_invariants(pool)
        await sell_back(client, "F", final.cum_qty)
    finally:
        await client.logout()
