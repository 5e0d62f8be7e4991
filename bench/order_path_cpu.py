"""CPU per order lifecycle, per process (gateway, exchange, PostgreSQL, Redis, this client), from /proc.

    .venv/bin/python bench/order_path_cpu.py [--sessions 8] [--orders 3000] [--window 50] [--runs 3]
                                              [--py-spy OUT.txt] [--env KEY=VALUE ...]

The same set-up as ``bench/order_path.py`` (own PostgreSQL with fsync, Redis, exchange and gateway processes,
IOC limit orders of one share that fill at once), but it counts instead of timing: each run sends ``--orders``
NewOrderSingles (each session keeps ``--window`` in flight), waits until every one has finished, and divides
the CPU time (utime + stime, every thread, children included) each process spent during the run by the
number of full lifecycles (new → ack → fill applied to the ledger). On a shared machine wall-clock figures
move with the neighbours; CPU per lifecycle does not (much). Prints each run, with each process's context
switches per lifecycle (how often a lifecycle wakes its threads) and CPU per switch, and the median of the runs.

``--py-spy OUT``: sample the gateway with py-spy (200 Hz, raw collapsed stacks) during the last run.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import asyncpg

from brokerage.services import LocalServices, free_ports, wait_until_listening
from fixclient import FixClient
from ledger import migrate
from ledger.provisioning import ensure_fix_session
from ledger.repository import LedgerRepository
from refdata.instruments import universe_by_symbol

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: bench.proc_cpu

from bench.proc_cpu import thread_cpu, tree_cpu, tree_switches  # noqa: E402

SYMBOLS = ("AAPL", "MSFT", "INTC", "CSCO", "PEP")
CLIENT = "client"


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far per process (with its children; this client alone, not the profilers it starts)."""
    return tree_cpu({name: [pid] for name, pid in pids.items() if pid}, alone=frozenset({CLIENT}))


def switches_of(pids: dict[str, int]) -> dict[str, int]:
    """Context switches so far per process, grouped as ``cpu_of`` groups CPU."""
    return tree_switches({name: [pid] for name, pid in pids.items() if pid}, alone=frozenset({CLIENT}))


class Session:
    def __init__(self, client: FixClient, comp_id: str, prices: dict[str, Decimal]) -> None:
        self.client, self.comp_id, self.prices = client, comp_id, prices
        self.outstanding = 0
        self.counter = 0
        self.filled = 0
        self.other = 0
        self.sent: set[str] = set()
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.client.messages():
            if message.msg_type != "8":
                continue
            cl = message.get(11) or ""
            status = message.get(39)
            if cl in self.sent and status in ("2", "4", "8", "C"):
                self.sent.discard(cl)
                if status == "2":
                    self.filled += 1
                else:
                    self.other += 1
                self.outstanding -= 1
                self.changed.set()

    async def order(self, symbol: str, side: str, qty: int) -> None:
        self.counter += 1
        cl = f"{self.comp_id}-{self.counter}"
        ref = self.prices[symbol]
        price = (ref * (Decimal("1.2") if side == "buy" else Decimal("0.8"))).quantize(Decimal("0.01"))
        self.sent.add(cl)
        self.outstanding += 1
        await self.client.new_order_single(symbol, side, qty, "limit", price=price, cl_ord_id=cl, tif="ioc")


