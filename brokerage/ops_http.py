"""Each process's operator endpoint: ``/health``, ``/ready`` and ``/metrics`` on its own port (ADR 016).

A tiny HTTP/1.1 server on the process's own asyncio loop (no framework, no thread): readiness checks are
coroutines that look at the process's real state (the exchange link logged on, the pool answering, the last
quote's age), and ``/metrics`` first runs the process's ``refresh`` (gauges read from PostgreSQL, such as
open margin calls) and then renders the Prometheus registry.

    async with OpsServer("gateway", host, port, checks={"exchange_link": ..., "database": ...}, refresh=...):
        ...  # the process's own work

- ``/health``: 200 while the loop answers (the process lives).
- ``/ready``: 200 ``{"status": "ready", "checks": {...}}`` when every check passes, else 503 with the checks.
- ``/metrics``: the text exposition format; ``brokerage_ready{process=...}`` holds the last readiness
  verdict, so Prometheus can alert on a process that is up but cannot do its job.
- While it serves, the server samples its loop's lag (``brokerage_event_loop_lag_seconds{process=...}``):
  how late a sleep of ``LOOP_LAG_INTERVAL_SECONDS`` wakes, i.e. how long anything ready to run on that loop
  waits behind the callbacks ahead of it. A busy loop is where latency goes before CPU graphs say so.

A port that is taken is logged and skipped: metrics never stop a process from doing its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Gauge, Histogram, generate_latest

log = structlog.get_logger(__name__)

__all__ = ["EVENT_LOOP_LAG", "READY", "Check", "OpsServer", "run_checks"]

Check = Callable[[], Awaitable[str | None]]  # None: fine; otherwise why not
CHECK_TIMEOUT_SECONDS = 2.0
REQUEST_TIMEOUT_SECONDS = 5.0
MAX_REQUEST_BYTES = 8192
LOOP_LAG_INTERVAL_SECONDS = 0.1  # 10 wake-ups a second: a few µs of CPU, a sample every 100 ms

READY = Gauge("brokerage_ready", "1 when the process's /ready checks pass (updated at each scrape)", ["process"])
SCRAPE_REFRESH_FAILURES = Gauge(
    "brokerage_metrics_refresh_failed", "1 when the last scrape could not refresh the gauges read at scrape time",
    ["process"])
EVENT_LOOP_LAG = Histogram(
    "brokerage_event_loop_lag_seconds",
    "How late the process's asyncio loop ran a timer due now (sampled every 100 ms while the ops port serves): "
    "the wait of any callback ready to run on it", ["process"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))


async def watch_loop_lag(process: str, interval: float = LOOP_LAG_INTERVAL_SECONDS) -> None:
    """Forever: sleep ``interval`` and record how much later than asked the loop woke us."""
    lag = EVENT_LOOP_LAG.labels(process)
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval
        await asyncio.sleep(interval)
        lag.observe(max(0.0, loop.time() - asked))


async def _run_check(name: str, check: Check) -> tuple[str, str]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            problem = await check()
    except TimeoutError:
        return name, f"timeout after {CHECK_TIMEOUT_SECONDS}s"
    except Exception as exc:  # a failing probe means not ready; say which kind
        return name, f"error: {type(exc).__name__}"
    return name, "ok" if problem is None else problem


async def run_checks(checks: Mapping[str, Check]) -> dict[str, str]:
    """Every check at once: name -> "ok" or the reason it is not."""
    return dict(await asyncio.gather(*(_run_check(name, check) for name, check in checks.items())))


class OpsServer:
    def __init__(self, process: str, host: str, port: int, checks: Mapping[str, Check] | None = None,
                 refresh: Callable[[], Awaitable[None]] | None = None,
                 registry: CollectorRegistry = REGISTRY) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.checks = dict(checks or {})
        self.refresh = refresh
        self.registry = registry
        self._server: asyncio.Server | None = None
        self._lag_watch: asyncio.Task[None] | None = None

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if not self.port:
            return
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True,
                                                      limit=MAX_REQUEST_BYTES)
        except OSError as exc:
            log.warning("ops.port_unavailable", process=self.process, host=self.host, port=self.port,
                        error=str(exc))
            return
        log.info("ops.listening", process=self.process, endpoint=f"http://{self.host}:{self.port}",
                 paths=["/health", "/ready", "/metrics"])
        self._lag_watch = asyncio.create_task(watch_loop_lag(self.process), name=f"{self.process}-loop-lag")

    async def close(self) -> None:
        if self._lag_watch is not None:
            self._lag_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lag_watch
            self._lag_watch = None
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> OpsServer:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def ready(self) -> tuple[bool, dict[str, str]]:
        checks = await run_checks(self.checks)
        ok = all(outcome == "ok" for outcome in checks.values())
        READY.labels(self.process).set(1 if ok else 0)
        return ok, checks

    async def metrics(self) -> bytes:
        failed = 0
        if self.refresh is not None:
            try:
                async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                    await self.refresh()
            except Exception as exc:  # the counters are still worth serving
                failed = 1
                log.warning("ops.refresh_failed", process=self.process, error=f"{type(exc).__name__}: {exc}")
        SCRAPE_REFRESH_FAILURES.labels(self.process).set(failed)
        await self.ready()
        return generate_latest(self.registry)

    async def _respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"method not allowed\n"
        route = path.split("?", 1)[0]
        if route == "/health":
            return 200, "application/json", json.dumps({"status": "ok", "process": self.process}).encode()
        if route == "/ready":
            ok, checks = await self.ready()
            body = {"status": "ready" if ok else "not-ready", "process": self.process, "checks": checks}
            return (200 if ok else 503), "application/json", json.dumps(body).encode()
        if route == "/metrics":
            return 200, CONTENT_TYPE_LATEST, await self.metrics()
        return 404, "text/plain; charset=utf-8", b"not found: /health, /ready, /metrics\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")  # at most MAX_REQUEST_BYTES (the reader's limit)
                parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
                if len(parts) != 3:
                    raise ValueError("bad request line")
                method, path = parts[0], parts[1]
                status, content_type, body = await self._respond(method, path)
                reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
                headers = (f"HTTP/1.1 {status} {reason.get(status, 'OK')}\r\nContent-Type: {content_type}\r\n"
                           f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
                writer.write(headers.encode("latin-1") + (b"" if method == "HEAD" else body))
                await writer.drain()
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError) as exc:
            log.debug("ops.bad_request", process=self.process, error=type(exc).__name__,
                      seconds=round(time.monotonic() - started, 3))
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
