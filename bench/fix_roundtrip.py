"""NewOrderSingle -> first ExecutionReport round trips over one FIX session, through fixclient.

Against the exchange alone (default): starts `brokerage exchange` on a free port with its own temporary
data directory, logs on as GATEWAY -> EXCHANGE (ResetSeqNumFlag=Y) and sends passive limit buys
(price 1.00, far below the market) so every first report is the order's acknowledgement (ExecType New),
the pure order-entry round trip. Two measurements:

* sequential: one order in flight; latency p50/p99 of send -> first ExecutionReport;
* pipelined: up to --window orders in flight; round trips per second and latency under load.

`--against echo` measures the same client code against an in-process QuickFIX acceptor that answers each
order at once (the client + QuickFIX floor, no matching engine); `--host/--port` targets an exchange
already running (it must accept GATEWAY).

    .venv/bin/python bench/fix_roundtrip.py [--orders 2000] [--pipelined 5000] [--window 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from brokerage.services import free_port, wait_until_listening
from fixclient.client import FixClient

REPO = Path(__file__).resolve().parents[1]
# The command function itself, so the bench does not depend on every other CLI module importing.
EXCHANGE_MAIN = "import typer; from brokerage.commands.exchange import exchange; typer.run(exchange)"


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile of nanosecond samples, in microseconds."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank] / 1000


def cpu_seconds(pid: int | None) -> float:
    """User+system CPU of a process (ours when pid is None): where a round trip's time goes."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@contextlib.contextmanager
def exchange_process(symbol: str) -> Iterator[tuple[int, int | None]]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-exchange-"))
    port = free_port()
    env = {**os.environ, "BROKERAGE_DATA_DIR": str(data_dir), "BROKERAGE_LOG_FORMAT": "console",
           "BROKERAGE_LOG_LEVEL": "WARNING"}
    log = (data_dir / "exchange.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", EXCHANGE_MAIN, "--port", str(port), "--symbols", symbol, "--seed", "7",
         "--reset-on-logon", "--taker-probability", "0"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process, "exchange", log=data_dir / "exchange.log")
        print(f"exchange pid {process.pid} on 127.0.0.1:{port}, data {data_dir}")
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def echo_acceptor() -> Iterator[tuple[int, int | None]]:
    sys.path.insert(0, str(REPO / "tests" / "integration" / "fixclient"))
    from quickfix_echo import EchoAcceptor

    port = free_port()
    base = Path(tempfile.mkdtemp(prefix="bench-echo-"))
    acceptor = EchoAcceptor(base, port, password=None, sender="EXCHANGE", target="GATEWAY")
    acceptor.start()
    print(f"QuickFIX echo acceptor on 127.0.0.1:{port} (not the exchange: client + QuickFIX floor)")
    try:
        yield port, None  # in-process: its CPU is counted with the client's
    finally:
        acceptor.stop()
        shutil.rmtree(base, ignore_errors=True)
        if acceptor.app.seen.errors:
            print("acceptor errors:", acceptor.app.seen.errors[:3])


async def one_round_trip(client: FixClient, symbol: str, wait_s: float) -> int:
    started = time.perf_counter_ns()
    cl_ord_id = await client.new_order_single(symbol, "buy", 100, "limit", price="1.00", tif="1")
    report = await client.next_execution_report(cl_ord_id, timeout=wait_s)
    elapsed = time.perf_counter_ns() - started
    if report.exec_type == "8":
        raise RuntimeError(f"order rejected: {report.text} (OrdRejReason {report.ord_rej_reason})")
    return elapsed


async def sequential(client: FixClient, symbol: str, count: int) -> list[int]:
    return sorted([await one_round_trip(client, symbol, 10.0) for _ in range(count)])


async def pipelined(client: FixClient, symbol: str, count: int, window: int) -> tuple[list[int], float]:
    slots = asyncio.Semaphore(window)

    async def bounded() -> int:
        async with slots:
            return await one_round_trip(client, symbol, 30.0)

    started = time.perf_counter()
    latencies = await asyncio.gather(*(bounded() for _ in range(count)))
    return sorted(latencies), time.perf_counter() - started


def report_line(name: str, latencies: list[int], seconds: float, cpu: dict[str, float]) -> str:
    rate = len(latencies) / seconds if seconds else float("nan")
    per_order = "  ".join(f"{who} cpu {used / len(latencies) * 1e6:.0f} us" for who, used in cpu.items())
    return (f"{name:<25} n={len(latencies):>6}  {rate:>7.0f} round trips/s  "
            f"p50={percentile(latencies, 50):>7.0f} us  p99={percentile(latencies, 99):>7.0f} us  "
            f"max={latencies[-1] / 1000:>7.0f} us  per order: {per_order}")


class CpuMeter:
    def __init__(self, peer_pid: int | None) -> None:
        self.pids: dict[str, int | None] = {"client": None}
        if peer_pid is not None:
            self.pids["exchange"] = peer_pid
        self.start = self.now()

    def now(self) -> dict[str, float]:
        return {who: cpu_seconds(pid) for who, pid in self.pids.items()}

    def used(self) -> dict[str, float]:
        end = self.now()
        return {who: end[who] - self.start[who] for who in end}


async def measure(port: int, host: str, args: argparse.Namespace, peer_pid: int | None = None) -> None:
    client = await FixClient.connect(host, port, "GATEWAY", "EXCHANGE", heartbeat=30, reset_seq_num=True)
    await client.logon()
    try:
        await sequential(client, args.symbol, args.warmup)
        started, meter = time.perf_counter(), CpuMeter(peer_pid)
        seq = await sequential(client, args.symbol, args.orders)
        print(report_line("sequential (1 in flight)", seq, time.perf_counter() - started, meter.used()))
        meter = CpuMeter(peer_pid)
        lat, seconds = await pipelined(client, args.symbol, args.pipelined, args.window)
        print(report_line(f"pipelined ({args.window} in flight)", lat, seconds, meter.used()))
    finally:
        await client.logout()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--against", choices=["exchange", "echo"], default="exchange")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="use an exchange already listening here instead of starting one")
    parser.add_argument("--symbol", default="AAPL")
    parser.add_argument("--orders", type=int, default=2000, help="sequential round trips")
    parser.add_argument("--pipelined", type=int, default=5000, help="pipelined round trips")
    parser.add_argument("--window", type=int, default=64, help="orders in flight when pipelined")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio event loop")
    args = parser.parse_args()
    runner = asyncio.run
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
    print(f"fixclient round trips, event loop: {'asyncio' if runner is asyncio.run else 'uvloop'}")
    if args.port:
        runner(measure(args.port, args.host, args))
        return
    source = exchange_process(args.symbol) if args.against == "exchange" else echo_acceptor()
    with source as (port, pid):
        runner(measure(port, "127.0.0.1", args, pid))


if __name__ == "__main__":
    main()