async def drive(sessions: list[Session], orders: int, window: int) -> None:
    per = max(1, orders // len(sessions))

    async def one(s: Session, offset: int) -> None:
        n = 0
        while n < per:
            while s.outstanding < window and n < per:
                k = n + offset
                await s.order(SYMBOLS[k % len(SYMBOLS)], "buy" if k % 2 == 0 else "sell", 1)
                n += 1
            s.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(s.changed.wait(), 0.05)

    await asyncio.gather(*(one(s, i) for i, s in enumerate(sessions)))


async def settle(sessions: list[Session], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while any(s.outstanding > 0 for s in sessions) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)


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
    root = Path(tempfile.mkdtemp(prefix="bench-order-cpu-"))
    os.chmod(root, 0o755)
    services = LocalServices(root, *free_ports(2))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        services.start()
        assert services.postgres is not None and services.redis is not None
        url = services.postgres.url
        await asyncio.to_thread(migrate.upgrade, url)
        await provision(url, args.sessions)
        exchange_port, fix_port = free_ports(2)
        env = {**os.environ, "BROKERAGE_DATABASE_URL": url, "BROKERAGE_REDIS_URL": services.redis.url,
               "BROKERAGE_EXCHANGE_PORT": str(exchange_port), "BROKERAGE_FIX_PORT": str(fix_port),
               "BROKERAGE_FIX_RATE_LIMIT_PER_SECOND": "1000000", "BROKERAGE_FIX_RATE_LIMIT_BURST": "1000000",
               "BROKERAGE_RISK_MAX_OPEN_ORDERS": "100000", "BROKERAGE_LOG_LEVEL": "WARNING",
               "BROKERAGE_EXCHANGE_RECONNECT_SECONDS": "1"}
        env.update(dict(item.split("=", 1) for item in args.env))

        def profiled(name: str) -> list[str]:
            return [str(REPO / "bench" / "cpu_profiled.py"), args.yappi] if args.yappi and name == args.yappi_process \
                else []
        for name, command, port in (
            ("exchange", [sys.executable, *profiled("exchange"), "-m", "brokerage.cli", "exchange",
                          "--port", str(exchange_port), "--seed", "3", "--symbols", ",".join(SYMBOLS),
                          "--taker-probability", "0"], exchange_port),
            ("gateway", [sys.executable, *profiled("gateway"), "-m", "brokerage.commands.gateway"], fix_port),
        ):
            data = root / name
            data.mkdir()
            log = (data / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(command, cwd=REPO,  # noqa: ASYNC220  (started once, before counting)
                                               env={**env, "BROKERAGE_DATA_DIR": str(data),
                                                                    # shared: link passwords agree (ADR 007)
                                                                    "BROKERAGE_SECRETS_DIR": str(root / "secrets")},
                                               stdout=log, stderr=subprocess.STDOUT)
            wait_until_listening(port, processes[name], name, timeout=90)
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
                await s.order(symbol, "buy", 3000 // args.sessions)
        await settle(sessions)
        await drive(sessions, min(args.orders, 400), args.window)  # warm up (caches, prepared statements)
        await settle(sessions)
        await asyncio.sleep(1)
        pids = {"gateway": processes["gateway"].pid, "exchange": processes["exchange"].pid,
                "postgres": services.postgres.pid() or 0, "redis": services.redis.pid() or 0, "client": os.getpid()}
        print(f"order path CPU: {args.sessions} sessions, window {args.window}, {args.orders} orders per run, "
              f"{len(SYMBOLS)} symbols, PostgreSQL fsync on, {os.cpu_count()} CPUs shared, "
              f"load {os.getloadavg()[0]:.1f}")
        # what each process spends per second with no orders (timers, monitors, heartbeats): subtracted from a
        # run's CPU for the "variable" figures, which then depend less on how fast the run went
        idle0 = cpu_of(pids)
        await asyncio.sleep(args.idle_seconds)
        idle1 = cpu_of(pids)
        idle = {name: (idle1[name] - idle0[name]) / args.idle_seconds for name in idle0}
        print("idle CPU ms per second: " + "  ".join(f"{name} {value * 1000:.1f}" for name, value in idle.items()))
        figures: dict[str, list[float]] = {name: [] for name in (*pids, "total")}
        variable: dict[str, list[float]] = {name: [] for name in (*pids, "total")}
        for run in range(1, args.runs + 1):
            spy = perf = None
            if args.perf and run == args.runs:
                perf = subprocess.Popen(  # noqa: ASYNC220
                    ["perf", "record", "-F", "499", "-g", "-o", args.perf, "-p", str(pids["gateway"])],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await asyncio.sleep(1)
            if args.py_spy and run == args.runs:
                spy = subprocess.Popen(  # noqa: ASYNC220
                    [str(Path(sys.executable).parent / "py-spy"), "record", "-r", "200", "--pid", str(pids["gateway"]),
                     "--format", "raw", "-o", args.py_spy, "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                await asyncio.sleep(1)
            if args.yappi and run == args.runs:
                processes[args.yappi_process].send_signal(signal.SIGUSR2)
            for s in sessions:
                s.filled = s.other = 0
            before = cpu_of(pids)
            woken_before = switches_of(pids)
            threads_before = {name: thread_cpu(pids[name]) for name in ("gateway", "exchange")}
            started = time.monotonic()
            await drive(sessions, args.orders, args.window)
            await settle(sessions)
            elapsed = time.monotonic() - started
            after = cpu_of(pids)
            woken_after = switches_of(pids)
            threads_after = {name: thread_cpu(pids[name]) for name in ("gateway", "exchange")}
            if args.yappi and run == args.runs:
                processes[args.yappi_process].send_signal(signal.SIGUSR2)
                await asyncio.sleep(3)
            for profiler in (spy, perf):
                if profiler is not None:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(120)
            filled = sum(s.filled for s in sessions)
            other = sum(s.other for s in sessions)
            per = {name: (after[name] - before[name]) * 1000 / max(filled, 1) for name in before}
            per["total"] = sum(per.values())
            for name, value in per.items():
                figures[name].append(value)
            var = {name: (after[name] - before[name] - idle[name] * elapsed) * 1000 / max(filled, 1)
                   for name in before}
            var["total"] = sum(var.values())
            for name, value in var.items():
                variable[name].append(value)
            print(f"run {run}: {filled} lifecycles ({other} not filled) in {elapsed:.1f} s "
                  f"({filled / elapsed:.0f}/s wall, load {os.getloadavg()[0]:.1f}); CPU ms per lifecycle: "
                  + "  ".join(f"{name} {value:.3f}" for name, value in per.items()))
            print("  less idle CPU: " + "  ".join(f"{name} {value:.3f}" for name, value in var.items()))
            # how often a lifecycle wakes each process's threads, and what a wake-up costs: at small batch sizes
            # a process's CPU per lifecycle follows its wake-ups (docs/perf/order-path-cpu.md, "Wake-ups")
            woken = {name: (woken_after[name] - woken_before[name]) / max(filled, 1) for name in woken_before}
            print("  context switches per lifecycle: " + "  ".join(
                f"{name} {value:.1f} ({per[name] * 1000 / value:.0f} µs CPU each)" if value > 0 else f"{name} 0"
                for name, value in woken.items()))
            for proc in ("gateway", "exchange"):
                split = []
                for name, (user, system) in sorted(threads_after[proc].items()):
                    user0, system0 = threads_before[proc].get(name, (0.0, 0.0))
                    if user - user0 + system - system0 > 0:
                        split.append(f"{name} user {(user - user0) * 1000 / max(filled, 1):.3f} "
                                     f"sys {(system - system0) * 1000 / max(filled, 1):.3f}")
                print(f"  {proc} threads (ms per lifecycle): " + "; ".join(split))
        print("median CPU ms per lifecycle: " + "  ".join(
            f"{name} {statistics.median(values):.3f}" for name, values in figures.items()))
        print("median less idle CPU:        " + "  ".join(
            f"{name} {statistics.median(values):.3f}" for name, values in variable.items()))
        for s in sessions:
            s.reader.cancel()
            with contextlib.suppress(Exception):
                await s.client.logout()
    finally:
        for process in reversed(processes.values()):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
        services.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--py-spy", default="", help="write the gateway's py-spy raw profile of the last run here")
    parser.add_argument("--perf", default="", help="perf record the gateway (on-CPU, with kernel) in the last run")
    parser.add_argument("--yappi", default="", help="profile a process's CPU with yappi in the last run: "
                        "writes PREFIX.txt and PREFIX.pstat")
    parser.add_argument("--yappi-process", default="gateway", choices=("gateway", "exchange"))
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the gateway and exchange")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (logs)")
    asyncio.run(main(parser.parse_args()))
