"""Issue 9, REST and the audit endpoint: each attack written as the request itself with the expected refusal,
next to the legitimate request that must still work. Real PostgreSQL/Redis; uvicorn for WebSockets; the real
audit shipper (outbox → chdb, endpoint on a free port) for reports."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import audit.reports
from audit import service
from audit.chdb_sink import ChdbSink
from audit.events import AuditEvent
from audit.outbox import append_event, backlog
from brokerage.cli import app as cli
from brokerage.services import free_port
from brokerage.settings import Settings, get_settings
from gateway.api.app import create_app
from ledger.api_tokens import issue_api_token, revoke_api_token
from ledger.errors import LedgerInputError
from ledger.provisioning import ensure_admin_token
from tests.integration.api.conftest import Seed, serving
from tests.integration.audit.conftest import DATA_DIR
from tests.integration.audit.conftest import chdb_sink as chdb_sink

pytestmark = pytest.mark.integration
PROBLEMS = "https://brokerage.example/problems/"
PROBLEM = "application/problem+json"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_problem(response: httpx.Response, status: int, slug: str | None = None) -> bool:
    ok = response.status_code == status and response.headers["content-type"].startswith(PROBLEM)
    return ok and (slug is None or response.json()["type"] == PROBLEMS + slug)


# Roles --------------------------------------------------------------------------------------------------------

async def test_account_token_reads_its_account_but_cannot_move_cash(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1", cash="100")
    await seed.account("B1", cash="100")
    account = await seed.token("account", "A1")
    operator, compliance = await seed.token("operator"), await seed.token("compliance")

    assert (await client.get("/v1/accounts/A1", headers=auth(account))).status_code == 200  # control
    deposit = await client.post("/v1/accounts/A1/deposits", json={"amount": "1000000"},
                                headers={**auth(account), "Idempotency-Key": "self-service"})
    assert is_problem(deposit, 403, "forbidden")
    withdraw = await client.post("/v1/accounts/A1/withdrawals", json={"amount": "50"},
                                 headers={**auth(account), "Idempotency-Key": "self-withdraw"})
    assert is_problem(withdraw, 403, "forbidden")
    other = await client.post("/v1/accounts/B1/deposits", json={"amount": "1"},
                              headers={**auth(account), "Idempotency-Key": "other"})
    assert is_problem(other, 404, "account-not-found")  # another account stays invisible
    refused = await client.post("/v1/accounts/A1/deposits", json={"amount": "1"},
                                headers={**auth(compliance), "Idempotency-Key": "compliance"})
    assert is_problem(refused, 403, "forbidden")
    ok = await client.post("/v1/accounts/A1/deposits", json={"amount": "25"},
                           headers={**auth(operator), "Idempotency-Key": "operator"})
    assert ok.status_code == 201 and ok.json()["cash"] == "125.0000"
    assert (await client.get("/v1/accounts/B1", headers=auth(operator))).status_code == 200


# Expiry, revocation, rotation -------------------------------------------------------------------------------

async def test_expired_and_revoked_tokens_are_401(client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool) -> None:
    await seed.account("A1")
    expired = await seed.token("admin", expired=True)
    response = await client.get("/v1/accounts", headers=auth(expired))
    assert is_problem(response, 401, "unauthorized") and "invalid_token" in response.headers["www-authenticate"]

    issued = await issue_api_token(db_pool, "account", account_ids=["A1"], ttl=timedelta(hours=1))
    assert (await client.get("/v1/accounts/A1", headers=auth(issued.token))).status_code == 200  # control
    assert await revoke_api_token(db_pool, issued.token_id, actor="test")
    assert is_problem(await client.get("/v1/accounts/A1", headers=auth(issued.token)), 401, "unauthorized")
    assert not await revoke_api_token(db_pool, issued.token_id)  # already revoked
    events = await db_pool.fetch("SELECT event_type, payload->>'token_id' AS token_id FROM outbox "
                                 "WHERE event_type LIKE 'api_token.%' ORDER BY seq")
    assert [(e["event_type"], e["token_id"]) for e in events] == [
        ("api_token.created", issued.token_id), ("api_token.revoked", issued.token_id)]
    assert issued.token not in json.dumps([dict(r) for r in await db_pool.fetch("SELECT payload FROM outbox")])


async def test_rotating_the_admin_token_invalidates_the_old_one(
    client: httpx.AsyncClient, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    old, path, source = await ensure_admin_token(db_pool, tmp_path)
    assert source == "generated" and (await client.get("/v1/accounts", headers=auth(old))).status_code == 200
    new, _, source = await ensure_admin_token(db_pool, tmp_path, rotate=True)
    assert source == "generated" and new != old and path.read_text().strip() == new
    assert is_problem(await client.get("/v1/accounts", headers=auth(old)), 401, "unauthorized")
    assert (await client.get("/v1/accounts", headers=auth(new))).status_code == 200
    # BROKERAGE_ADMIN_TOKEN: a new value replaces the generated one, and the next value replaces it in turn
    await ensure_admin_token(db_pool, tmp_path, "brk_env-first")
    assert is_problem(await client.get("/v1/accounts", headers=auth(new)), 401)
    await ensure_admin_token(db_pool, tmp_path, "brk_env-second")
    assert is_problem(await client.get("/v1/accounts", headers=auth("brk_env-first")), 401)
    assert (await client.get("/v1/accounts", headers=auth("brk_env-second"))).status_code == 200
    with pytest.raises(LedgerInputError, match="revoked"):  # an old value put back is refused, not revived
        await ensure_admin_token(db_pool, tmp_path, "brk_env-first")


def test_token_cli_create_list_revoke(migrated_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKERAGE_DATABASE_URL", migrated_db_url)
    monkeypatch.setenv("BROKERAGE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        created = runner.invoke(cli, ["token", "create", "--role", "operator", "--ttl", "12h", "--label", "desk"])
        assert created.exit_code == 0, created.output
        secret = created.stdout.strip().splitlines()[-1]
        assert secret.startswith("brk_")
        assert runner.invoke(cli, ["token", "create", "--role", "admin", "--ttl", "0d"]).exit_code == 2
        listed = runner.invoke(cli, ["token", "list", "--format", "json"])
        assert listed.exit_code == 0 and secret not in listed.stdout
        [token] = json.loads(listed.stdout)
        assert (token["role"], token["label"], token["status"]) == ("operator", "desk", "active")
        assert runner.invoke(cli, ["token", "revoke", token["token_id"]]).exit_code == 0
        assert runner.invoke(cli, ["token", "revoke", token["token_id"]]).exit_code == 1
        assert json.loads(runner.invoke(cli, ["token", "list", "--format", "json"]).stdout) == []
        [revoked] = json.loads(runner.invoke(cli, ["token", "list", "--all", "--format", "json"]).stdout)
        assert revoked["status"] == "revoked"
        rotated = runner.invoke(cli, ["token", "rotate-admin"])
        assert rotated.exit_code == 0 and (tmp_path / "admin-token").read_text().strip() in rotated.stdout
    finally:
        get_settings.cache_clear()


# Market data: search and stream ----------------------------------------------------------------------------

async def test_search_needs_a_token_unless_public(client: httpx.AsyncClient, seed: Seed, api_settings: Settings,
                                                  redis_client: Any) -> None:
    anonymous = await client.get("/v1/search", params={"q": "AAPL"})
    assert is_problem(anonymous, 401, "unauthorized")
    bogus = await client.get("/v1/search", params={"q": "AAPL"}, headers=auth("brk_guessed"))
    assert is_problem(bogus, 401, "unauthorized")
    token = await seed.token("account")
    assert (await client.get("/v1/search", params={"q": "AAPL"}, headers=auth(token))).status_code == 200
    public = create_app(api_settings.model_copy(update={"api_public_market_data": True}))
    async with public.router.lifespan_context(public), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=public), base_url="http://api.test"
    ) as http:
        assert (await http.get("/v1/search", params={"q": "AAPL"})).status_code == 200


@pytest.fixture
async def stream_url(api_settings: Settings) -> AsyncIterator[str]:
    app = create_app(api_settings.model_copy(update={
        "api_ws_allowed_origins": ["https://app.example"], "api_ws_max_connections_per_token": 2,
        "api_ws_token_recheck_seconds": 0.2}))
    with serving(app) as base_url:
        yield base_url.replace("http://", "ws://") + "/v1/stream"


async def refused_status(url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, **kwargs):
            pass
    response = refused.value.response
    return response.status_code, json.loads(response.body or b"{}")


async def subscribed(ws: Any) -> bool:
    await ws.send(json.dumps({"action": "subscribe", "symbols": ["AAPL"]}))
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message["type"] == "subscribed":
            return True


async def test_stream_refuses_no_token_foreign_origin_and_too_many(stream_url: str, seed: Seed) -> None:
    token = await seed.token("account")
    status, body = await refused_status(stream_url)
    assert status == 401 and body["type"] == PROBLEMS + "unauthorized"
    status, _ = await refused_status(stream_url, additional_headers=auth("brk_guessed"))
    assert status == 401
    # a page on another site, riding the user's token (e.g. in the URL), is refused by its Origin
    status, body = await refused_status(f"{stream_url}?access_token={token}", origin="https://evil.example")
    assert status == 403 and body["type"] == PROBLEMS + "origin-not-allowed"

    async with connect(stream_url, additional_headers=auth(token)) as first, connect(
        f"{stream_url}?access_token={token}", origin="https://app.example"
    ) as second:  # controls: a non-browser client (no Origin) and the allowed web app
        assert await subscribed(first) and await subscribed(second)
        status, body = await refused_status(stream_url, additional_headers=auth(token))
        assert status == 429 and body["type"] == PROBLEMS + "too-many-streams" and body["limit"] == 2
        other = await seed.token("account")  # the cap is per token
        async with connect(stream_url, additional_headers=auth(other)) as third:
            assert await subscribed(third)
    for _ in range(100):  # closed streams give their slots back
        try:
            async with connect(stream_url, additional_headers=auth(token)) as again:
                assert await subscribed(again)
            break
        except InvalidStatus:
            await asyncio.sleep(0.05)
    else:
        pytest.fail("a closed stream's slot was not released")


async def test_an_open_stream_ends_when_its_token_is_revoked(stream_url: str, db_pool: asyncpg.Pool) -> None:
    await db_pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('A1', 'cash', 'x')")
    issued = await issue_api_token(db_pool, "account", account_ids=["A1"])
    async with connect(stream_url, additional_headers=auth(issued.token)) as ws:
        assert await subscribed(ws)
        await asyncio.sleep(0.5)
        assert ws.close_code is None  # control: a live token keeps its stream
        await revoke_api_token(db_pool, issued.token_id)
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(20):
                while True:
                    await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "revoked" in closed.value.rcvd.reason


# Cursors and dates -----------------------------------------------------------------------------------------

async def test_bad_cursors_and_dates_are_422_not_500(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    token = await seed.token("admin")
    for path, params in [
        ("/v1/accounts", {"cursor": "%%%not-base64"}),
        ("/v1/accounts", {"cursor": "W10"}),  # base64 of "[]": JSON, but not a cursor
        ("/v1/accounts/A1/orders", {"cursor": "bm90LWpzb24"}),
        # a cursor whose instant overflows once in UTC
        ("/v1/accounts/A1/fills", {"cursor": "eyJ0IjoiOTk5OS0xMi0zMVQyMzo1OTo1OS0wNTowMCIsImlkIjoiRTEifQ"}),
        ("/v1/accounts/A1/cash-movements", {"cursor": "eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsImlkIjoiwrIifQ"}),
    ]:
        response = await client.get(path, params=params, headers=auth(token))
        assert is_problem(response, 422, "invalid-cursor"), (path, params, response.text)
    for params in [{"from": "9999-12-31T23:59:59-05:00"}, {"to": "0001-01-01T00:00:00+05:00"},
                   {"from": "2026-02-30"}, {"from": "not-a-date"}]:
        response = await client.get("/v1/accounts/A1/orders", params=params, headers=auth(token))
        assert response.status_code == 422 and response.headers["content-type"] == PROBLEM, (params, response.text)
    compliance = await seed.token("compliance")
    for params in [{"from": "0001-01-01", "to": "2026-01-01"}, {"from": "2026-01-01", "to": "9999-12-31T23:00-05:00"},
                   {"from": "2026-13-01", "to": "2027-01-01"}]:
        response = await client.get("/v1/compliance/reports/blotter", params=params, headers=auth(compliance))
        assert response.status_code == 422 and response.headers["content-type"] == PROBLEM, (params, response.text)


# The audit endpoint, CSV export, reports vs shipping ------------------------------------------------------

@pytest.fixture
async def shipper(db_pool: asyncpg.Pool, chdb_sink: ChdbSink, migrated_db_url: str) -> AsyncIterator[str]:
    """The real shipper process body (`brokerage audit run`) on this test's chdb database; yields its URL."""
    settings = Settings(data_dir=DATA_DIR, audit_clickhouse_database=chdb_sink.database, database_url=migrated_db_url,
                        audit_port=free_port(), audit_flush_interval_seconds=0.05, clickhouse_url=None)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(settings, stop))
    url = f"http://127.0.0.1:{settings.audit_port}"
    async with httpx.AsyncClient() as http:
        for _ in range(400):
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def shipped(pool: asyncpg.Pool) -> bool:
    return (await backlog(pool)).pending == 0


