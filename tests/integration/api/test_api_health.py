"""Operator endpoints: /health, /ready (PostgreSQL and Redis), /metrics (Prometheus text), OpenAPI docs;
unexpected errors as problem+json without internals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from brokerage.services import free_port
from brokerage.settings import Settings
from gateway.api.app import create_app

if TYPE_CHECKING:
    from tests.integration.api.conftest import Seed


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"postgresql": "ok", "redis": "ok"}}


async def test_ready_is_503_problem_when_redis_is_unreachable(
    migrated_db_url: str, tmp_path: Path, seed: Seed
) -> None:
    await seed.account("A1")
    await seed.holding("A1", "AAPL", qty="1", avg_cost="100")  # valuing it needs a quote from Redis
    token = await seed.token("account", "A1")
    settings = Settings(database_url=migrated_db_url, redis_url=f"redis://127.0.0.1:{free_port()}/0",
                        data_dir=tmp_path)
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as http:
        assert (await http.get("/health")).status_code == 200  # alive, just not ready
        response = await http.get("/ready")
        valuing = await http.get("/v1/accounts/A1", headers={"Authorization": f"Bearer {token}"})
    assert valuing.status_code == 503 and valuing.headers["retry-after"] == "5"
    assert valuing.json()["type"] == "https://brokerage.example/problems/redis-unavailable"
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://brokerage.example/problems/not-ready"
    assert body["checks"]["postgresql"] == "ok"
    assert body["checks"]["redis"] != "ok"


async def test_metrics_expose_request_latency_by_route_template(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("account", "A1")
    for _ in range(3):
        await client.get("/v1/accounts/A1", headers={"Authorization": f"Bearer {token}"})
    await client.get("/v1/accounts/A1")  # 401
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    latency = families["brokerage_api_request_duration_seconds"]
    counts = {
        (s.labels["route"], s.labels["status"]): s.value for s in latency.samples if s.name.endswith("_count")
    }
    assert counts[("/v1/accounts/{account_id}", "200")] == 3
    assert counts[("/v1/accounts/{account_id}", "401")] == 1
    assert families["brokerage_api_auth_failures"].samples[0].value == 1


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("/v1/accounts", "/v1/accounts/{account_id}", "/v1/accounts/{account_id}/positions",
                 "/v1/accounts/{account_id}/orders", "/v1/accounts/{account_id}/fills",
                 "/v1/accounts/{account_id}/deposits", "/v1/accounts/{account_id}/withdrawals",
                 "/v1/accounts/{account_id}/cash-movements", "/v1/accounts/{account_id}/orders/{order_id}",
                 "/v1/accounts/{account_id}/positions/{symbol}", "/v1/search", "/v1/compliance/reports",
                 "/health", "/ready", "/metrics"):
        assert path in spec["paths"], path
    deposit = spec["paths"]["/v1/accounts/{account_id}/deposits"]["post"]
    assert "amount" in deposit["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert any(p["name"] == "Idempotency-Key" for p in deposit["parameters"])
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "ProblemDetails" in spec["components"]["schemas"]
    unauthorized = spec["paths"]["/v1/accounts"]["get"]["responses"]["401"]["content"]
    assert unauthorized["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/ProblemDetails"}
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text.lower()


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"] == "https://brokerage.example/problems/not-found"
    wrong = await client.delete("/health")
    assert wrong.status_code == 405 and wrong.json()["type"].endswith("/method-not-allowed")


async def test_unexpected_error_is_500_problem_without_internals(api_app: FastAPI) -> None:
    @api_app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret connection string postgresql://u:p@db")

    async with api_app.router.lifespan_context(api_app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app, raise_app_exceptions=False), base_url="http://api.test"
    ) as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://brokerage.example/problems/internal-error"
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert len(body["error_id"]) == 32


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/health", headers={"X-Request-ID": "trace-123"})
    assert given.headers["x-request-id"] == "trace-123"
    made = await client.get("/health")
    assert len(made.headers["x-request-id"]) == 32
    insane = await client.get("/health", headers={"X-Request-ID": "x" * 500})
    assert insane.headers["x-request-id"] != "x" * 500
    problem = await client.get("/v1/accounts", headers={"X-Request-ID": "trace-401"})
    assert problem.status_code == 401 and problem.headers["x-request-id"] == "trace-401"
