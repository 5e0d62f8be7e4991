"""Order path benchmark: N FIX sessions through the whole path (gateway, PostgreSQL with fsync, exchange).

    .venv/bin/python bench/order_path.py            # issue 10's whole table (~3-4 min), same as --issue10
    .venv/bin/python bench/order_path.py [--sessions 8] [--paced 500,1000] [--paced-seconds 10] [--seconds 10]
                                         [--window 100] [--runs 3] [--no-single] [--shards 1]
                                         [--profile out.speedscope.json]

Starts its own PostgreSQL and Redis (temp dir), the exchange and the gateway as processes (``--shards
N``: N gateway shards behind `brokerage frontdoor`, docs/adr/015); drives the sessions with a lean FIX
client (``bench/lean_fix.py``). In order:

* **paced runs** at each ``--paced`` rate (default 500 and 1,000 orders/s) for ``--paced-seconds``: ack and
  fill latency percentiles and a verdict, **KEPT UP** or **FELL BEHIND by N/s**, from the unfinished count
  sampled every 0.1 s (its growth over the second half of sending, what was still unfinished when sending
  stopped, how long it took to drain); a run that falls more than 2 s of orders behind stops sending;
* ``--runs`` runs at the **maximum rate** (each session keeps ``--window`` orders in flight), each followed
  by pgbench (tpcb-like, scale 10, 8 clients) against the same server and our orders/s ÷ pgbench tps;
* **one FIX session alone** at the maximum rate (its window), unless ``--no-single``;
* then the medians and issue 10's table: every figure against its target.

Every run prints full-lifecycle orders/s (new → ack → fill), ack latency (NewOrderSingle sent → PendingNew
received) and fill latency (→ the filling ExecutionReport) percentiles and the CPU each process spent per
finished order (from /proc: user+system time of the process and its children, e.g. PostgreSQL's backends),
and its ``batches:`` line the group-commit transactions (items, time), the gateway's event-loop lag and the
account row-lock time per order by kind (``brokerage_account_lock_held_seconds``): one account's orders and
reports take turns on its lock, which is what bounds one session trading one account.
On a shared machine wall-clock figures move with the neighbours' load; CPU per order is the steadier
figure. ``--profile PATH``: one more run (not in the medians) with py-spy recording gateway shard 0
(speedscope JSON). Prints figures; asserts nothing.
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
from bench.proc_cpu import MainThread, main_thread, tree_cpu  # noqa: E402
from brokerage.services import LocalServices, free_port, free_ports, wait_until_listening  # noqa: E402
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

    def __init__(self, comp_id: str, prices: dict[str, Decimal], accounts: list[str] | None = None) -> None:
        self.comp_id, self.prices = comp_id, prices
        # more than one: orders name them in turn, two by two (Account, tag 1: a session's orders alternate buy
        # and sell, so each account sells what it bought); one: the session's default account
        self.accounts = [a.encode() for a in accounts] if accounts and len(accounts) > 1 else [b""]
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
        self.client.new_order(cl, symbol, "1" if side == "buy" else "2", qty, self.price_text[symbol, side],
                              account=self.accounts[(self.counter - 1) // 2 % len(self.accounts)])
        if self.counter % 64 == 0:
            await asyncio.sleep(0)  # let the reader run between bursts

    def reset(self) -> None:
        self.stats = Stats()


@dataclass
class Paced:
    """What a paced run did: whether the path kept up with the offered rate, and if not, by how much."""

    rate: float  # offered, orders/s
    seconds: float  # planned sending time
    sent: int = 0
    send_span: float = 0.0  # how long sending lasted (shorter when given up: see ``run_paced``)
    gave_up: bool = False  # the backlog passed ``MAX_BACKLOG_SECONDS`` of the offered rate
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (s since start, sent, unfinished)
    drain: float = 0.0  # after sending stopped, until every order had finished

    def backlog_growth(self) -> float:
        """Orders/s by which the unfinished count grew over the second half of sending (least squares)."""
        half = [(t, u) for t, _, u in self.samples if t >= self.send_span / 2]
        if len(half) < 3:
            return 0.0
        mean_t = statistics.mean(t for t, _ in half)
        mean_u = statistics.mean(u for _, u in half)
        var = sum((t - mean_t) ** 2 for t, _ in half)
        return sum((t - mean_t) * (u - mean_u) for t, u in half) / var if var else 0.0

    def kept_up(self) -> bool:
        """Sent at the offered rate, no growing backlog, and drained within a second of the last order."""
        sent_rate = self.sent / self.send_span if self.send_span else 0.0
        return (not self.gave_up and sent_rate >= 0.97 * self.rate and self.backlog_growth() <= 0.05 * self.rate
                and self.drain <= 1.0)

    def verdict(self) -> str:
        sent_rate = self.sent / self.send_span if self.send_span else 0.0
        end_backlog = self.samples[-1][2] if self.samples else 0
        finished = self.sent - end_backlog
        done_rate = finished / self.send_span if self.send_span else 0.0
        head = (f"offered {self.rate:.0f}/s, sent {self.sent} in {self.send_span:.1f} s ({sent_rate:.0f}/s), "
                f"finished {finished} meanwhile ({done_rate:.0f}/s); unfinished when sending stopped {end_backlog}, "
                f"growing {self.backlog_growth():.0f}/s over the second half; drained in {self.drain:.1f} s")
        if self.kept_up():
            return f"KEPT UP: {head}"
        behind = max(0.0, self.rate - done_rate)
        why = " (gave up sending: the backlog passed " f"{MAX_BACKLOG_SECONDS:.0f} s of orders)" if self.gave_up else ""
        if sent_rate < 0.97 * self.rate:
            why += f" (the bench sent only {sent_rate:.0f}/s)"
        return (f"FELL BEHIND by {behind:.0f}/s ({100 * behind / self.rate:.0f} % of the offered rate): {head}"
                f"{why}; backlog at the end {end_backlog} orders = {end_backlog / self.rate:.1f} s of the offered "
                "rate")


MAX_BACKLOG_SECONDS = 2.0  # a paced run stops sending once this many seconds of orders are unfinished


async def run_paced(sessions: list[Session], rate: float, seconds: float) -> Paced:
    """Send at ``rate`` for ``seconds`` (order n at start + n/rate, caught up after a late wake-up, never
    ahead), sampling the unfinished count every 0.1 s. A path that cannot keep up would pile up work for
    minutes: sending stops once more than ``MAX_BACKLOG_SECONDS`` of orders are unfinished (the verdict
    says so), then the run waits for the backlog to drain."""
    paced = Paced(rate, seconds)
    start = time.perf_counter()
    n = 0
    next_sample = 0.0
    while (elapsed := time.perf_counter() - start) < seconds:
        unfinished = sum(s.outstanding for s in sessions)
        if elapsed >= next_sample:
            paced.samples.append((elapsed, n, unfinished))
            next_sample += 0.1
        if unfinished > rate * MAX_BACKLOG_SECONDS:
            paced.gave_up = True
            break
        due = min(int(elapsed * rate) + 1, int(seconds * rate))
        while n < due:
            s = sessions[n % len(sessions)]
            await s.order(SYMBOLS[n % len(SYMBOLS)], "buy" if (n // len(sessions)) % 2 == 0 else "sell", 1)
            n += 1
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
    paced.send_span = time.perf_counter() - start
    paced.sent = n
    paced.samples.append((paced.send_span, n, sum(s.outstanding for s in sessions)))
    stopped = time.perf_counter()
    await settle(sessions)
    paced.drain = time.perf_counter() - stopped
    return paced


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
# group-commit batches (ADR 021/048): their items and seconds, cumulative sums and counts by kind
BATCH_LINE = re.compile(r'^brokerage_ledger_transaction_(items|seconds)_(sum|count)\{kind="(\w+)"\} ([\d.e+]+)$',
                        re.MULTILINE)
# account row locks held per group-commit transaction (the gateway's view: lock answered -> COMMIT answered)
LOCK_LINE = re.compile(r'^brokerage_account_lock_held_seconds_(sum|count)\{kind="(\w+)"\} ([\d.e+]+)$', re.MULTILINE)
LAG_LINE = re.compile(r'^brokerage_event_loop_lag_seconds_(sum|count)\{process="gateway"\} ([\d.e+]+)$', re.MULTILINE)


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
        self.first: dict[str, float] | None = None  # the run's first and latest reading of the gateway's totals
        self.last: dict[str, float] = {}
        self.span = (0.0, 0.0)  # perf_counter of the first and latest reading

    def _gateway_queues(self) -> dict[str, float]:
        import urllib.request

        if self.port is None:
            return {}
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as reply:
                text = reply.read().decode()
        except OSError:
            return {}
        totals = {f"{kind}.{what}.{stat}": float(value) for what, stat, kind, value in BATCH_LINE.findall(text)}
        totals.update({f"lag.{stat}": float(value) for stat, value in LAG_LINE.findall(text)})
        totals.update({f"{kind}.lock.{stat}": float(value) for stat, kind, value in LOCK_LINE.findall(text)})
        now = time.perf_counter()
        if self.first is None:
            self.first, self.span = totals, (now, now)
        self.last, self.span = totals, (self.span[0], now)
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

    def batch_summary(self) -> str:
        """Per kind, over the run: transactions, mean items per transaction, mean transaction time; the
        gateway's mean event-loop lag (how late its loop runs what is ready: brokerage.ops_http). Smaller
        batches cost more CPU per order (each has its fixed round trips and hand-offs): a change that makes
        PostgreSQL answer sooner can raise the gateway's CPU per order this way."""
        first = self.first
        if first is None:
            return "no figures"

        def delta(key: str) -> float:
            return self.last.get(key, 0.0) - first.get(key, 0.0)
        parts = []
        for kind in ("new_orders", "venue_reports"):
            transactions = delta(f"{kind}.items.count")
            if transactions:
                parts.append(f"{kind} {transactions:.0f} transactions, {delta(f'{kind}.items.sum') / transactions:.1f} "
                             f"items and {1000 * delta(f'{kind}.seconds.sum') / transactions:.1f} ms each")
        if samples := delta("lag.count"):
            parts.append(f"gateway event-loop lag {1000 * delta('lag.sum') / samples:.1f} ms mean")
        # one account's orders and reports take turns on its row lock; every bench session trades accounts of
        # its own, so each account's share of the run is the sum over accounts divided by their number (the
        # gateway's view: it counts the wait for its loop after COMMIT's answer, so it can pass 100 %)
        accounts = sum(len(s.accounts) for s in self.sessions)
        orders = delta("new_orders.items.sum")
        held = {kind: delta(f"{kind}.lock.sum") for kind in ("new_orders", "venue_reports")}
        span = self.span[1] - self.span[0]
        if orders and span > 0 and any(held.values()):
            parts.append("account locks held per order " + ", ".join(
                f"{kind} {1000 * seconds / orders:.2f} ms" for kind, seconds in held.items())
                + f" (each account's lock {100 * sum(held.values()) / span / accounts:.0f} % of the run)")
        return "; ".join(parts) or "none"