async def until_shipped(pool: asyncpg.Pool) -> None:
    for _ in range(3000):
        if await shipped(pool):
            return
        await asyncio.sleep(0.02)
    pytest.fail("the outbox was not shipped within a minute")


async def test_audit_endpoint_needs_a_compliance_or_admin_token(shipper: str, db_pool: asyncpg.Pool,
                                                               seed: Seed) -> None:
    await seed.account("A1")
    compliance = await seed.token("compliance")
    period = {"from": "2026-01-01", "to": "2027-01-01"}
    async with httpx.AsyncClient(base_url=shipper) as http:
        assert (await http.get("/health")).status_code == 200  # liveness stays open
        for path in ("/reports/blotter", "/verify", "/metrics", "/reports"):
            anonymous = await http.get(path, params=period)
            assert anonymous.status_code == 401 and anonymous.headers["content-type"] == PROBLEM, path
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
        rebuild = await http.post("/report-tables/rebuild")  # the one endpoint that writes (ADR 043)
        assert rebuild.status_code == 401 and rebuild.headers["content-type"] == PROBLEM
        for role in ("account", "operator"):
            token = await seed.token(role, "A1") if role == "account" else await seed.token(role)
            assert (await http.post("/report-tables/rebuild", headers=auth(token))).status_code == 403, role
        assert (await http.get("/verify", headers=auth("brk_guessed"))).status_code == 401
        assert (await http.get("/verify", headers=auth(await seed.token("account", "A1")))).status_code == 403
        assert (await http.get("/verify", headers=auth(await seed.token("operator")))).status_code == 403
        revoked = await seed.token("compliance", revoked=True)
        assert (await http.get("/verify", headers=auth(revoked))).status_code == 401
        ok = await http.get("/reports/blotter", params=period, headers=auth(compliance))
        assert ok.status_code == 200 and "columns" in ok.json()
        assert (await http.get("/verify", headers=auth(await seed.token("admin")))).status_code == 200


