"""/v1/admin/accounts and /v1/admin/sessions against the running system: 403 for other roles, 201/200 for
admin (deposits also operator), problem+json for bad input, an outbox event with the token as actor for every
change; a session created over REST logs on over FIX within seconds and is logged out when disabled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import httpx
import pytest

from brokerage.settings import Settings
from fixclient import events as ev
from fixclient.errors import LogonRejected
from gateway.api.app import create_app
from ledger.api_tokens import IssuedToken, issue_api_token
from tests.integration.order_path.conftest import OrderPathEnv
from tests.integration.provisioning.conftest import logon, logon_within, outbox

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@pytest.fixture
async def api(env: OrderPathEnv) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=env.database_url, redis_url=env.redis_url, data_dir=env.root / "api"))
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http):
        yield http


async def _token(pool: asyncpg.Pool, role: str, *accounts: str) -> IssuedToken:
    return await issue_api_token(pool, role, account_ids=accounts, label=f"test {role}")


def _auth(token: IssuedToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.token}"}


async def test_roles(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    operator, account = await _token(pool, "operator"), await _token(pool, "account", "ACC-CLIENT1")
    for token in (operator, account):
        for method, path, body in (("GET", "/v1/admin/sessions", None), ("GET", "/v1/admin/accounts", None),
                                   ("POST", "/v1/admin/accounts", {"account_id": "X1", "account_type": "cash"}),
                                   ("POST", "/v1/admin/sessions/CLIENT1/disable", None)):
            response = await api.request(method, path, json=body, headers=_auth(token))
            assert response.status_code == 403, (token.role, path, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
    response = await api.post("/v1/admin/accounts/ACC-CLIENT1/deposits", json={"amount": "1"},
                              headers=_auth(account))
    assert response.status_code == 403
    response = await api.post("/v1/admin/accounts/ACC-CLIENT1/deposits", json={"amount": "12.50"},
                              headers={**_auth(operator), "Idempotency-Key": "op-dep-1"})
    assert response.status_code == 201, response.text
    assert (await api.get("/v1/admin/sessions")).status_code == 401
    assert await outbox(pool, "cash.deposit", actor=f"api:{operator.token_id}")


async def test_admin_provisions_a_client_that_logs_on_at_once(env: OrderPathEnv, api: httpx.AsyncClient,
                                                              pool: asyncpg.Pool) -> None:
    admin = await _token(pool, "admin")
    auth, actor = _auth(admin), f"api:{admin.token_id}"
    response = await api.post("/v1/admin/accounts", json={"account_id": "ACC-REST1", "account_type": "margin"},
                              headers=auth)
    assert response.status_code == 201, response.text
    assert response.json()["account_type"] == "margin"
    response = await api.post("/v1/admin/accounts/ACC-REST1/deposits", json={"amount": "1000"},
                              headers=auth)
    assert response.status_code == 201 and Decimal(response.json()["cash"]) == 1000
    response = await api.post("/v1/admin/sessions", headers=auth, json={
        "sender_comp_id": "REST1", "password": "rest-pass-1", "account_id": "ACC-REST1"})
    assert response.status_code == 201, response.text
    assert response.json()["default_account"] == "ACC-REST1"

    client = await logon_within(env, "REST1", "rest-pass-1")
    try:
        async def logged_on() -> bool:
            got = await api.get("/v1/admin/sessions/REST1", headers=auth)
            return bool(got.json()["logged_on"])

        deadline = asyncio.get_running_loop().time() + 20
        while not await logged_on():
            assert asyncio.get_running_loop().time() < deadline, "REST1 never shown logged on"
            await asyncio.sleep(0.5)
        response = await api.post("/v1/admin/sessions/REST1/disable", json={"reason": "test"}, headers=auth)
        assert response.status_code == 200 and response.json()["enabled"] is False
        await asyncio.wait_for(client.wait_closed(), 20)
        assert any(isinstance(e, ev.LoggedOut) and e.text == "Session disabled" for e in client.events)
    finally:
        await client.close()
    with pytest.raises(LogonRejected):
        await logon(env, "REST1", "rest-pass-1")
    assert (await api.post("/v1/admin/sessions/REST1/enable", headers=auth)).status_code == 200
    response = await api.put("/v1/admin/sessions/REST1/password", json={"password": "rest-pass-2"}, headers=auth)
    assert response.status_code == 200
    with pytest.raises(LogonRejected):
        await logon(env, "REST1", "rest-pass-1")
    back = await logon_within(env, "REST1", "rest-pass-2", seconds=20)
    await back.logout()
    response = await api.put("/v1/admin/sessions/REST1/accounts/ACC-CLIENT1", headers=auth)
    assert response.status_code == 200 and response.json()["accounts"] == ["ACC-REST1", "ACC-CLIENT1"]
    response = await api.delete("/v1/admin/sessions/REST1/accounts/ACC-CLIENT1", headers=auth)
    assert response.status_code == 200 and response.json()["accounts"] == ["ACC-REST1"]
    response = await api.get("/v1/admin/accounts", headers=auth)
    assert any(a["account_id"] == "ACC-REST1" and a["sessions"] == ["REST1"] for a in response.json())
    for event_type in ("account.opened", "cash.deposit", "fix_session.created", "fix_session.disabled",
                       "fix_session.enabled", "fix_session.password_changed", "fix_session.linked",
                       "fix_session.unlinked"):
        assert await outbox(pool, event_type, actor=actor), event_type


async def test_bad_input_is_problem_json(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    auth = _auth(await _token(pool, "admin"))
    cases = [
        ("POST", "/v1/admin/accounts", {"account_id": "ACC BAD", "account_type": "cash"}, 422),
        ("POST", "/v1/admin/accounts", {"account_id": "ACC-X", "account_type": "savings"}, 422),
        ("POST", "/v1/admin/accounts", {"account_id": "ACC-CLIENT1", "account_type": "cash"}, 409),
        ("POST", "/v1/admin/sessions", {"sender_comp_id": "S1", "password": "short", "account_id": "ACC-CLIENT1"},
         422),
        ("POST", "/v1/admin/sessions", {"sender_comp_id": "S1", "password": "long-enough", "account_id": "NOPE"},
         404),
        ("POST", "/v1/admin/sessions", {"sender_comp_id": "CLIENT1", "password": "long-enough",
                                        "account_id": "ACC-CLIENT1"}, 409),
        ("POST", "/v1/admin/sessions/NOPE/disable", None, 404),
        ("PUT", "/v1/admin/sessions/CLIENT1/password", {"password": " padded-password "}, 422),
        ("DELETE", "/v1/admin/sessions/CLIENT1/accounts/ACC-CLIENT2", None, 404),
        ("POST", "/v1/admin/accounts/ACC-CLIENT1/close", None, 409),  # it holds cash
        ("POST", "/v1/admin/accounts/NOPE/close", None, 404),
        ("POST", "/v1/admin/accounts/ACC-CLIENT1/deposits", {"amount": "-5"}, 422),
        ("POST", "/v1/admin/accounts/ACC-CLIENT1/withdrawals", {"amount": "999999999999"}, 422),
    ]
    for method, path, body, status in cases:
        response = await api.request(method, path, json=body, headers=auth)
        assert response.status_code == status, (path, body, response.text)
        assert response.headers["content-type"].startswith(PROBLEM), (path, response.headers)
        assert response.json()["type"].startswith("https://brokerage.example/problems/")
    spec = (await api.get("/openapi.json")).json()
    assert {"/v1/admin/accounts", "/v1/admin/sessions", "/v1/admin/sessions/{sender_comp_id}/disable"} <= set(
        spec["paths"])
