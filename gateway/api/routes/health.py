"""Operator endpoints: liveness, readiness (PostgreSQL and Redis answer), Prometheus metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from brokerage.readiness import peers_ready
from gateway.api import queries
from gateway.api.deps import AppSettings, DbPool, Metrics, RedisClient
from gateway.api.problems import Problem, problem_responses
from gateway.api.schemas import HealthStatus, ReadyStatus

router = APIRouter(tags=["operations"])

READY_TIMEOUT_SECONDS = 2.0


@router.get("/health", response_model=HealthStatus, summary="Liveness: the process serves requests")
async def health() -> HealthStatus:
    return HealthStatus(status="ok")


async def _check(name: str, probe: Awaitable[object]) -> tuple[str, str]:
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await probe
    except TimeoutError:
        return name, f"timeout after {READY_TIMEOUT_SECONDS}s"
    except Exception as exc:  # any failure of the dependency means not ready; say which kind
        return name, f"error: {type(exc).__name__}"
    return name, "ok"


@router.get(
    "/ready", response_model=ReadyStatus,
    summary="Readiness: PostgreSQL and Redis answer, and every process in ready_peers is ready",
    responses=problem_responses({503: "A dependency does not answer (`not-ready`, with `checks`)"}),
)
async def ready(pool: DbPool, redis: RedisClient, settings: AppSettings) -> ReadyStatus:
    results = await asyncio.gather(_check("postgresql", queries.ping(pool)), _check("redis", redis.ping()))
    checks = dict(results) | await peers_ready(settings.ready_peers)  # the other processes (ADR 016)
    failing = sorted(name for name, outcome in checks.items() if outcome != "ok")
    if failing:
        raise Problem(503, "not-ready", "Not ready", f"Not answering: {', '.join(failing)}.", checks=checks,
                      headers={"Retry-After": "5"})
    return ReadyStatus(status="ready", checks=checks)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(api_metrics: Metrics) -> Response:
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)
