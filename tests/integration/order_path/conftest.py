"""The whole order path as real processes: exchange, market data ingestor and gateway on free ports,
a PostgreSQL database cloned from the migrated template and seeded with the demo accounts, Redis quotes.

One environment for the package (starting the processes costs seconds; modules that need other settings
build their own): tests check invariants that hold whatever ran before them, and read the figures they
compare against from the ledger rather than assuming a fresh account.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

import asyncpg
import pytest

from fixclient import FixClient
from fixclient.messages import ExecutionReport
from ledger.reconcile import reconcile
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.system import (  # noqa: F401 -- re-exported: other folders import them from here
    PASSWORDS,
    REPO,
    SYMBOLS,
    OrderPathEnv,
    _redis_db,
    _stop,
    _wait_port,
    ledger_pool,
    quote_reader,
    running_system,
    wait_for_quotes,
)

if TYPE_CHECKING:
    from tests.conftest import TestServers

TERMINAL = {"2", "4", "8", "C"}
OPEN = "'pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace'"


@pytest.fixture(scope="package")
def order_path_env(test_servers: TestServers, ledger_template_db: str,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderPathEnv]:
    with running_system(test_servers, ledger_template_db, tmp_path_factory.mktemp("order_path"), 7) as env:
        yield env


@pytest.fixture
async def pool(order_path_env: OrderPathEnv) -> AsyncIterator[asyncpg.Pool]:  # also imported by tests/e2e
    async with ledger_pool(order_path_env.database_url) as created:
        yield created


@pytest.fixture
async def quotes(order_path_env: OrderPathEnv) -> AsyncIterator[QuoteReader]:  # also imported by tests/e2e
    async with quote_reader(order_path_env.redis_url) as reader:
        yield reader


async def until_final(client: FixClient, cl_ord_id: str, timeout: float = 10) -> ExecutionReport:  # noqa: ASYNC109
    """Reports for ``cl_ord_id`` until one with a terminal OrdStatus (returned)."""
    deadline = time.monotonic() + timeout
    while True:
        report = await client.next_execution_report(cl_ord_id, timeout=max(0.1, deadline - time.monotonic()))
        if report.ord_status in TERMINAL:
            return report


async def until_status(client: FixClient, cl_ord_id: str, statuses: set[str], timeout: float = 10,  # noqa: ASYNC109
                       ) -> ExecutionReport:
    deadline = time.monotonic() + timeout
    while True:
        report = await client.next_execution_report(cl_ord_id, timeout=max(0.1, deadline - time.monotonic()))
        if report.ord_status in statuses:
            return report


async def check_invariants(pool: asyncpg.Pool) -> None:
    """What must hold after any sequence of events: blocks equal the open orders' reservations, the journal
    replays to the balances, cash accounts never negative, each venue ExecID booked once."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(f"""
            SELECT c.account_id, c.blocked,
                   coalesce((SELECT sum(reserved_cash) FROM orders o WHERE o.account_id = c.account_id
                             AND o.status IN ({OPEN})),
                            0) AS reserved
            FROM cash_balances c""")
        for row in rows:
            assert row["blocked"] == row["reserved"], dict(row)
        rows = await conn.fetch(f"""
            SELECT h.account_id, h.symbol, h.blocked_qty,
                   coalesce((SELECT sum(reserved_qty) FROM orders o WHERE o.account_id = h.account_id
                             AND o.symbol = h.symbol
                             AND o.status IN ({OPEN})),
                            0) AS reserved
            FROM holdings h""")
        for row in rows:
            assert row["blocked_qty"] == row["reserved"], dict(row)
        finished = await conn.fetchval(
            "SELECT count(*) FROM orders WHERE status IN ('filled','canceled','rejected','expired') "
            "AND (reserved_cash <> 0 OR reserved_qty <> 0)")
        assert finished == 0
        negative = await conn.fetch(
            "SELECT account_id, amount FROM cash_balances WHERE account_type = 'cash' AND amount < 0")
        assert not negative
        fills = await conn.fetchval("SELECT count(*) FROM executions WHERE exec_type = 'trade'")
        entries = await conn.fetchval("SELECT count(*) FROM journal_entries WHERE kind = 'fill'")
        assert fills == entries
        qty = await conn.fetch("""
            SELECT o.order_id, o.cum_qty, coalesce(sum(e.last_qty), 0) AS filled FROM orders o
            LEFT JOIN executions e ON e.order_id = o.order_id AND e.exec_type = 'trade'
            GROUP BY o.order_id HAVING o.cum_qty <> coalesce(sum(e.last_qty), 0)""")
        assert not qty, [dict(r) for r in qty]
    assert await reconcile(pool) == []


def dec(value: str | None) -> Decimal:
    assert value is not None
    return Decimal(value)
