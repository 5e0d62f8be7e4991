"""Prometheus metrics of the REST API, on a registry owned by the app (several apps in one process,
as in tests, never collide on the global registry).

Requests are labelled by route template (``/v1/accounts/{account_id}``), not by raw path, so the
number of series stays bounded whatever clients send.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from brokerage.logs import get_logger

log = get_logger("gateway.api.http")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.request_seconds = Histogram(
            "brokerage_api_request_duration_seconds", "REST request latency by route.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.requests = Counter(
            "brokerage_api_requests", "REST requests by route and status.", ["method", "route", "status"],
            registry=self.registry,
        )
        self.cash_movements = Counter(
            "brokerage_api_cash_movements", "Deposits and withdrawals by outcome.", ["kind", "outcome"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "brokerage_api_auth_failures", "Requests refused for a missing or invalid token.",
            registry=self.registry,
        )


class MetricsMiddleware:
    """Observes every request: latency histogram, counters and one structured log line.

    Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streaming responses)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status == 401:
                    self.metrics.auth_failures.inc()
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            labels = (scope["method"], template, str(status))
            self.metrics.request_seconds.labels(*labels).observe(elapsed)
            self.metrics.requests.labels(*labels).inc()
            log.info("http_request", method=scope["method"], route=template, path=scope.get("path"),
                     status=status, duration_ms=round(elapsed * 1000, 3))
