"""What a group-commit transaction of ONE order costs as five round trips, as four and as two (pipelined).

    .venv/bin/python bench/transaction_round_trips.py [--transactions 3000] [--sessions 1] [--rounds 3] [--variants ...]

At low rates every gateway transaction carries one order or one report, and its cost follows the round trips
it makes: each wakes the gateway's event loop and a PostgreSQL backend (docs/perf/order-path-cpu.md,
"Wake-ups"). The gateway's transactions (``gateway.oms.batch.group_commit``) make five with asyncpg: BEGIN with
``SET LOCAL`` / lock the account / read the risk state / write everything (one statement) / COMMIT. asyncpg
waits for each statement's answer before it sends the next; libpq's pipeline mode (psycopg 3) does not, so the
same transaction can go in two: BEGIN, SET LOCAL, lock and read sent together (PostgreSQL still runs them one
after the other, and under READ COMMITTED the read takes its snapshot after the lock is granted, as it does
now), the answers read, the decision made in Python, then write and COMMIT together. ``asyncpg-4`` stays with
asyncpg and saves one round trip another way: the account lock goes in BEGIN's simple query (the account id
as a quoted literal; the lock's rows are not returned), and the read, which runs after it, returns the
account's columns.

Each variant runs the same statements on the same kind of rows (a throw-away database on a local server,
fsync on): ``asyncpg-5`` as the gateway does today, ``psycopg-5`` (the library without pipelining: its own
overhead) and ``psycopg-pipelined-2``. ``--sessions`` workers run at once, each on its own account and
connection, one transaction after the other (batch size one, like the order path at a low rate). Variants
are alternated for ``--rounds`` rounds; each prints transactions/s, latency p50/p99, and per transaction the
CPU of this process and of PostgreSQL (from /proc) and their context switches; then the median per variant.
A feasibility measurement for a change of driver, not the order path itself. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from brokerage.services import LocalServices, free_ports

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: bench.proc_cpu

from bench.proc_cpu import tree_cpu, tree_switches  # noqa: E402
from gateway.oms.batch import GROUP_COMMIT_BEGIN, GROUP_COMMIT_SETTINGS  # noqa: E402

SCHEMA = """
CREATE TABLE accounts (account_id text PRIMARY KEY, status text NOT NULL, cash numeric NOT NULL,
                       blocked numeric NOT NULL);
CREATE TABLE orders (order_id text PRIMARY KEY, account_id text NOT NULL REFERENCES accounts, symbol text NOT NULL,
                     qty numeric NOT NULL, price numeric NOT NULL, created timestamptz NOT NULL DEFAULT now());
CREATE INDEX orders_account ON orders (account_id, created);
CREATE TABLE executions (seq bigserial PRIMARY KEY, exec_id text UNIQUE NOT NULL,
                         order_id text NOT NULL REFERENCES orders, exec_type text NOT NULL);
"""
BEGIN = GROUP_COMMIT_BEGIN  # the gateway's own: BEGIN with its SET LOCALs, one round trip
LOCK = "SELECT account_id, status FROM accounts WHERE account_id = $1 FOR UPDATE"
# asyncpg-4: the lock in BEGIN's round trip; the read (a statement later, so after the lock) returns the status
LOCK_LITERAL = "SELECT 1 FROM accounts WHERE account_id = {} FOR UPDATE"
READ_LOCKED = ("SELECT a.status, a.cash, a.blocked, (SELECT count(*) FROM orders o WHERE o.account_id = a.account_id "
               "AND o.created > now() - interval '1 day') AS today FROM accounts a WHERE a.account_id = $1")
READ = ("SELECT a.cash, a.blocked, (SELECT count(*) FROM orders o WHERE o.account_id = a.account_id "
        "AND o.created > now() - interval '1 day') AS today FROM accounts a WHERE a.account_id = $1")
# the order, its report and the cash block in one statement, as the gateway's flush writes a batch
WRITE = ("WITH o AS (INSERT INTO orders (order_id, account_id, symbol, qty, price) VALUES ($1, $2, 'AAPL', $3, $4) "
         "RETURNING order_id), b AS (UPDATE accounts SET blocked = blocked + $3 * $4 WHERE account_id = $2) "
         "INSERT INTO executions (exec_id, order_id, exec_type) SELECT $5, order_id, 'A' FROM o RETURNING seq")


def _psycopg(query: str) -> str:
    """The same statement with psycopg's placeholders."""
    for n in range(5, 0, -1):
        query = query.replace(f"${n}", f"%(p{n})s")
    return query