def test_audit_endpoint_binds_loopback_by_default() -> None:
    assert Settings().audit_host == "127.0.0.1"


async def test_csv_export_neutralises_formula_cells(
    shipper: str, db_pool: asyncpg.Pool, seed: Seed, api_settings: Settings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, chdb_sink: ChdbSink,
) -> None:
    await seed.account("A1")
    async with db_pool.acquire() as conn:
        await append_event(conn, AuditEvent("order.rejected", account_id="A1", symbol="AAPL", cl_ord_id="=cmd",
                                            reason="@SUM(1+1)*cmd|' /C calc'!A0", rule="-2+3",
                                            occurred_at=Seed.at(1)))
    for _ in range(400):
        if await shipped(db_pool):
            break
        await asyncio.sleep(0.05)
    app = create_app(api_settings.model_copy(update={"audit_port": int(shipper.rsplit(":", 1)[1])}))
    compliance = await seed.token("compliance")
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as http:
        response = await http.get("/v1/compliance/reports/blotter", headers=auth(compliance),
                                  params={"from": "2026-01-01", "to": "2027-01-01", "format": "csv"})
    assert response.status_code == 200, response.text
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert row["cl_ord_id"] == "'=cmd"
    assert row["reject_reason"] == "'@SUM(1+1)*cmd|' /C calc'!A0" and row["reject_rule"] == "'-2+3"
    assert row["account"] == "A1" and row["symbol"] == "AAPL"

    # the CLI export, asking the same shipper (its credential: BROKERAGE_AUDIT_TOKEN)
    monkeypatch.setenv("BROKERAGE_AUDIT_PORT", shipper.rsplit(":", 1)[1])
    monkeypatch.setenv("BROKERAGE_AUDIT_TOKEN", compliance)
    monkeypatch.setenv("BROKERAGE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        out = await asyncio.to_thread(CliRunner().invoke, cli, ["report", "blotter", "--from", "2026-01-01",
                                                               "--to", "2027-01-01", "--format", "csv"])
    finally:
        get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    [cli_row] = list(csv.DictReader(io.StringIO(out.stdout)))
    assert cli_row["cl_ord_id"] == "'=cmd" and cli_row["reject_rule"] == "'-2+3"
    assert audit.reports.csv_cell("-1000.50") == "-1000.50"  # a plain negative number is not a formula


