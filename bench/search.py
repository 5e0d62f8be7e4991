"""REST ticker search latency under concurrent load, at 100,000 symbols.

Builds a tantivy index of the real universe extended with generated listings to ``--symbols``, writes
a quote for every symbol into Redis, serves ``GET /v1/search`` with uvicorn (uvloop) in a child
process and drives it with ``--concurrency`` keep-alive HTTP/1.1 connections issuing a mix of
queries (tickers, prefixes, names, typos, generated names; popular ones repeat, as in real traffic,
so the Redis cache of hot queries is exercised). Prints end-to-end and server-side p50/p99 and the
in-process latency of the search service alone (no HTTP).

    .venv/bin/python bench/search.py [--symbols 100000] [--requests 20000] [--concurrency 16]
                                     [--rate 200 0] [--runs 3] [--workers 1] [--redis-url redis://...]
                                     [--mix real|hot] [--py-spy /tmp/search.txt]

``--rate R``: open loop, R requests/s spread over the connections (latency counts queueing from the
scheduled time); ``--rate 0``: closed loop, back to back (throughput). Each rate is run ``--runs``
times and the median printed, with the CPU each process used per request (from /proc: the API
server and its workers, this load generator, Redis) and the load average, which on a shared machine
say more than wall time. ``--workers N`` serves with N uvicorn worker processes (as
``brokerage api --workers``). ``--py-spy OUT`` records the server during the first closed-loop run
(raw collapsed stacks; summarise with bench/profile_summary.py). Without ``--redis-url`` a throwaway
local Redis is started.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote as urlquote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from brokerage.services import LocalRedis, free_port


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def query_mix(symbols: list[str], names: list[str], count: int, seed: int, hot_only: bool = False) -> list[str]:
    rnd = random.Random(seed)
    fixed = ["F", "AAPL", "AP", "appel", "micro", "motors", "msft", "goo", "amaz", "tesla", "nvda", "bank",
             "general motors", "jpm", "berkshire", "brk.b", "ford", "intel", "oracle", "visa"]
    if hot_only:
        return fixed
    out: list[str] = []
    for _ in range(count):
        r = rnd.random()
        if r < 0.4:
            out.append(fixed[min(int(rnd.expovariate(0.3)), len(fixed) - 1)])  # hot queries
        elif r < 0.6:
            out.append(rnd.choice(symbols))
        elif r < 0.75:
            sym = rnd.choice(symbols)
            out.append(sym[: rnd.randint(1, len(sym))].lower())
        elif r < 0.9:
            word = rnd.choice(names).split()[0]
            out.append(word[: rnd.randint(3, max(3, len(word)))])
        else:
            word = rnd.choice(names).split()[0].lower()
            if len(word) > 4:
                i = rnd.randrange(1, len(word) - 1)
                word = word[:i] + word[i + 1] + word[i] + word[i + 2:]  # a transposition typo
            out.append(word)
    return out


# Child process: the HTTP server ---------------------------------------------------------------------
def bench_app():  # type: ignore[no-untyped-def]
    """The search router as ``create_app`` includes it (with the router-level market data access
    dependency, here with ``BROKERAGE_API_PUBLIC_MARKET_DATA=true``: no token lookup in PostgreSQL), without
    the metrics middleware, timed by a pure ASGI wrapper."""
    from fastapi import Depends, FastAPI

    from brokerage.settings import get_settings
    from gateway.api.deps import require_market_data_access
    from gateway.api.problems import install_problem_handlers
    from gateway.api.routes.search import router

    app = FastAPI()
    app.state.settings, app.state.db_pool = get_settings(), None  # no pool: the market data is public here
    install_problem_handlers(app)
    app.include_router(router, dependencies=[Depends(require_market_data_access)])

    async def timed(scope, receive, send):  # type: ignore[no-untyped-def]
        # a pure ASGI wrapper (BaseHTTPMiddleware would itself cost a good part of a millisecond)
        started = time.perf_counter_ns()

        async def send_timed(message):  # type: ignore[no-untyped-def]
            if message["type"] == "http.response.start":
                elapsed = str((time.perf_counter_ns() - started) // 1000).encode()
                message["headers"] = [*message.get("headers", []), (b"x-elapsed-us", elapsed)]
            await send(message)

        await app(scope, receive, send_timed)

    return timed


class CoalescingTransport:
    """Experiment (``--coalesce-writes``): the writes one loop iteration makes to a connection go out in
    one ``transport.write`` at the end of that iteration, so uvicorn's status-and-headers write and its
    body write become one ``send`` syscall instead of two. Everything else is the real transport."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def coalescing_protocol() -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class CoalescingHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(cast(asyncio.Transport, CoalescingTransport(transport, asyncio.get_running_loop())))

    return CoalescingHttpToolsProtocol