@dataclass
class Totals:
    latencies: list[float]
    seconds: float


Unit = Callable[[str, int], Awaitable[None]]


def _literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings is on: only the quote is special)."""
    return "'" + text.replace("'", "''") + "'"


async def asyncpg_sessions(url: str, sessions: int, lock_in_begin: bool = False,
                           ) -> tuple[list[Unit], Callable[[], Awaitable[None]]]:
    conns = [await asyncpg.connect(url, statement_cache_size=100) for _ in range(sessions)]

    def unit_of(conn: asyncpg.Connection) -> Unit:
        async def unit(account: str, n: int) -> None:
            if lock_in_begin:
                await conn.execute(f"{BEGIN}; {LOCK_LITERAL.format(_literal(account))}")
            else:
                await conn.execute(BEGIN)
            try:
                if lock_in_begin:
                    state = await conn.fetchrow(READ_LOCKED, account)
                    status = state["status"] if state is not None else None
                else:
                    locked = await conn.fetchrow(LOCK, account)
                    state = await conn.fetchrow(READ, account)
                    status = locked["status"] if locked is not None else None
                assert state is not None and status == "active"
                qty, price = Decimal(1), Decimal("100.25")
                assert state["cash"] - state["blocked"] >= qty * price
                await conn.fetch(WRITE, f"{account}-{n}", account, qty, price, f"E{account}-{n}")
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        return unit

    async def close() -> None:
        for conn in conns:
            await conn.close()
    return [unit_of(conn) for conn in conns], close


async def psycopg_sessions(url: str, sessions: int, pipelined: bool,
                           ) -> tuple[list[Unit], Callable[[], Awaitable[None]]]:
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True, prepare_threshold=0)
             for _ in range(sessions)]
    lock, read, write = _psycopg(LOCK), _psycopg(READ), _psycopg(WRITE)

    def unit_of(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> Unit:
        async def plain(account: str, n: int) -> None:
            await conn.execute(BEGIN, prepare=False)  # no parameters: the simple protocol, both in one trip
            try:
                locked = await (await conn.execute(lock, {"p1": account})).fetchone()
                state = await (await conn.execute(read, {"p1": account})).fetchone()
                assert locked is not None and state is not None and locked[1] == "active"
                qty, price = Decimal(1), Decimal("100.25")
                assert state[0] - state[1] >= qty * price  # type: ignore[operator]
                await (await conn.execute(write, {"p1": f"{account}-{n}", "p2": account, "p3": qty, "p4": price,
                                                  "p5": f"E{account}-{n}"})).fetchall()
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise

        async def pipelined_unit(account: str, n: int) -> None:
            try:
                async with conn.pipeline() as pipeline:
                    await conn.execute("BEGIN")
                    for name, value in GROUP_COMMIT_SETTINGS.items():
                        await conn.execute(f"SET LOCAL {name} = {value}")
                    locked_cur = await conn.execute(lock, {"p1": account})
                    read_cur = await conn.execute(read, {"p1": account})
                    await pipeline.sync()  # round trip 1: BEGIN, SET LOCAL, lock, read
                    locked = await locked_cur.fetchone()
                    state = await read_cur.fetchone()
                    assert locked is not None and state is not None and locked[1] == "active"
                    qty, price = Decimal(1), Decimal("100.25")
                    assert state[0] - state[1] >= qty * price  # type: ignore[operator]
                    written = await conn.execute(write, {"p1": f"{account}-{n}", "p2": account, "p3": qty,
                                                         "p4": price, "p5": f"E{account}-{n}"})
                    await conn.execute("COMMIT")
                    await pipeline.sync()  # round trip 2: write, COMMIT
                    await written.fetchall()
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
        return pipelined_unit if pipelined else plain

    async def close() -> None:
        for conn in conns:
            await conn.close()
    return [unit_of(conn) for conn in conns], close


VARIANTS = ("asyncpg-5", "asyncpg-4", "psycopg-5", "psycopg-pipelined-2")


async def run_variant(variant: str, url: str, sessions: int, transactions: int, postgres_pid: int,
                      round_no: int) -> dict[str, float]:
    if variant.startswith("asyncpg"):
        units, close = await asyncpg_sessions(url, sessions, lock_in_begin=variant == "asyncpg-4")
    else:
        units, close = await psycopg_sessions(url, sessions, pipelined=variant.endswith("-2"))
    accounts = [f"R{round_no}-{variant}-{s}" for s in range(sessions)]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        for account in accounts:
            await admin.execute("INSERT INTO accounts VALUES (%s, 'active', 1e12, 0)", (account,))
    try:
        for unit, account in zip(units, accounts, strict=True):  # warm up: prepared statements, caches
            for n in range(50):
                await unit(account, -1 - n)
        groups = {"client": [os.getpid()], "postgres": [postgres_pid]}
        cpu0, woken0 = tree_cpu(groups, alone=frozenset({"client"})), tree_switches(groups, frozenset({"client"}))
        latencies: list[float] = []
        per_session = transactions // sessions

        async def worker(unit: Unit, account: str) -> None:
            for n in range(per_session):
                began = time.perf_counter()
                await unit(account, n)
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(worker(unit, account) for unit, account in zip(units, accounts, strict=True)))
        elapsed = time.perf_counter() - began
        cpu1, woken1 = tree_cpu(groups, alone=frozenset({"client"})), tree_switches(groups, frozenset({"client"}))
    finally:
        await close()
    done = len(latencies)
    cuts = statistics.quantiles(latencies, n=100)
    out = {"rate": done / elapsed, "p50": cuts[49] * 1e3, "p99": cuts[98] * 1e3,
           "client": (cpu1["client"] - cpu0["client"]) * 1e6 / done,
           "postgres": (cpu1["postgres"] - cpu0["postgres"]) * 1e6 / done,
           "client_switches": (woken1["client"] - woken0["client"]) / done,
           "postgres_switches": (woken1["postgres"] - woken0["postgres"]) / done}
    print(f"  {variant:<20} {out['rate']:7.0f} tx/s  p50 {out['p50']:5.2f} ms  p99 {out['p99']:5.2f} ms  "
          f"CPU µs per tx: client {out['client']:5.0f}  PostgreSQL {out['postgres']:5.0f}  "
          f"total {out['client'] + out['postgres']:5.0f}   context switches per tx: client "
          f"{out['client_switches']:4.1f}  PostgreSQL {out['postgres_switches']:4.1f}", flush=True)
    return out


async def run(url: str, postgres_pid: int, args: argparse.Namespace) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        await admin.execute(SCHEMA)
    print(f"transaction round trips: {args.sessions} session(s), {args.transactions} transactions per variant and "
          f"round, batch size one, PostgreSQL fsync on, {os.cpu_count()} CPUs shared, load {os.getloadavg()[0]:.1f}")
    variants = tuple(args.variants.split(","))
    results: dict[str, list[dict[str, float]]] = {variant: [] for variant in variants}
    for round_no in range(1, args.rounds + 1):
        print(f"round {round_no}:")
        order = variants if round_no % 2 else tuple(reversed(variants))  # alternate who goes first
        for variant in order:
            results[variant].append(
                await run_variant(variant, url, args.sessions, args.transactions, postgres_pid, round_no))
    print(f"median of {args.rounds} round(s):")
    for variant, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(f"  {variant:<20} {med['rate']:7.0f} tx/s  p50 {med['p50']:5.2f} ms  p99 {med['p99']:5.2f} ms  "
              f"CPU µs per tx: client {med['client']:5.0f}  PostgreSQL {med['postgres']:5.0f}  "
              f"total {med['client'] + med['postgres']:5.0f}   context switches per tx: client "
              f"{med['client_switches']:4.1f}  PostgreSQL {med['postgres_switches']:4.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = parser.parse_args()
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(sorted(unknown))}: choose from {', '.join(VARIANTS)}")
    base = Path(tempfile.mkdtemp(prefix="brokerage-bench-"))
    os.chmod(base, 0o755)
    services = LocalServices(base, *free_ports(2), postgres=True, redis=False)
    services.start()
    try:
        assert services.postgres is not None
        postgres_pid = services.postgres.pid()
        assert postgres_pid is not None
        server_url = services.postgres.url
        name = f"bench_{uuid.uuid4().hex[:8]}"
        admin = make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
        asyncio.run(run(url, postgres_pid, args))
    finally:
        services.stop()


if __name__ == "__main__":
    main()