SLOW_REPORT = ("SELECT sleepEachRow(0.5) AS slept, {from_ts:DateTime64(6, 'UTC')} AS from_ts, "
               "{to_ts:DateTime64(6, 'UTC')} AS to_ts, {account:String} AS account, {symbol:String} AS symbol "
               "FROM numbers(12) SETTINGS max_block_size = 1, function_sleep_max_microseconds_per_block = 0")


async def test_shipping_continues_during_a_long_report(shipper: str, db_pool: asyncpg.Pool, seed: Seed,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.integration.audit.test_audit_shipper import append

    real_sql = audit.reports.report_sql
    monkeypatch.setattr(audit.reports, "report_sql",
                        lambda name: SLOW_REPORT if name == "blotter" else real_sql(name))
    compliance = await seed.token("compliance")
    for _ in range(400):
        if await shipped(db_pool):
            break
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=shipper, timeout=120) as http:
        started = time.monotonic()
        report = asyncio.create_task(http.get("/reports/blotter", headers=auth(compliance),
                                              params={"from": "2026-01-01", "to": "2027-01-01"}))
        await asyncio.sleep(0.5)  # the report is running (6 s of engine time)
        batches = []
        for batch in range(3):  # three separate outbox batches, each shipped while the report still runs
            await append(db_pool, 5, start=batch * 5)
            appended = time.monotonic()
            await until_shipped(db_pool)
            batches.append(round(time.monotonic() - appended, 3))
            assert not report.done(), f"the report ended before batch {batch} shipped"
        response = await report
        took = time.monotonic() - started
    assert response.status_code == 200 and len(response.json()["rows"]) == 12
    print(f"\nshipped 3 batches in {batches} s each while a {took:.1f} s report ran")
