"""Halts on real processes: an operator halt survives a gateway restart (orders still refused, with the
halt's reason) and `brokerage halt off` resumes; a circuit breaker halt resumes by itself after its window."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import asyncpg

from fixclient import FixClient
from tests.integration.halts_margin.conftest import brokerage
from tests.integration.order_path.conftest import SYMBOLS, OrderPathEnv, until_status
from tests.integration.order_path.test_margin_and_halts import Feed, eventually


async def buy_one(client: FixClient, feed: Feed) -> tuple[str | None, str | None]:
    """A 1-share AAPL limit buy at the bid: (its OrdStatus, its Text) once answered."""
    quote = await feed.market.get("AAPL")
    assert quote is not None and quote.bid is not None
    price = (quote.bid * Decimal("0.95")).quantize(Decimal("0.01"))  # rests; inside the collar even 8% down
    cl = await client.new_order_single("AAPL", "buy", 1, "limit", price=price)
    report = await until_status(client, cl, {"0", "1", "2", "8"}, timeout=20)
    return report.ord_status, report.text


async def test_operator_halt_survives_a_gateway_restart_and_halt_off_resumes(
        halt_env: tuple[OrderPathEnv, str], feed: Feed, db: asyncpg.Pool) -> None:
    env, _ = halt_env
    assert "trading halted" in brokerage(env, "halt", "on", "--reason", "venue maintenance")
    client = await env.client("CLIENT1")
    try:
        status, text = await buy_one(client, feed)
        assert status == "8" and text == "trading halt: operator halt: venue maintenance; no new orders"
    finally:
        await client.logout()
    env.kill_gateway()  # kill -9 mid-halt
    env.start_gateway()
    client = await env.client("CLIENT1")
    try:
        status, text = await buy_one(client, feed)
        assert status == "8" and text is not None and "operator halt: venue maintenance" in text
        assert "venue maintenance" in brokerage(env, "halt", "status")
        assert "trading resumed (1 halt ended)" in brokerage(env, "halt", "off", "--reason", "done")
        status, text = await buy_one(client, feed)
        assert status in {"0", "1", "2"}, text
    finally:
        await client.logout()
    events = await db.fetch("SELECT payload->>'status' AS status, payload->>'actor' AS actor FROM outbox "
                            "WHERE event_type = 'risk.halt' ORDER BY seq")
    assert [(e["status"], e["actor"]) for e in events][-2:] == [("halted", "cli:halt"), ("resumed", "cli:halt")]


async def test_circuit_breaker_halt_resumes_by_itself_after_its_window(
        halt_env: tuple[OrderPathEnv, str], feed: Feed, db: asyncpg.Pool) -> None:
    env, _ = halt_env
    client = await env.client("CLIENT1")
    try:
        true = await feed.market.get_many(list(SYMBOLS))
        for symbol, quote in true.items():  # the index 8% under its previous close: level 1
            assert quote.mark is not None
            feed.override[symbol] = replace(quote, prev_close=quote.mark, last=quote.mark * Decimal("0.92"))
        await feed.publish()
        await eventually(lambda: db.fetchval("SELECT engaged FROM trading_controls WHERE name = 'halt'"))
        halt = await db.fetchrow("SELECT level, actor, started_at, ends_at FROM market_halts "
                                 "WHERE kind = 'circuit_breaker' ORDER BY halt_id DESC LIMIT 1")
        assert halt is not None and (halt["level"], halt["actor"]) == (1, "system:circuit_breaker")
        assert (halt["ends_at"] - halt["started_at"]).total_seconds() == 4
        status, text = await buy_one(client, feed)
        if status == "8":  # unless the short window was already over (a slow machine)
            assert text is not None and "circuit breaker level 1" in text
        await eventually(lambda: db.fetchval("SELECT NOT engaged FROM trading_controls WHERE name = 'halt'"),
                         timeout=30)
        assert await db.fetchval("SELECT ended_by FROM market_halts WHERE kind = 'circuit_breaker' "
                                 "ORDER BY halt_id DESC LIMIT 1") == "system:circuit_breaker"
        status, text = await buy_one(client, feed)  # still 8% down: level 1 does not halt twice a day
        assert status in {"0", "1", "2"}, text
    finally:
        feed.override.clear()
        await client.logout()
