"""The shipper's local endpoint, the REST compliance router, and the CLI commands, on PostgreSQL + chdb."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import asyncpg
import httpx
import orjson
import pytest
from fastapi import FastAPI, Header, HTTPException
from typer.testing import CliRunner

from audit.chdb_sink import ChdbSink
from audit.http import build_compliance_router
from audit.pseudonyms import PseudonymStore
from audit.reports import SinkRunner
from audit.server import create_shipper_app
from audit.shipper import Shipper
from brokerage.cli import app as cli
from brokerage.services import free_port
from brokerage.settings import get_settings
from ledger.api_tokens import issue_api_token
from tests.integration.audit.conftest import DATA_DIR
from tests.integration.audit.test_audit_shipper import T0, drain

pytestmark = pytest.mark.integration


async def wash_sale(pool: asyncpg.Pool, sink: ChdbSink) -> None:
    from audit.events import AuditEvent
    from audit.outbox import append_event

    await pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('ACC1', 'cash', 'J D')")
    async with pool.acquire() as conn, conn.transaction():
        for side, px, at, pnl in [("buy", "50", T0, None), ("sell", "40", T0 + timedelta(hours=1), "-1000"),
                                  ("buy", "42", T0 + timedelta(days=10), None)]:
            await append_event(conn, AuditEvent(
                "order.fill", account_id="ACC1", symbol="AAPL", side=side, last_qty=Decimal(100),
                last_px=Decimal(px), realized_pnl=None if pnl is None else Decimal(pnl), occurred_at=at))
    await drain(Shipper(pool, sink))


async def test_shipper_endpoint(db_pool: asyncpg.Pool, chdb_sink: ChdbSink) -> None:
    await wash_sale(db_pool, chdb_sink)
    token = (await issue_api_token(db_pool, "compliance")).token
    transport = httpx.ASGITransport(app=create_shipper_app(chdb_sink, db_pool))
    async with httpx.AsyncClient(transport=transport, base_url="http://audit",
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        body = (await client.get("/reports/wash-sales", params={"from": "2026-01-01", "to": "2027-01-01"})).json()
        row = dict(zip(body["columns"], body["rows"][0], strict=True))
        assert (row["account"], row["disallowed_loss"]) == ("ACC1", "1000")
        bad = await client.get("/reports/nope", params={"from": "2026-01-01", "to": "2027-01-01"})
        assert bad.status_code == 422 and "unknown report" in bad.json()["detail"]
        assert (await client.get("/verify")).json() == {"checked": 3, "break": None}
        chdb_sink.query("TRUNCATE TABLE audit_fills")  # as a failed view insert would leave it
        assert "rebuild-report-tables" in (await client.get("/verify")).json()["break"]["problem"]
        rebuilt = await client.post("/report-tables/rebuild")
        assert rebuilt.status_code == 200 and "audit_fills" in rebuilt.json()["rebuilt"]
        assert (await client.get("/verify")).json() == {"checked": 3, "break": None}
        assert "brokerage_audit_outbox_lag_seconds" in (await client.get("/metrics")).text


async def test_compliance_router_requires_the_role(db_pool: asyncpg.Pool, chdb_sink: ChdbSink) -> None:
    await wash_sale(db_pool, chdb_sink)

    def require_compliance(x_role: str = Header("")) -> None:
        if x_role != "compliance":
            raise HTTPException(403, "compliance role required")

    api = FastAPI()
    api.include_router(build_compliance_router(require_compliance, SinkRunner(chdb_sink, PseudonymStore(db_pool))))
    period = {"from": "2026-01-01", "to": "2027-01-01"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://api") as client:
        assert (await client.get("/v1/compliance/reports/wash-sales", params=period)).status_code == 403
        ok = await client.get("/v1/compliance/reports/wash-sales", params={**period, "account": "ACC1"},
                              headers={"X-Role": "compliance"})
        assert ok.status_code == 200 and ok.json()["report"] == "wash-sales" and len(ok.json()["rows"]) == 1
        csv = await client.get("/v1/compliance/reports/blotter", params={**period, "format": "csv"},
                               headers={"X-Role": "compliance"})
        assert csv.headers["content-type"].startswith("text/csv") and len(csv.text.strip().splitlines()) == 4
        missing = await client.get("/v1/compliance/reports/nope", params=period, headers={"X-Role": "compliance"})
        assert missing.status_code == 404
        bad = await client.get("/v1/compliance/reports/blotter", params={"from": "2026-02-01", "to": "2026-01-01"},
                               headers={"X-Role": "compliance"})
        assert bad.status_code == 422 and "empty" in bad.json()["detail"]
        names = await client.get("/v1/compliance/reports", headers={"X-Role": "compliance"})
        assert "best-execution" in names.json()["reports"]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, chdb_sink: ChdbSink, migrated_db_url: str) -> Iterator[CliRunner]:
    """Settings that make the CLI open this process's chdb database and the test PostgreSQL; no shipper runs."""
    monkeypatch.setenv("BROKERAGE_DATA_DIR", str(DATA_DIR))
    monkeypatch.setenv("BROKERAGE_AUDIT_CLICKHOUSE_DATABASE", chdb_sink.database)
    monkeypatch.setenv("BROKERAGE_DATABASE_URL", migrated_db_url)
    monkeypatch.setenv("BROKERAGE_AUDIT_PORT", str(free_port()))
    monkeypatch.delenv("BROKERAGE_CLICKHOUSE_URL", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_report_verify_forget(cli_env: CliRunner, chdb_sink: ChdbSink, migrated_db_url: str) -> None:
    async def seed() -> None:
        pool = await asyncpg.create_pool(migrated_db_url, min_size=1, max_size=2)
        try:
            await wash_sale(pool, chdb_sink)
        finally:
            await pool.close()

    asyncio.run(seed())
    period = ["--from", "2026-01-01", "--to", "2027-01-01"]
    out = cli_env.invoke(cli, ["report", "wash-sales", *period, "--format", "json"])
    assert out.exit_code == 0, out.output
    [row] = orjson.loads(out.stdout)
    assert (row["account"], row["disallowed_loss"], row["adjusted_basis"]) == ("ACC1", "1000", "5200")

    table = cli_env.invoke(cli, ["report", "blotter", *period, "--symbol", "aapl"])
    assert table.exit_code == 0 and "3 rows" in table.stdout

    export = DATA_DIR / "blotter.csv"
    written = cli_env.invoke(cli, ["report", "blotter", *period, "--format", "csv", "--output", str(export)])
    assert written.exit_code == 0 and "3 rows written" in written.output
    lines = export.read_text().splitlines()
    assert lines[0].startswith("occurred_at,event_type,account") and len(lines) == 4

    assert cli_env.invoke(cli, ["report", "nope", *period]).exit_code == 2
    assert cli_env.invoke(cli, ["report", "blotter", "--from", "last week", "--to", "2027-01-01"]).exit_code == 2
    verify = cli_env.invoke(cli, ["audit", "verify"])
    assert verify.exit_code == 0 and "3 events" in verify.stdout

    chdb_sink.query("ALTER TABLE audit_fills UPDATE last_px = last_px + 1 WHERE side = 'sell' "
                    "SETTINGS mutations_sync = 1")
    stale = cli_env.invoke(cli, ["audit", "verify"])
    assert stale.exit_code == 1 and "audit_fills" in stale.stdout, stale.output
    rebuilt = cli_env.invoke(cli, ["audit", "rebuild-report-tables"])
    assert rebuilt.exit_code == 0 and "audit_fills" in rebuilt.stdout, rebuilt.output
    assert cli_env.invoke(cli, ["audit", "verify"]).exit_code == 0

    forget = cli_env.invoke(cli, ["audit", "forget", "ACC1", "--requested-by", "dpo"])
    assert forget.exit_code == 0 and "forgotten" in forget.stdout
    after = orjson.loads(cli_env.invoke(cli, ["report", "wash-sales", *period, "--format", "json"]).stdout)
    assert after[0]["account"] != "ACC1" and len(after[0]["account"]) == 32

    chdb_sink.query("ALTER TABLE audit_events UPDATE payload = replace(payload, '\"40\"', '\"41\"')"
                    " WHERE side = 'sell' SETTINGS mutations_sync = 1")
    broken = cli_env.invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1 and "modified" in broken.stdout


def test_cli_help() -> None:
    for argv in (["audit", "--help"], ["audit", "run", "--help"], ["audit", "verify", "--help"],
                 ["audit", "rebuild-report-tables", "--help"],
                 ["audit", "forget", "--help"], ["report", "--help"]):
        assert CliRunner().invoke(cli, argv).exit_code == 0
