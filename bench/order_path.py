"""Order path benchmark: N FIX sessions through the whole path (gateway, PostgreSQL with fsync, exchange).

    .venv/bin/python bench/order_path.py [--sessions 8] [--rate 1000] [--seconds 10] [--window 100]

Starts its own PostgreSQL and Redis (temp dir), the exchange and the gateway as processes; drives the
sessions with the project's fixclient (simplefix asyncio). Prints, for a run paced at ``--rate`` orders/s
and a run at the maximum rate (each session keeps ``--window`` orders in flight): full-lifecycle orders/s
(new → ack → fill), ack latency (NewOrderSingle sent → PendingNew received) and fill latency (→ the
filling ExecutionReport) percentiles; then pgbench (tpcb-like, scale 10, 8 clients) against the same
server and our orders/s ÷ pgbench tps. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import asyncpg

from brokerage.services import LocalServices, free_port, wait_until_listening
from fixclient import FixClient
from ledger import migrate
from ledger.provisioning import ensure_fix_session
from ledger.repository import LedgerRepository
from refdata.instruments import universe_by_symbol

REPO = Path(__file__).resolve().parent.parent
SYMBOLS = ("AAPL", "MSFT", "INTC", "CSCO", "PEP")
WARMUP_QTY = 3000


def wait_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    wait_until_listening(port, process, what, timeout=timeout)


@dataclass
class Stats:
    sent: dict[str, float] = field(default_factory=dict)
    acks: list[float] = field(default_factory=list)
    fills: list[float] = field(default_factory=list)
    rejects: int = 0
    done: int = 0
    first_sent: float = 0.0
    last_done: float = 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Session:
    def __init__(self, client: FixClient, comp_id: str, prices: dict[str, Decimal]) -> None:
        self.client, self.comp_id, self.prices = client, comp_id, prices
        self.stats = Stats()
        self.outstanding = 0
        self.counter = 0
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.client.messages():
            if message.msg_type != "8":
                continue
            cl = message.get(11) or ""
            sent = self.stats.sent.get(cl)
            if sent is None:
                continue
            now = time.perf_counter()
            exec_type, status = message.get(150), message.get(39)
            if exec_type == "A":
                self.stats.acks.append(now - sent)
            if status in ("2", "4", "8", "C"):
                if status == "2":
                    self.stats.fills.append(now - sent)
                else:
                    self.stats.rejects += 1
                self.stats.done += 1
                self.stats.last_done = now
                self.outstanding -= 1
                del self.stats.sent[cl]
                self.changed.set()

    async def order(self, symbol: str, side: str, qty: int) -> None:
        self.counter += 1
        cl = f"{self.comp_id}-{self.counter}"
        ref = self.prices[symbol]
        price = (ref * (Decimal("1.2") if side == "buy" else Decimal("0.8"))).quantize(Decimal("0.01"))
        now = time.perf_counter()
        if not self.stats.first_sent:
            self.stats.first_sent = now
        self.stats.sent[cl] = now
        self.outstanding += 1
        await self.client.new_order_single(symbol, side, qty, "limit", price=price, cl_ord_id=cl, tif="ioc")

    def reset(self) -> None:
        self.stats = Stats()


async def run_paced(sessions: list[Session], rate: float, seconds: float) -> None:
    tick = 0.01
    per_tick = rate * tick
    owed = 0.0
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        owed += per_tick
        while owed >= 1:
            owed -= 1
            s = sessions[n % len(sessions)]
            await s.order(SYMBOLS[n % len(SYMBOLS)], "buy" if (n // len(sessions)) % 2 == 0 else "sell", 1)
            n += 1
        next_at = start + (n / rate)
        await asyncio.sleep(max(0.0, min(tick, next_at - time.perf_counter())))


async def run_window(sessions: list[Session], window: int, seconds: float) -> None:
    stop = time.perf_counter() + seconds

    async def drive(s: Session, offset: int) -> None:
        n = offset
        while time.perf_counter() < stop:
            while s.outstanding < window and time.perf_counter() < stop:
                await s.order(SYMBOLS[n % len(SYMBOLS)], "buy" if n % 2 == 0 else "sell", 1)
                n += 1
            s.changed.clear()
            with contextlib.suppress(TimeoutError):  # a report may have landed before clear()
                await asyncio.wait_for(s.changed.wait(), 0.05)

    await asyncio.gather(*(drive(s, i) for i, s in enumerate(sessions)))


async def settle(sessions: list[Session], seconds: float = 180) -> None:
    """Until every order sent has finished (or ``seconds`` pass)."""
    deadline = time.perf_counter() + seconds
    while any(s.outstanding > 0 for s in sessions) and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


def report(name: str, sessions: list[Session]) -> float:
    acks = [a for s in sessions for a in s.stats.acks]
    fills = [f for s in sessions for f in s.stats.fills]
    done = sum(s.stats.done for s in sessions)
    rejects = sum(s.stats.rejects for s in sessions)
    first = min((s.stats.first_sent for s in sessions if s.stats.first_sent), default=0.0)
    last = max(s.stats.last_done for s in sessions)
    rate = len(fills) / (last - first) if last > first else 0.0
    unfinished = sum(s.outstanding for s in sessions)
    ms = 1000.0
    print(f"{name}: {done} orders finished ({len(fills)} filled, {rejects} not filled) in {last - first:.1f} s "
          f"→ {rate:.0f} full-lifecycle orders/s" + (f" ({unfinished} still unfinished)" if unfinished else ""))
    print(f"  ack  latency ms p50 {percentile(acks, .5) * ms:.2f}  p99 {percentile(acks, .99) * ms:.2f}  "
          f"p99.9 {percentile(acks, .999) * ms:.2f}")
    print(f"  fill latency ms p50 {percentile(fills, .5) * ms:.2f}  p99 {percentile(fills, .99) * ms:.2f}  "
          f"p99.9 {percentile(fills, .999) * ms:.2f}")
    return rate


def pgbench(services: LocalServices, seconds: int) -> float:
    pg = services.postgres
    assert pg is not None
    env = {**os.environ, "PGPASSWORD": ""}
    base = ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "brokerage"]
    subprocess.run([str(pg.bin_dir / "createdb"), *base, "pgbench"], env=env, capture_output=True)
    subprocess.run([str(pg.bin_dir / "pgbench"), *base, "-i", "-q", "-s", "10", "pgbench"], env=env,
                   check=True, capture_output=True)
    out = subprocess.run([str(pg.bin_dir / "pgbench"), *base, "-c", "8", "-j", "2", "-T", str(seconds),
                          "pgbench"], env=env, check=True, capture_output=True, text=True).stdout
    match = re.search(r"tps = ([\d.]+)", out)
    return float(match.group(1)) if match else float("nan")


async def provision(url: str, sessions: int) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        repo = LedgerRepository(pool)
        for n in range(1, sessions + 1):
            account = f"ACC-BENCH{n}"
            await repo.open_account(account, "cash", f"Bench {n}")
            await repo.deposit(account, Decimal("1000000000"), idempotency_key=f"bench-{n}", actor="bench")
            await ensure_fix_session(pool, f"BENCH{n}", f"bench{n}", [account])
    finally:
        await pool.close()


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-order-path-"))
    os.chmod(root, 0o755)
    services = LocalServices(root, free_port(), free_port())
    processes: list[subprocess.Popen[bytes]] = []
    try:
        services.start()
        assert services.postgres is not None and services.redis is not None
        url = services.postgres.url
        await asyncio.to_thread(migrate.upgrade, url)
        await provision(url, args.sessions)
        exchange_port, fix_port = free_port(), free_port()
        env = {**os.environ, "BROKERAGE_DATABASE_URL": url, "BROKERAGE_REDIS_URL": services.redis.url,
               "BROKERAGE_EXCHANGE_PORT": str(exchange_port), "BROKERAGE_FIX_PORT": str(fix_port),
               "BROKERAGE_FIX_RATE_LIMIT_PER_SECOND": "1000000", "BROKERAGE_FIX_RATE_LIMIT_BURST": "1000000",
               "BROKERAGE_FIX_APP_MESSAGES_PER_SECOND": "1000000", "BROKERAGE_FIX_APP_BURST": "1000000",
               "BROKERAGE_FIX_MAX_PENDING_MESSAGES": "1000000",
               "BROKERAGE_RISK_MAX_OPEN_ORDERS": "100000", "BROKERAGE_LOG_LEVEL": "WARNING",
               "BROKERAGE_EXCHANGE_RECONNECT_SECONDS": "1"}
        for name, command, port in (
            ("exchange", [sys.executable, "-m", "brokerage.cli", "exchange", "--port", str(exchange_port),
                          "--seed", "3", "--symbols", ",".join(SYMBOLS), "--taker-probability", "0"], exchange_port),
            ("gateway", [sys.executable, "-m", "brokerage.commands.gateway"], fix_port),
        ):
            data = root / name
            data.mkdir()
            log = (data / f"{name}.log").open("wb")
            processes.append(subprocess.Popen(command, cwd=REPO,  # noqa: ASYNC220  (started once, before timing)
                                              env={**env, "BROKERAGE_DATA_DIR": str(data)},
                                              stdout=log, stderr=subprocess.STDOUT))
            wait_port(port, processes[-1], name)
        await asyncio.sleep(2)  # exchange link logon and recovery
        universe = universe_by_symbol()
        prices = {s: universe[s].reference_price for s in SYMBOLS}
        sessions = []
        for n in range(1, args.sessions + 1):
            client = await FixClient.connect("127.0.0.1", fix_port, f"BENCH{n}", "BROKER", password=f"bench{n}")
            await client.logon()
            sessions.append(Session(client, f"BENCH{n}", prices))
        for s in sessions:  # inventory to sell from, so the flow alternates buys and sells
            for symbol in SYMBOLS:
                await s.order(symbol, "buy", WARMUP_QTY // args.sessions)
        await settle(sessions)
        for s in sessions:
            s.reset()
        print(f"order path: {args.sessions} sessions, {len(SYMBOLS)} symbols, IOC limit orders of 1 share, "
              f"PostgreSQL fsync on, {os.cpu_count()} CPUs shared")
        await run_paced(sessions, args.rate, args.seconds)
        await settle(sessions)
        report(f"paced at {args.rate:.0f} orders/s", sessions)
        for s in sessions:
            s.reset()
        await run_window(sessions, args.window, args.seconds)
        await settle(sessions)
        best = report(f"maximum rate (window {args.window} per session)", sessions)
        for s in sessions:
            s.reader.cancel()
            await s.client.logout()
        tps = await asyncio.to_thread(pgbench, services, int(args.seconds))
        print(f"pgbench tpcb-like scale 10, 8 clients, {args.seconds:.0f} s: {tps:.0f} tps")
        print(f"order path ÷ pgbench: {best / tps:.2f} (target ≥ 2)")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
        services.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--window", type=int, default=100)
    asyncio.run(main(parser.parse_args()))