async def idle_rates(groups: dict[str, list[int]], seconds: float) -> dict[str, float]:
    """Each process group's CPU seconds per second while no order flows (what the run's figures net out)."""
    start, at = tree_cpu(groups, CLIENT), time.perf_counter()
    await asyncio.sleep(seconds)
    end, span = tree_cpu(groups, CLIENT), time.perf_counter() - at
    return {name: (end[name] - start[name]) / span for name in groups}


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


def bench_accounts(n: int, per_session: int) -> list[str]:
    """Session ``n``'s accounts: ACC-BENCH<n>, then ACC-BENCH<n>-2 ... when a session trades several."""
    return [f"ACC-BENCH{n}", *(f"ACC-BENCH{n}-{k}" for k in range(2, per_session + 1))]


async def provision(url: str, sessions: int, per_session: int = 1) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        repo = LedgerRepository(pool)
        for n in range(1, sessions + 1):
            accounts = bench_accounts(n, per_session)
            for account in accounts:
                await repo.open_account(account, "cash", f"Bench {account}")
                await repo.deposit(account, Decimal("1000000000"), idempotency_key=f"bench-{account}", actor="bench")
            await ensure_fix_session(pool, f"BENCH{n}", f"bench{n}", accounts)
    finally:
        await pool.close()


