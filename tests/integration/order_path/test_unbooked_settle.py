"""Unbooked fills: a fill the ledger refuses is kept once (``unbooked_fills`` + one ``order.fill_unbooked``
event, however often the exchange resends it); ``settle`` books it through the normal fill path exactly once
or writes it off, audited, and refuses a second settlement; ``brokerage orders unbooked --format json``
lists them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal

import asyncpg
import pytest

from gateway.oms.links import ClientLink
from gateway.oms.risk_config import RiskLimits
from gateway.oms.unbooked import AlreadySettled, SettleRefused, list_unbooked, settle
from gateway.oms.venue import VenueReports
from tests.integration.order_path.conftest import REPO
from tests.integration.order_path.venue_kit import RecordingClients, fill, market_buy

D = Decimal


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "brokerage.cli", "orders", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "BROKERAGE_DATABASE_URL": url}, check=False)


async def _count(pool: asyncpg.Pool, sql: str, *args: object) -> int:
    value: int = await pool.fetchval(sql, *args)
    return value


async def test_refused_fills_are_kept_once_and_settled_once(db_pool: asyncpg.Pool, migrated_db_url: str) -> None:
    pool = db_pool
    await pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('A1', 'cash', 'x')")
    await pool.execute("INSERT INTO cash_balances (account_id, currency, account_type, amount, blocked) "
                       "VALUES ('A1', 'USD', 'cash', 2020, 0)")
    await market_buy(pool, "O1")
    await market_buy(pool, "O2")
    clients = RecordingClients()
    venue = VenueReports(pool, clients, RiskLimits(), lanes=2)  # type: ignore[arg-type]
    venue.accounts.update({"O1": "A1", "O2": "A1"})
    try:
        # each market buy blocked 1010 at its collar; the exchange fills 10 at 110 = 1100: refused
        for seq, item in enumerate([fill("O1", "X1"), fill("O1", "X1"), fill("O2", "X2")], start=1):
            await venue._dispatch("O1", item, seq)
        await asyncio.wait_for(venue.drain(), 10)
        assert venue.handled_mark == 0  # pinned below the refused fills
        fills = await list_unbooked(pool)
        assert [(f.venue_exec_id, f.order_id, f.last_qty, f.last_px, f.state) for f in fills] == [
            ("X1", "O1", D(10), D(110), "open"), ("X2", "O2", D(10), D(110), "open")]
        assert await _count(pool, "SELECT count(*) FROM outbox WHERE event_type = 'order.fill_unbooked'") == 2

        # booking still refused by the ledger: nothing changes
        with pytest.raises(SettleRefused, match="still refuses"):
            await settle(pool, "X1", "book", "client paid the difference", "ops:alice")
        assert (await list_unbooked(pool))[0].state == "open"
        # the client pays the difference: the fill books like any other, once
        await pool.execute("UPDATE cash_balances SET amount = amount + 200 WHERE account_id = 'A1'")
        done = await settle(pool, "X1", "book", "client paid the difference", "ops:alice")
        assert not done.already_booked
        assert await _count(pool, "SELECT count(*) FROM executions WHERE venue_exec_id = 'X1' "
                                  "AND exec_type = 'trade' AND fix_fields IS NOT NULL") == 1
        assert await _count(pool, "SELECT count(*) FROM journal_entries WHERE kind = 'fill' "
                                  "AND reference = 'X1'") == 1
        row = await pool.fetchrow("SELECT status, cum_qty, reserved_cash FROM orders WHERE order_id = 'O1'")
        assert (row["status"], row["cum_qty"], row["reserved_cash"]) == ("filled", 10, 0)
        with pytest.raises(AlreadySettled, match="already settled"):
            await settle(pool, "X1", "write_off", "again", "ops:bob")
        # a running gateway sends the client the report the settlement committed (after the grace)
        await pool.execute("INSERT INTO client_report_marks (session_id, last_seq) VALUES ('CLIENT1', 0)")
        sent: list[str] = []
        link = ClientLink(lambda session, msg: sent.append(f"{msg.getField(37)}/{msg.getField(150)}") or True,
                          "BROKER", gap_grace_seconds=0)
        assert await link.send_overdue(pool) == 1 and sent == ["O1/F"]
        assert await link.send_overdue(pool) == 0  # once

        # written off: recorded with its reason; the exchange's resend is then let through
        await settle(pool, "X2", "write_off", "venue busted the trade", "ops:bob")
        with pytest.raises(AlreadySettled):
            await settle(pool, "X2", "book", "again", "ops:bob")
        for seq, item in enumerate([fill("O1", "X1"), fill("O2", "X2")], start=4):
            await venue._dispatch("O1", item, seq)
        await asyncio.wait_for(venue.drain(), 10)
        assert venue.duplicates >= 1  # X1 is in the ledger: a no-op
        assert await _count(pool, "SELECT count(*) FROM journal_entries WHERE reference = 'X1'") == 1
        assert await _count(pool, "SELECT count(*) FROM outbox WHERE event_type = 'order.fill_unbooked'") == 2
        settled = {r["x"]: r["s"] for r in await pool.fetch(
            "SELECT payload->>'venue_exec_id' AS x, payload->>'settlement' AS s FROM outbox "
            "WHERE event_type = 'order.fill_settled'")}
        assert settled == {"X1": "booked", "X2": "written_off"}
        assert await list_unbooked(pool) == []

        # the CLI lists them all, as JSON
        result = await asyncio.to_thread(_cli, migrated_db_url, "unbooked", "--all", "--format", "json")
        assert result.returncode == 0, result.stderr
        listed = {f["venue_exec_id"]: f for f in json.loads(result.stdout)}
        assert listed["X1"]["state"] == "booked" and listed["X2"]["settled_reason"] == "venue busted the trade"
        result = await asyncio.to_thread(_cli, migrated_db_url, "settle", "X1", "--book", "--reason", "twice")
        assert result.returncode == 3 and "already settled" in result.stderr
    finally:
        await venue.stop()
