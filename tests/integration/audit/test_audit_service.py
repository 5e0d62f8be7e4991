"""`brokerage audit run` in-process: the shipper drains the outbox while its endpoint answers the CLI/API."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from audit import service
from audit.chdb_sink import ChdbSink
from audit.client import ShipperClient
from audit.outbox import backlog
from audit.reports import ReportRequest
from brokerage.services import free_port
from brokerage.settings import Settings
from ledger.api_tokens import issue_api_token
from tests.integration.audit.conftest import DATA_DIR
from tests.integration.audit.test_audit_shipper import append

pytestmark = pytest.mark.integration


async def test_shipper_process_ships_and_serves(db_pool: asyncpg.Pool, chdb_sink: ChdbSink,
                                                migrated_db_url: str) -> None:
    settings = Settings(data_dir=DATA_DIR, audit_clickhouse_database=chdb_sink.database,
                        database_url=migrated_db_url, audit_port=free_port(), audit_flush_interval_seconds=0.05,
                        clickhouse_url=None)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(settings, stop))
    client = ShipperClient.from_settings(settings, token=(await issue_api_token(db_pool, "compliance")).token)
    try:
        for _ in range(200):
            if await client.is_up():
                break
            await asyncio.sleep(0.05)
        await append(db_pool, 12)
        for _ in range(200):
            if (await backlog(db_pool)).pending == 0:
                break
            await asyncio.sleep(0.05)
        result = await client.run(ReportRequest.parse("blotter", "2026-01-01", "2027-01-01", account="ACC2"))
        assert len(result.rows) == 6 and {row[result.columns.index("account")] for row in result.rows} == {"ACC2"}
        assert await client.verify() == {"checked": 13, "break": None}  # 12 + the token's api_token.created
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {client.token}"}) as http:
            metrics = (await http.get(f"{client.base_url}/metrics")).text
        assert "brokerage_audit_events_shipped_total" in metrics
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert task.exception() is None
    assert not await client.is_up()