@dataclass
class Run:
    rate: float
    done: int
    tps: float
    cpu_ms: dict[str, float]  # per finished order, per process group
    net_ms: dict[str, float]  # the same less what the process burns idle (timers, checkpointer, vacuum)
    acks: list[float] = field(default_factory=list)  # ack latencies, s
    loop_ms: float = float("nan")  # CPU of the (first) gateway's event-loop thread per finished order


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
    services = LocalServices(root, *free_ports(2))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        services.start()
        assert services.postgres is not None and services.redis is not None
        url = services.postgres.url
        await asyncio.to_thread(migrate.upgrade, url)
        await provision(url, args.sessions, args.accounts_per_session)
        exchange_port, fix_port = free_ports(2)
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
            session = Session(f"BENCH{n}", prices, bench_accounts(n, args.accounts_per_session))
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
        idle = await idle_rates(groups, args.idle_seconds)
        print("idle CPU ms per second (background: timers, marks, checkpointer, autovacuum): " + ", ".join(
            f"{name} {1000 * rate:.1f}" for name, rate in idle.items()))
        if metrics_port is not None:
            # every run reads the gateway's /metrics 4 times a second (QueueSampler); Prometheus reads it every
            # 15 s. Measured idle with the same reads, so the net figures leave the bench's own reads out.
            idle_sampler = QueueSampler(sessions, metrics_port)
            idle_sampling = asyncio.create_task(idle_sampler.run())
            idle = await idle_rates(groups, args.idle_seconds)
            idle_sampling.cancel()
            print("  the same with the bench's /metrics reads (subtracted below as idle): " + ", ".join(
                f"{name} {1000 * rate:.1f}" for name, rate in idle.items()))
        median = statistics.median

        def per_order(before: dict[str, float], after: dict[str, float], elapsed: float,
                      done: int) -> tuple[dict[str, float], dict[str, float]]:
            cpu = {name: 1000 * (after[name] - before[name]) / max(done, 1) for name in groups}
            net = {name: max(0.0, 1000 * (after[name] - before[name] - idle[name] * elapsed)) / max(done, 1)
                   for name in groups}
            print("  CPU ms per finished order: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
                  + f", total {sum(cpu.values()):.2f}")
            print("    net of idle background: " + ", ".join(f"{k} {v:.2f}" for k, v in net.items())
                  + f", total {sum(net.values()):.2f}")
            return cpu, net

        gateway_pid = next(iter(groups.values()))[0]
        # with shards, shard 0's loop thread, per order of all shards (it handles its sessions' share)
        loop_name = ("gateway event-loop thread" if args.shards == 1
                     else "gateway 0's event-loop thread (per order of all shards)")

        def loop_thread(before: MainThread | None, elapsed: float, done: int) -> float:
            """Print the gateway event-loop thread's share (the serial limit): its CPU per order, how much of the
            run it was on a CPU and how much it waited for one, its context switches per order."""
            after = main_thread(gateway_pid)
            if before is None or after is None:
                return float("nan")
            d, n = after - before, max(done, 1)
            print(f"  {loop_name}: {1000 * d.cpu / n:.2f} ms CPU per order, on a CPU "
                  f"{100 * d.cpu / elapsed:.0f} % of the run, waiting for one {100 * d.waiting / elapsed:.0f} %; "
                  f"context switches per order {d.voluntary / n:.1f} voluntary, {d.involuntary / n:.1f} involuntary")
            return 1000 * d.cpu / n

        def acks(group: list[Session]) -> list[float]:
            return [a for s in group for a in s.stats.acks]

        paced_results: list[tuple[Paced, list[float]]] = []
        for offered in args.paced:
            for s in sessions:
                s.reset()
            sampler = QueueSampler(sessions, metrics_port)
            before, loop_before, started = tree_cpu(groups, CLIENT), main_thread(gateway_pid), time.perf_counter()
            sampling = asyncio.create_task(sampler.run())
            paced = await run_paced(sessions, offered, args.paced_seconds)
            sampling.cancel()
            after, elapsed = tree_cpu(groups, CLIENT), time.perf_counter() - started
            report(f"paced at {offered:.0f} orders/s", sessions)
            print(f"  {paced.verdict()}")
            print(f"  in flight: {sampler.summary()}")
            if metrics_port is not None:  # shards: no one gateway's /metrics to read
                print(f"  batches: {sampler.batch_summary()}")
            per_order(before, after, elapsed, sum(s.stats.done for s in sessions))
            loop_thread(loop_before, elapsed, sum(s.stats.done for s in sessions))
            paced_results.append((paced, acks(sessions)))
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
            before, loop_before, started = tree_cpu(groups, CLIENT), main_thread(gateway_pid), time.perf_counter()
            sampling = asyncio.create_task(sampler.run())
            await run_window(sessions, args.window, args.seconds)
            await settle(sessions)
            sampling.cancel()
            after, elapsed = tree_cpu(groups, CLIENT), time.perf_counter() - started
            rate, done = report(f"run {number}{' (profiled, not counted)' if profiling else ''}: maximum rate "
                                f"(window {args.window} per session)", sessions)
            print(f"  in flight: {sampler.summary()}")
            if metrics_port is not None:  # shards: no one gateway's /metrics to read
                print(f"  batches: {sampler.batch_summary()}")
            cpu, net = per_order(before, after, elapsed, done)
            loop_ms = loop_thread(loop_before, elapsed, done)
            if spy is not None:
                output = (await asyncio.to_thread(spy.communicate))[0].decode(errors="replace").strip()
                print(f"  py-spy (exit {spy.returncode}): {output.splitlines()[-1] if output else 'no output'}")
                continue
            tps = await asyncio.to_thread(pgbench, bench_db, int(args.pgbench_seconds))
            print(f"  pgbench tpcb-like scale 10, 8 clients: {tps:.0f} tps; order path ÷ pgbench {rate / tps:.2f}")
            runs.append(Run(rate, done, tps, cpu, net, acks(sessions), loop_ms))
        single: Run | None = None
        if args.single and len(sessions) > 1:
            one = sessions[:1]
            for s in sessions:
                s.reset()
            before, loop_before, started = tree_cpu(groups, CLIENT), main_thread(gateway_pid), time.perf_counter()
            await run_window(one, args.window, args.seconds)
            await settle(one)
            after, elapsed = tree_cpu(groups, CLIENT), time.perf_counter() - started
            rate, done = report(f"one session alone: maximum rate (window {args.window})", one)
            cpu, net = per_order(before, after, elapsed, done)
            single = Run(rate, done, float("nan"), cpu, net, acks(one), loop_thread(loop_before, elapsed, done))
        for s in sessions:
            if s.client is not None:
                await s.client.logout()
        ms = 1000.0
        if runs:
            print(f"median of {len(runs)} runs: {median(r.rate for r in runs):.0f} full-lifecycle orders/s, pgbench "
                  f"{median(r.tps for r in runs):.0f} tps, order path ÷ pgbench "
                  f"{median(r.rate / r.tps for r in runs):.2f} (target ≥ 0.4)")
            print("  CPU ms per finished order (median per process): " + ", ".join(
                f"{name} {median(r.cpu_ms[name] for r in runs):.2f}" for name in groups)
                + f", total {median(sum(r.cpu_ms.values()) for r in runs):.2f}")
            print("    net of idle background: " + ", ".join(
                f"{name} {median(r.net_ms[name] for r in runs):.2f}" for name in groups)
                + f", total {median(sum(r.net_ms.values()) for r in runs):.2f}")
        # Issue 10's table: every figure it asks for, against its target, in one place
        def met(ok: bool) -> str:
            return "met" if ok else "MISSED"
        print(f"\nissue 10 ({args.sessions} sessions, {args.shards} gateway shard(s), load average "
              f"{os.getloadavg()[0]:.1f} now):")
        if runs:
            rates = [r.rate for r in runs]
            ratios = [r.rate / r.tps for r in runs]
            print(f"  max rate, full lifecycles/s: {', '.join(f'{r:.0f}' for r in rates)} → median "
                  f"{median(rates):.0f} (target ≥ 1000: {met(median(rates) >= 1000)})")
            print(f"  pgbench tps: {', '.join(f'{r.tps:.0f}' for r in runs)}; order path ÷ pgbench "
                  f"{', '.join(f'{x:.2f}' for x in ratios)} → median {median(ratios):.2f} "
                  f"(target ≥ 0.4: {met(median(ratios) >= 0.4)})")
            print(f"  max rate ack ms p50/p99 (median of runs): {median(percentile(r.acks, .5) for r in runs) * ms:.1f}"
                  f" / {median(percentile(r.acks, .99) for r in runs) * ms:.1f}")
            print("  CPU ms per lifecycle (median of runs): " + ", ".join(
                f"{name} {median(r.cpu_ms[name] for r in runs):.2f}" for name in groups)
                + f", total {median(sum(r.cpu_ms.values()) for r in runs):.2f} (target ≤ 2)")
            print(f"  {loop_name}, CPU ms per lifecycle (median of runs): {median(r.loop_ms for r in runs):.2f}"
                  + (" (1,000/s needs it below 1)" if args.shards == 1 else ""))
        for paced, ack in paced_results:
            p50, p99 = percentile(ack, .5) * ms, percentile(ack, .99) * ms
            state = "kept up" if paced.kept_up() else "FELL BEHIND"
            target = (f" (target p50 ≤ 2, p99 ≤ 10: {met(paced.kept_up() and p50 <= 2 and p99 <= 10)})"
                      if paced.rate == 500 else f" (target: keeps up: {met(paced.kept_up())})"
                      if paced.rate == 1000 else "")
            print(f"  paced {paced.rate:.0f}/s: {state}, ack ms p50 {p50:.1f} p99 {p99:.1f}{target}")
        if single is not None:
            print(f"  one session, max rate: {single.rate:.0f}/s, ack ms p50 {percentile(single.acks, .5) * ms:.1f} "
                  f"p99 {percentile(single.acks, .99) * ms:.1f} (target ≥ 1000: {met(single.rate >= 1000)})")
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
    parser.add_argument("--paced", type=lambda text: [float(x) for x in text.split(",") if x], default=[500.0, 1000.0],
                        help="offered rates of the paced runs, orders/s, comma-separated ('' for none)")
    parser.add_argument("--rate", type=float, default=None, help="one paced run at this rate (instead of --paced)")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="sending time of each paced run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each maximum-rate run")
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--accounts-per-session", type=int, default=1,
                        help="accounts each session trades, named in turn on its orders (one: the default account); "
                        "one account's orders and reports take turns on its row lock")
    parser.add_argument("--runs", type=int, default=3, help="maximum-rate runs (each followed by pgbench)")
    parser.add_argument("--pgbench-seconds", type=float, default=5.0)
    parser.add_argument("--shards", type=int, default=1, help="gateway shards behind `brokerage frontdoor`")
    parser.add_argument("--profile", type=Path, default=None,
                        help="one more run with py-spy recording gateway shard 0 (speedscope JSON here)")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="idle CPU baseline measured first")
    parser.add_argument("--no-single", dest="single", action="store_false",
                        help="skip the run with one FIX session alone at the maximum rate")
    parser.add_argument("--native", action="store_true", help="py-spy --native (C/C++ frames too)")
    parser.add_argument("--issue10", action="store_true",
                        help="issue 10's table whatever else is given: 8 sessions, window 100, paced 500 and 1,000/s, "
                        "3 maximum-rate runs, one session alone, one gateway")
    parser.add_argument("--summarize", type=Path, default=None, help="only print the summary of a py-spy profile")
    parsed = parser.parse_args()
    parsed.profile_runs = 1 if parsed.profile is not None else 0
    if parsed.rate is not None:
        parsed.paced = [parsed.rate]
    if parsed.accounts_per_session < 1:
        parser.error(f"--accounts-per-session must be at least 1, not {parsed.accounts_per_session}")
    if parsed.issue10:
        parsed.sessions, parsed.window, parsed.paced, parsed.runs, parsed.single, parsed.shards = \
            8, 100, [500.0, 1000.0], 3, True, 1
        parsed.accounts_per_session = 1
        parsed.seconds = parsed.paced_seconds = 10.0
    if parsed.summarize is not None:
        profile_summary(parsed.summarize)
    else:
        asyncio.run(main(parsed))
