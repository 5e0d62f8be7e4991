"""Ledger throughput against a real PostgreSQL: withdrawals contending on ONE account, deposits spread over
many accounts, and fills booked through the order path. Prints operations/s and latency percentiles.

    .venv/bin/python bench/ledger_throughput.py [--ops 2000] [--concurrency 16] [--accounts 64]

Uses BROKERAGE_DATABASE_URL if set (the database must be empty or disposable: the bench creates and drops
its own database beside it), otherwise starts a throw-away local server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from brokerage.services import LocalServices, free_ports
from ledger import migrate
from ledger.fills import Fill, Side
from ledger.journal_store import lock_account
from ledger.order_postings import block_reservation, post_fill
from ledger.reconcile import reconcile
from ledger.repository import LedgerRepository
from ledger.reservations import OrderReservation


async def _timed(label: str, ops: int, concurrency: int, op: Callable[[int], Awaitable[object]]) -> None:
    latencies: list[float] = []
    queue = iter(range(ops))

    async def worker() -> None:
        for n in queue:
            start = time.perf_counter()
            await op(n)
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    print(f"{label:<40} {ops / elapsed:>9.0f} ops/s   p50 {cuts[49] * 1e3:6.2f} ms   p99 {cuts[98] * 1e3:6.2f} ms")


async def run(url: str, ops: int, concurrency: int, accounts: int) -> None:
    pool = await asyncpg.create_pool(url, min_size=concurrency, max_size=concurrency)
    repo = LedgerRepository(pool)
    for n in range(accounts):
        await repo.open_account(f"B{n}", "cash", "bench")
        await repo.deposit(f"B{n}", Decimal(10**9), idempotency_key="seed", actor="bench")

    await _timed(f"withdrawals, one account, {concurrency} clients", ops, concurrency,
                 lambda n: repo.withdraw("B0", Decimal("1.25"), idempotency_key=f"w{n}", actor="bench"))
    await _timed(f"deposits over {accounts} accounts", ops, concurrency,
                 lambda n: repo.deposit(f"B{n % accounts}", Decimal("2.5"), idempotency_key=f"d{n}", actor="bench"))
    await _timed("idempotent replays", ops, concurrency,
                 lambda n: repo.deposit(f"B{n % accounts}", Decimal("2.5"), idempotency_key=f"d{n}", actor="bench"))

    async def fill(n: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            account = await lock_account(conn, f"B{n % accounts}")
            reservation = OrderReservation.for_buy(Decimal(10), Decimal("101.5"))
            await block_reservation(conn, account, "AAPL", reservation)
            await post_fill(conn, account, "AAPL", reservation, Fill(Side.BUY, Decimal(10), Decimal("101.25"), f"x{n}"))

    await _timed(f"block + fill over {accounts} accounts", ops, concurrency, fill)
    began = time.perf_counter()
    problems = await reconcile(pool)
    print(f"reconcile of the whole ledger: {len(problems)} discrepancies in {time.perf_counter() - began:.2f} s")
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--accounts", type=int, default=64)
    args = parser.parse_args()
    services = None
    server_url = os.environ.get("BROKERAGE_DATABASE_URL")
    if server_url is None:
        base = Path(tempfile.mkdtemp(prefix="brokerage-bench-"))
        os.chmod(base, 0o755)
        services = LocalServices(base, *free_ports(2), postgres=True, redis=False)
        services.start()
        assert services.postgres is not None
        server_url = services.postgres.url
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        migrate.upgrade(url)
        asyncio.run(run(url, args.ops, args.concurrency, args.accounts))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if services is not None:
            services.stop()


if __name__ == "__main__":
    main()