def serve(port: int, workers: int, coalesce_writes: bool = False) -> None:
    import uvicorn

    # several workers need an import string (each worker process builds its own app)
    app = "bench.search:bench_app" if workers > 1 else bench_app
    http: type[asyncio.Protocol] | str = coalescing_protocol() if coalesce_writes else "httptools"
    uvicorn.run(app, factory=True, host="127.0.0.1", port=port, loop="uvloop", http=http,
                workers=workers, log_level="warning", access_log=False)


# CPU per request from /proc ---------------------------------------------------------------------------
def process_cpu(pid: int | None, tree: bool = False) -> float:
    """utime + stime of a process (with ``tree``: plus its live descendants, e.g. uvicorn workers)."""
    if pid is None:
        return 0.0
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)] if tree else [proc]
        total = 0.0
        for p in procs:
            times = p.cpu_times()
            total += times.user + times.system
        return total
    except psutil.NoSuchProcess:
        return 0.0


def cpu_sample(server_pid: int, redis_pid: int | None) -> tuple[float, float, float]:
    return process_cpu(server_pid, tree=True), process_cpu(os.getpid()), process_cpu(redis_pid)


def load_average() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


# Load generator: minimal keep-alive HTTP/1.1 client (httpx would cost more CPU than the server) ------
async def worker(port: int, queries: list[str], e2e: list[float], server: list[float], errors: list[int],
                 interval: float = 0.0, offset: float = 0.0) -> None:
    """Back-to-back requests (closed loop), or one every ``interval`` seconds (open loop: latency is
    then measured from the scheduled send time, so queueing behind a slow server counts)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    next_at = loop.time() + offset  # connections staggered: an even stream, not bursts
    for q in queries:
        request = f"GET /v1/search?q={urlquote(q)}&limit=10 HTTP/1.1\r\nhost: bench\r\n\r\n".encode()
        if interval:
            next_at += interval
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.perf_counter() + min(0.0, delay)
        else:
            started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        headers = dict(
            line.split(": ", 1) for line in head.decode("latin-1").split("\r\n")[1:] if ": " in line
        )
        await reader.readexactly(int(headers["content-length"]))
        e2e.append((time.perf_counter() - started) * 1000)
        server.append(int(headers.get("x-elapsed-us", "0")) / 1000)
        if not head.startswith(b"HTTP/1.1 200"):
            errors.append(1)
    writer.close()


async def load(port: int, queries: list[str], concurrency: int, rate: float = 0.0) -> tuple[
    list[float], list[float], int, float
]:
    e2e: list[float] = []
    server: list[float] = []
    errors: list[int] = []
    shares = [queries[i::concurrency] for i in range(concurrency)]
    interval = concurrency / rate if rate else 0.0
    started = time.perf_counter()
    await asyncio.gather(*(worker(port, share, e2e, server, errors, interval, i * interval / concurrency)
                           for i, share in enumerate(shares)))
    return e2e, server, len(errors), time.perf_counter() - started


async def in_process(redis_url: str, index_path: Path, queries: list[str]) -> list[float]:
    from redis.asyncio import Redis

    from search.service import SearchService
    from search.tantivy_index import TantivyTickerIndex

    redis = Redis.from_url(redis_url)
    service = SearchService(TantivyTickerIndex.open(index_path), redis, cache_ttl_seconds=2)
    out = []
    for q in queries:
        started = time.perf_counter()
        await service.search(q, 10)
        out.append((time.perf_counter() - started) * 1000)
    await redis.aclose()  # type: ignore[attr-defined,unused-ignore]
    return out


async def write_quotes(redis_url: str, symbols: list[str]) -> None:
    from decimal import Decimal

    from redis.asyncio import Redis

    from marketdata.quotes import Quote, now_us
    from marketdata.redis_quotes import QuoteWriter

    redis = Redis.from_url(redis_url)
    writer = QuoteWriter(redis)
    now = now_us()
    for i in range(0, len(symbols), 5000):
        await writer.write(
            Quote(s, bid=Decimal("99.99"), ask=Decimal("100.01"), last=Decimal("100.00"), exchange_ts_us=now,
                  ingest_ts_us=now) for s in symbols[i:i + 5000]
        )
    await redis.aclose()  # type: ignore[attr-defined,unused-ignore]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, nargs="+", default=[200.0, 0.0],
                        help="offered req/s over all connections (0: back to back, the server's capacity)")
    parser.add_argument("--mix", choices=["real", "hot"], default="real",
                        help="hot: only the 20 popular queries (the cached path: HTTP, cache, MGET, no index)")
    parser.add_argument("--runs", type=int, default=3, help="runs per rate; the median is printed")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes serving the API")
    parser.add_argument("--py-spy", default=None, help="record the server with py-spy into this file")
    parser.add_argument("--py-spy-bin", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--coalesce-writes", action="store_true",
                        help="experiment: uvicorn's header and body writes of a response in one send (one syscall)")
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.workers, args.coalesce_writes)
        return

    base = Path(tempfile.mkdtemp(prefix="bench-search-"))
    redis_server = None if args.redis_url else LocalRedis(base, free_port())
    child = None
    try:
        if redis_server is not None:
            redis_server.start()
        redis_url = args.redis_url or redis_server.url  # type: ignore[union-attr]

        from search.tantivy_index import TantivyTickerIndex
        from search.universe import universe_listings

        listings = universe_listings(args.symbols)
        started = time.perf_counter()
        index_path = base / "search" / "tantivy"
        TantivyTickerIndex.open(index_path, create=True).replace_all_sync(listings)
        print(f"indexed {len(listings):,} listings in {time.perf_counter() - started:.1f}s")
        symbols = [x.symbol for x in listings]
        asyncio.run(write_quotes(redis_url, symbols))
        queries = query_mix(symbols, [x.name for x in listings], args.requests, seed=11)
        if args.mix == "hot":
            hot = query_mix(symbols, [x.name for x in listings], 0, seed=11, hot_only=True)
            queries = [hot[i % len(hot)] for i in range(args.requests)]

        port = free_port()
        env = dict(os.environ, BROKERAGE_DATA_DIR=str(base), BROKERAGE_REDIS_URL=redis_url,
                   BROKERAGE_SEARCH_CACHE_TTL_SECONDS="2", BROKERAGE_API_PUBLIC_MARKET_DATA="true")
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port), "--workers", str(args.workers),
             *(["--coalesce-writes"] if args.coalesce_writes else [])], env=env)
        redis_pid = redis_server.pid() if redis_server is not None else None
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                asyncio.run(load(port, ["warmup"], 1))
                break
            except OSError:
                time.sleep(0.2)
        asyncio.run(load(port, queries[:500], 4))  # warm caches and code paths
        profiler = None
        for rate in args.rate:
            offered = f"open loop at {rate:,.0f} req/s" if rate else "closed loop (back to back)"
            print(f"REST GET /v1/search, {len(listings):,} symbols, {len(queries):,} requests, "
                  f"{args.concurrency} connections, {args.workers} server worker(s), {offered}:")
            runs = []
            for run in range(args.runs):
                if args.py_spy and not rate and profiler is None:
                    profiler = subprocess.Popen(
                        [args.py_spy_bin, "record", "--pid", str(child.pid), "--subprocesses", "--format", "raw",
                         "--rate", "250", "--output", args.py_spy, "--nonblocking"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    time.sleep(1.0)
                before = cpu_sample(child.pid, redis_pid)
                e2e, server, errors, elapsed = asyncio.run(load(port, queries, args.concurrency, rate))
                after = cpu_sample(child.pid, redis_pid)
                if profiler is not None and profiler.returncode is None and profiler.poll() is None:
                    profiler.send_signal(2)  # SIGINT: py-spy writes its output and exits
                    profiler.wait(60)
                    print(f"  py-spy profile of the server written to {args.py_spy}")
                per_req = [(a - b) / len(queries) * 1e6 for a, b in zip(after, before, strict=True)]
                runs.append((len(queries) / elapsed, percentile(e2e, 50), percentile(e2e, 99),
                             percentile(server, 50), percentile(server, 99), *per_req))
                print(f"  run {run + 1}: {len(queries) / elapsed:,.0f} req/s, {errors} non-200; "
                      f"end to end p50 {percentile(e2e, 50):.2f} ms p99 {percentile(e2e, 99):.2f} ms "
                      f"max {max(e2e):.2f} ms; in server p50 {percentile(server, 50):.2f} ms "
                      f"p99 {percentile(server, 99):.2f} ms; CPU per request: server {per_req[0]:.0f} µs, "
                      f"load generator {per_req[1]:.0f} µs, Redis {per_req[2]:.0f} µs; {load_average()}")
            med = [statistics.median(col) for col in zip(*runs, strict=True)]
            print(f"  median of {args.runs}: {med[0]:,.0f} req/s; end to end p50 {med[1]:.2f} ms p99 {med[2]:.2f} ms; "
                  f"in server p50 {med[3]:.2f} ms p99 {med[4]:.2f} ms; CPU per request: server {med[5]:.0f} µs "
                  f"(all workers), load generator {med[6]:.0f} µs, Redis {med[7]:.0f} µs")
        solo = asyncio.run(in_process(redis_url, index_path, queries[: min(5000, len(queries))]))
        print(f"  service only p50 {percentile(solo, 50):.2f} ms  p99 {percentile(solo, 99):.2f} ms  "
              "(one caller, no HTTP: parse + cache/index + MGET)")
        print(f"  CPUs: {os.cpu_count()} shared by load generator, server and Redis; {load_average()}")
    finally:
        if child is not None:
            child.terminate()
            child.wait(10)
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
