"""Fixtures: the real gateway process (no exchange link: market data needs only Redis) against a
freshly migrated database with provisioned sessions and the test Redis; a QuoteWriter publishing
to it the way the ingestor does."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).parents[1] / "fix"))

from gateway_process import GatewayProcess, seed_sessions

from marketdata.redis_quotes import QuoteWriter

if TYPE_CHECKING:
    from tests.conftest import TestServers


@pytest.fixture
def md_gateway(migrated_db_url: str, test_servers: TestServers, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayProcess]:
    asyncio.run(seed_sessions(migrated_db_url))
    monkeypatch.setenv("BROKERAGE_REDIS_URL", test_servers.redis_url)
    monkeypatch.setenv("BROKERAGE_FIX_MD_FLUSH_SECONDS", "0.02")
    process = GatewayProcess(migrated_db_url, tmp_path)
    process.start()
    try:
        yield process
    finally:
        status = process.stop()
        assert status == 0, f"gateway exit status {status}:\n{process.log()}"


@pytest.fixture
async def quote_writer(test_servers: TestServers) -> AsyncIterator[QuoteWriter]:
    redis = Redis.from_url(test_servers.redis_url)
    try:
        yield QuoteWriter(redis, publish=True)
    finally:
        await redis.aclose()  # type: ignore[attr-defined,unused-ignore]
