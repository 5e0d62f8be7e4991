"""Prometheus metrics of the REST API, on a registry owned by the app (several apps in one process,
as in tests, never collide on the global registry).

Requests are labelled by route template (``/v1/accounts/{account_id}``), not by raw path, so the
number of series stays bounded whatever clients send.
"""

from __future__ import annotations

import time
import uuid

import structlog
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


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-ID when it is sane (1–128 printable ASCII), else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            if 0 < len(text) <= 128 and text.isascii() and text.isprintable():
                return text
    return uuid.uuid4().hex


class MetricsMiddleware:
    """Observes every request: latency histogram, counters and one structured log line, all tied to a
    request id (``X-Request-ID``, echoed on the response and bound to every log line of the request).

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
        request_id = request_id_of(scope.get("headers", []))

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status == 401:
                    self.metrics.auth_failures.inc()
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            labels = (scope["method"], template, str(status))
            self.metrics.request_seconds.labels(*labels).observe(elapsed)
            self.metrics.requests.labels(*labels).inc()
            log.info("http_request", method=scope["method"], route=template, path=scope.get("path"),
                     status=status, duration_ms=round(elapsed * 1000, 3), request_id=request_id)
