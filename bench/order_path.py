"""Order path benchmark: N FIX sessions through the whole path (gateway, PostgreSQL with fsync, exchange).

    .venv/bin/python bench/order_path.py [--sessions 8] [--rate 1000] [--seconds 10] [--window 100]
                                         [--runs 3] [--shards 1] [--profile out.speedscope.json]

Starts its own PostgreSQL and Redis (temp dir), the exchange and the gateway as processes (``--shards
N``: N gateway shards behind `brokerage frontdoor`, docs/adr/015); drives the sessions with the
project's fixclient (simplefix asyncio). Prints, for a run paced at ``--rate`` orders/s and ``--runs``
runs at the maximum rate (each session keeps ``--window`` orders in flight): full-lifecycle orders/s
(new → ack → fill), ack latency (NewOrderSingle sent → PendingNew received) and fill latency (→ the
filling ExecutionReport) percentiles, the CPU each process spent per finished order (from /proc:
user+system time of the process and its children, e.g. PostgreSQL's backends), and after each run
pgbench (tpcb-like, scale 10, 8 clients) against the same server and our orders/s ÷ pgbench tps; then
the median of the runs. On a shared machine wall-clock figures move with the neighbours' load; CPU
per order is the steadier figure. ``--profile PATH``: one more run (not in the medians) with py-spy
recording gateway shard 0 (speedscope JSON). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import asyncpg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from anywhere: bench.lean_fix

from bench.lean_fix import LeanFix  # noqa: E402
from bench.proc_cpu import tree_cpu  # noqa: E402
from brokerage.services import LocalServices, free_port, wait_until_listening  # noqa: E402
from ledger import migrate  # noqa: E402
from ledger.provisioning import ensure_fix_session  # noqa: E402
from ledger.repository import LedgerRepository  # noqa: E402
from refdata.instruments import universe_by_symbol  # noqa: E402

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


CLIENT = frozenset({"bench client"})


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Session:
    """One bench session over ``LeanFix`` (pre-encoded orders, a reader that looks at 4 tags): the
    client must not eat the CPU it is measuring."""

    def __init__(self, comp_id: str, prices: dict[str, Decimal]) -> None:
        self.comp_id, self.prices = comp_id, prices
        self.client: LeanFix | None = None
        self.stats = Stats()
        self.outstanding = 0
        self.acked: set[str] = set()  # acknowledged (PendingNew seen), not finished yet
        self.counter = 0
        self.changed = asyncio.Event()
        self.price_text = {(symbol, side): str((ref * (Decimal("1.2") if side == "buy" else Decimal("0.8")))
                                               .quantize(Decimal("0.01")))
                           for symbol, ref in prices.items() for side in ("buy", "sell")}

    async def connect(self, port: int, password: str) -> None:
        self.client = await LeanFix.connect("127.0.0.1", port, self.comp_id, "BROKER", password, self.on_report)

    def on_report(self, cl_raw: bytes, exec_type: bytes, status: bytes) -> None:
        cl = cl_raw.decode()
        sent = self.stats.sent.get(cl)
        if sent is None:
            return
        now = time.perf_counter()
        if exec_type == b"A":
            self.stats.acks.append(now - sent)
            self.acked.add(cl)
        if status in (b"2", b"4", b"8", b"C"):
            self.acked.discard(cl)
            if status == b"2":
                self.stats.fills.append(now - sent)
            else:
                self.stats.rejects += 1
            self.stats.done += 1
            self.stats.last_done = now
            self.outstanding -= 1
            del self.stats.sent[cl]
            self.changed.set()

    async def order(self, symbol: str, side: str, qty: int) -> None:
        assert self.client is not None
        self.counter += 1
        cl = f"{self.comp_id}-{self.counter}"
        now = time.perf_counter()
        if not self.stats.first_sent:
            self.stats.first_sent = now
        self.stats.sent[cl] = now
        self.outstanding += 1
        self.client.new_order(cl, symbol, "1" if side == "buy" else "2", qty, self.price_text[symbol, side])
        if self.counter % 64 == 0:
            await asyncio.sleep(0)  # let the reader run between bursts

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


def report(name: str, sessions: list[Session]) -> tuple[float, int]:
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
    return rate, done


QUEUE_LINE = re.compile(r'^brokerage_queue_depth\{queue="(\w+)"\} ([\d.e+]+)$', re.MULTILINE)


class QueueSampler:
    """Where a run's in-flight orders wait, sampled every ``interval`` s until the last one finished (a time
    average, so Little's law holds: mean in flight = rate × mean latency): the bench's own count of orders not
    yet acknowledged and acknowledged but not yet filled, and the gateway's order-path queues (its /metrics:
    the session lanes' new orders waiting for their batch, the venue-report lanes' exchange reports waiting
    for theirs). What is in flight but in neither queue is in a transaction under way, in the bridge from
    the QuickFIX threads, in a socket buffer or at the exchange."""

    def __init__(self, sessions: list[Session], metrics_port: int | None, interval: float = 0.25) -> None:
        self.sessions, self.port, self.interval = sessions, metrics_port, interval
        self.samples: list[dict[str, float]] = []

    def _gateway_queues(self) -> dict[str, float]:
        import urllib.request

        if self.port is None:
            return {}
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as reply:
                text = reply.read().decode()
        except OSError:
            return {}
        return {name: float(value) for name, value in QUEUE_LINE.findall(text)}

    async def run(self) -> None:
        while True:
            sample = {"unacked": float(sum(s.outstanding - len(s.acked) for s in self.sessions)),
                      "acked": float(sum(len(s.acked) for s in self.sessions))}
            sample.update(await asyncio.to_thread(self._gateway_queues))
            self.samples.append(sample)
            await asyncio.sleep(self.interval)

    def summary(self) -> str:
        if not self.samples:
            return "no samples"

        def mean(key: str) -> str:
            values = [s[key] for s in self.samples if key in s]
            return f"{statistics.mean(values):.0f}" if values else "?"
        return (f"waiting for the ack {mean('unacked')} (in the gateway's session lanes {mean('client_requests')}); "
                f"acked, waiting for the fill {mean('acked')} (in the gateway's venue-report lanes "
                f"{mean('venue_reports')}); mean of {len(self.samples)} samples")


def pgbench_init(services: LocalServices) -> tuple[list[str], dict[str, str]]:
    pg = services.postgres
    assert pg is not None
    env = {**os.environ, "PGPASSWORD": pg.owner_password or ""}  # the owner role (ADR 008)
    base = ["-h", "127.0.0.1", "-p", str(pg.port), "-U", "brokerage"]
    subprocess.run([str(pg.bin_dir / "createdb"), *base, "pgbench"], env=env, capture_output=True)
    subprocess.run([str(pg.bin_dir / "pgbench"), *base, "-i", "-q", "-s", "10", "pgbench"], env=env,
                   check=True, capture_output=True)
    return [str(pg.bin_dir / "pgbench"), *base], env


def pgbench(command: tuple[list[str], dict[str, str]], seconds: int) -> float:
    base, env = command
    out = subprocess.run([*base, "-c", "8", "-j", "2", "-T", str(seconds), "pgbench"], env=env, check=True,
                         capture_output=True, text=True).stdout
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


@dataclass
class Run:
    rate: float
    done: int
    tps: float
    cpu_ms: dict[str, float]  # per finished order, per process group
    net_ms: dict[str, float]  # the same less what the process burns idle (timers, checkpointer, vacuum)


def start_process(root: Path, name: str, command: list[str], env: dict[str, str],
                  processes: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    data = root / name
    data.mkdir()
    log = (data / f"{name}.log").open("wb")
    process = subprocess.Popen(command, cwd=REPO, env={**env, "BROKERAGE_DATA_DIR": str(data),
                                                             # one secrets folder: the exchange and its peers
                                                             # agree on the link passwords (ADR 007)
                                                             "BROKERAGE_SECRETS_DIR": str(root / "secrets")},
                               stdout=log, stderr=subprocess.STDOUT)
    processes.append(process)
    return process


def profile_summary(path: Path) -> None:
    """Top functions by self and total samples from a speedscope file py-spy wrote."""
    import json

    doc = json.loads(path.read_text())
    frames = doc["shared"]["frames"]
    self_count: dict[int, float] = {}
    total_count: dict[int, float] = {}
    samples = 0.0
    for profile in doc["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            samples += weight
            if stack:
                self_count[stack[-1]] = self_count.get(stack[-1], 0) + weight
            for frame in set(stack):
                total_count[frame] = total_count.get(frame, 0) + weight

    def name(i: int) -> str:
        frame = frames[i]
        file = str(frame.get("file", "")).split("site-packages/")[-1].replace(str(REPO) + "/", "")
        return f"{frame['name']} ({file}:{frame.get('line', '')})"

    print(f"profile: {samples:.1f} s of samples of active threads in {path}")
    for profile in doc["profiles"]:
        print(f"  thread {profile['name']}: {100 * sum(profile['weights']) / samples:.1f}%")
    for title, counts in (("self", self_count), ("total", total_count)):
        print(f"  top by {title}:")
        for i, count in sorted(counts.items(), key=lambda kv: -kv[1])[:25]:
            print(f"    {100 * count / samples:5.1f}%  {name(i)}")
    buckets = {"quickfix (SWIG/C++)": ("quickfix",), "asyncpg": ("asyncpg",), "logging/structlog":
               ("structlog", "logging/", "brokerage/logs"), "decimal": ("decimal", "_pydecimal"),
               "json": ("json/", "orjson"), "asyncio": ("asyncio/",), "simplefix": ("simplefix",)}
    print("  share of samples with a frame in (total):")
    for bucket, needles in buckets.items():
        hit = 0.0
        for profile in doc["profiles"]:
            for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
                if any(any(n in str(frames[f].get("file", "")) or n in frames[f]["name"] for n in needles)
                       for f in stack):
                    hit += weight
        print(f"    {bucket:22s} {100 * hit / samples:5.1f}%")


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
        backends = [f"127.0.0.1:{free_port()}" for _ in range(args.shards)] if args.shards > 1 else []
        env = {**os.environ, "BROKERAGE_DATABASE_URL": url, "BROKERAGE_REDIS_URL": services.redis.url,
               "BROKERAGE_EXCHANGE_PORT": str(exchange_port), "BROKERAGE_FIX_PORT": str(fix_port),
               "BROKERAGE_FIX_RATE_LIMIT_PER_SECOND": "1000000", "BROKERAGE_FIX_RATE_LIMIT_BURST": "1000000",
               "BROKERAGE_FIX_APP_MESSAGES_PER_SECOND": "1000000", "BROKERAGE_FIX_APP_BURST": "1000000",
               "BROKERAGE_FIX_MAX_PENDING_MESSAGES": "1000000",
               "BROKERAGE_RISK_MAX_OPEN_ORDERS": "100000", "BROKERAGE_LOG_LEVEL": "WARNING",
               "BROKERAGE_EXCHANGE_RECONNECT_SECONDS": "1",
               "BROKERAGE_GATEWAY_SHARD_BACKENDS": json.dumps(backends)}
        groups: dict[str, list[int]] = {}
        exchange = start_process(root, "exchange", [
            sys.executable, "-m", "brokerage.cli", "exchange", "--port", str(exchange_port), "--seed", "3",
            "--symbols", ",".join(SYMBOLS), "--taker-probability", "0"], env, processes)
        wait_port(exchange_port, exchange, "exchange")
        metrics_port = free_port() if args.shards == 1 else None
        if args.shards == 1:
            gateway = start_process(root, "gateway", [sys.executable, "-m", "brokerage.commands.gateway"],
                                    {**env, "BROKERAGE_GATEWAY_METRICS_PORT": str(metrics_port)}, processes)
            wait_port(fix_port, gateway, "gateway")
            groups["gateway"] = [gateway.pid]
        else:
            for k, backend in enumerate(backends):
                shard = start_process(root, f"gateway-{k}", [
                    sys.executable, "-m", "brokerage.commands.gateway", "--shard", f"{k}/{args.shards}"], env,
                    processes)
                wait_port(int(backend.rpartition(":")[2]), shard, f"gateway shard {k}")
                groups[f"gateway {k}/{args.shards}"] = [shard.pid]
            door = start_process(root, "frontdoor", [sys.executable, "-m", "brokerage.commands.frontdoor"], env,
                                 processes)
            wait_port(fix_port, door, "front door")
            groups["front door"] = [door.pid]
        groups["exchange"] = [exchange.pid]
        groups["postgresql"] = [services.postgres.pid() or -1]
        groups["redis"] = [services.redis.pid() or -1]
        groups["bench client"] = [os.getpid()]
        await asyncio.sleep(2)  # exchange link logon and recovery
        universe = universe_by_symbol()
        prices = {s: universe[s].reference_price for s in SYMBOLS}
        sessions = []
        for n in range(1, args.sessions + 1):
            session = Session(f"BENCH{n}", prices)
            await session.connect(fix_port, f"bench{n}")
            sessions.append(session)
        for s in sessions:  # inventory to sell from, so the flow alternates buys and sells
            for symbol in SYMBOLS:
                await s.order(symbol, "buy", WARMUP_QTY // args.sessions)
        await settle(sessions)
        for s in sessions:
            s.reset()
        print(f"order path: {args.sessions} sessions, {len(SYMBOLS)} symbols, IOC limit orders of 1 share, "
              f"PostgreSQL fsync on, {os.cpu_count()} CPUs shared, {args.shards} gateway shard(s), "
              f"load average {os.getloadavg()[0]:.1f}")
        idle_from, idle_at = tree_cpu(groups, CLIENT), time.perf_counter()
        await asyncio.sleep(args.idle_seconds)
        idle_to, idle_span = tree_cpu(groups, CLIENT), time.perf_counter() - idle_at
        idle = {name: (idle_to[name] - idle_from[name]) / idle_span for name in groups}
        print("idle CPU ms per second (background: timers, marks, checkpointer, autovacuum): " + ", ".join(
            f"{name} {1000 * rate:.1f}" for name, rate in idle.items()))
        sampler = QueueSampler(sessions, metrics_port)
        sampling = asyncio.create_task(sampler.run())
        await run_paced(sessions, args.rate, args.seconds)
        await settle(sessions)
        sampling.cancel()
        report(f"paced at {args.rate:.0f} orders/s", sessions)
        print(f"  in flight: {sampler.summary()}")
        bench_db = await asyncio.to_thread(pgbench_init, services)
        runs: list[Run] = []
        for number in range(1, args.runs + args.profile_runs + 1):
            profiling = number > args.runs
            for s in sessions:
                s.reset()
            spy = None
            if profiling:
                spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p",  # noqa: ASYNC220
                                        str(next(iter(groups.values()))[0]), "-d", str(int(args.seconds)), "-r", "50",
                                        "-o", str(args.profile), "--format", "speedscope",
                                        *(["--native"] if args.native else ["--nonblocking"])],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                await asyncio.sleep(1)
            sampler = QueueSampler(sessions, metrics_port)
            before, started = tree_cpu(groups, CLIENT), time.perf_counter()
            sampling = asyncio.create_task(sampler.run())
            await run_window(sessions, args.window, args.seconds)
            await settle(sessions)
            sampling.cancel()
            after, elapsed = tree_cpu(groups, CLIENT), time.perf_counter() - started
            rate, done = report(f"run {number}{' (profiled, not counted)' if profiling else ''}: maximum rate "
                                f"(window {args.window} per session)", sessions)
            print(f"  in flight: {sampler.summary()}")
            cpu = {name: 1000 * (after[name] - before[name]) / max(done, 1) for name in groups}
            net = {name: max(0.0, 1000 * (after[name] - before[name] - idle[name] * elapsed)) / max(done, 1)
                   for name in groups}
            print("  CPU ms per finished order: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
                  + f", total {sum(cpu.values()):.2f}")
            print("    net of idle background: " + ", ".join(f"{k} {v:.2f}" for k, v in net.items())
                  + f", total {sum(net.values()):.2f}")
            if spy is not None:
                output = (await asyncio.to_thread(spy.communicate))[0].decode(errors="replace").strip()
                print(f"  py-spy (exit {spy.returncode}): {output.splitlines()[-1] if output else 'no output'}")
                continue
            tps = await asyncio.to_thread(pgbench, bench_db, int(args.pgbench_seconds or args.seconds))
            print(f"  pgbench tpcb-like scale 10, 8 clients: {tps:.0f} tps; order path ÷ pgbench {rate / tps:.2f}")
            runs.append(Run(rate, done, tps, cpu, net))
        for s in sessions:
            if s.client is not None:
                await s.client.logout()
        median = statistics.median
        print(f"median of {len(runs)} runs: {median(r.rate for r in runs):.0f} full-lifecycle orders/s, pgbench "
              f"{median(r.tps for r in runs):.0f} tps, order path ÷ pgbench {median(r.rate / r.tps for r in runs):.2f} "
              "(target ≥ 0.4)")
        print("  CPU ms per finished order (median per process): " + ", ".join(
            f"{name} {median(r.cpu_ms[name] for r in runs):.2f}" for name in groups)
            + f", total {median(sum(r.cpu_ms.values()) for r in runs):.2f}")
        print("    net of idle background: " + ", ".join(
            f"{name} {median(r.net_ms[name] for r in runs):.2f}" for name in groups)
            + f", total {median(sum(r.net_ms.values()) for r in runs):.2f}")
        if args.profile is not None and args.profile.exists():
            profile_summary(args.profile)
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
    parser.add_argument("--runs", type=int, default=3, help="maximum-rate runs (each followed by pgbench)")
    parser.add_argument("--pgbench-seconds", type=float, default=None, help="default: --seconds")
    parser.add_argument("--shards", type=int, default=1, help="gateway shards behind `brokerage frontdoor`")
    parser.add_argument("--profile", type=Path, default=None,
                        help="one more run with py-spy recording gateway shard 0 (speedscope JSON here)")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="idle CPU baseline measured first")
    parser.add_argument("--native", action="store_true", help="py-spy --native (C/C++ frames too)")
    parser.add_argument("--summarize", type=Path, default=None, help="only print the summary of a py-spy profile")
    parsed = parser.parse_args()
    parsed.profile_runs = 1 if parsed.profile is not None else 0
    if parsed.summarize is not None:
        profile_summary(parsed.summarize)
    else:
        asyncio.run(main(parsed))
