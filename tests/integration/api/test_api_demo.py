"""What the README promises after `brokerage demo seed`: the admin token lists the five demo accounts,
funded through the journal, each traded by its FIX session."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx

from ledger.provisioning import DEMO_CLIENTS, seed_demo


async def test_admin_token_of_demo_seed_lists_the_demo_accounts(
    client: httpx.AsyncClient, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    report = await seed_demo(db_pool, tmp_path)
    response = await client.get("/v1/accounts", headers={"Authorization": f"Bearer {report.admin_token}"})
    assert response.status_code == 200
    accounts = {a["account_id"]: a for a in response.json()["data"]}
    assert set(accounts) == {c.account_id for c in DEMO_CLIENTS}
    for demo in DEMO_CLIENTS:
        account = accounts[demo.account_id]
        assert account["type"] == demo.account_type.value
        assert Decimal(account["cash"]) == demo.opening_cash
        assert account["fix_sessions"] == [demo.sender_comp_id, "DROPCOPY1"]  # the back office's drop copy
        expected_power = demo.opening_cash * (2 if demo.account_type.value == "margin" else 1)  # Reg T: 2× equity
        assert Decimal(account["buying_power"]) == expected_power
    history = await client.get(f"/v1/accounts/{DEMO_CLIENTS[0].account_id}/cash-movements",
                               headers={"Authorization": f"Bearer {report.admin_token}"})
    (opening,) = history.json()["data"]
    assert opening["kind"] == "deposit" and Decimal(opening["amount"]) == DEMO_CLIENTS[0].opening_cash
