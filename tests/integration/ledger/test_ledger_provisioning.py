"""Demo seed and API tokens on a real PostgreSQL: idempotent, hashed secrets, 0600 token file."""

from __future__ import annotations

import stat
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from ledger.credentials import hash_api_token, verify_password
from ledger.errors import AccountNotFound, LedgerInputError
from ledger.provisioning import issue_api_token, seed_demo

pytestmark = pytest.mark.integration


async def _state(pool: asyncpg.Pool) -> list[tuple[str, str, Decimal]]:
    rows = await pool.fetch(
        "SELECT a.account_id, a.account_type, c.amount FROM accounts a JOIN cash_balances c USING (account_id) "
        "ORDER BY a.account_id")
    return [(r["account_id"], r["account_type"], r["amount"]) for r in rows]


async def test_seed_twice_keeps_five_funded_accounts_and_the_token(db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    first = await seed_demo(db_pool, tmp_path)
    second = await seed_demo(db_pool, tmp_path)
    expected = [(f"ACC-CLIENT{n}", "cash", Decimal("1000000")) for n in (1, 2, 3)] + [
        (f"ACC-CLIENT{n}", "margin", Decimal("100000")) for n in (4, 5)]
    assert await _state(db_pool) == expected
    assert (first.accounts_created, first.deposits_made, first.admin_token_source) == (5, 5, "generated")
    assert (second.accounts_created, second.deposits_made, second.admin_token_source) == (0, 0, "existing")
    assert second.admin_token == first.admin_token
    assert await db_pool.fetchval("SELECT count(*) FROM journal_entries WHERE kind = 'deposit'") == 5
    assert await db_pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'cash.deposit'") == 5

    sessions = await db_pool.fetch(
        "SELECT s.sender_comp_id, s.target_comp_id, s.begin_string, s.password_hash, l.account_id, l.is_default "
        "FROM fix_sessions s JOIN fix_session_accounts l USING (sender_comp_id) WHERE s.kind = 'client' ORDER BY 1")
    assert [s["sender_comp_id"] for s in sessions] == [f"CLIENT{n}" for n in range(1, 6)]
    for n, s in enumerate(sessions, start=1):
        assert (s["target_comp_id"], s["begin_string"], s["account_id"], s["is_default"]) == (
            "BROKER", "FIX.4.4", f"ACC-CLIENT{n}", True)
        assert verify_password(f"demo{n}", s["password_hash"]) and not verify_password("demo0", s["password_hash"])
    # the back office's drop copy (ADR 027): every demo account, read-only
    copy = await db_pool.fetchrow("SELECT kind, target_comp_id, password_hash FROM fix_sessions "
                                  "WHERE sender_comp_id = 'DROPCOPY1'")
    assert copy["kind"] == "drop-copy" and copy["target_comp_id"] == "BROKER"
    assert verify_password("dropcopy1", copy["password_hash"])
    assert {r["account_id"] for r in await db_pool.fetch(
        "SELECT account_id FROM fix_session_accounts WHERE sender_comp_id = 'DROPCOPY1'")} == {
        f"ACC-CLIENT{n}" for n in range(1, 6)}

    token_file = tmp_path / "admin-token"
    assert token_file.read_text().strip() == first.admin_token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert await db_pool.fetchval("SELECT role FROM api_tokens WHERE token_hash = $1",
                                  hash_api_token(first.admin_token)) == "admin"


async def test_seed_replaces_a_dead_token_and_honours_a_fixed_one(db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    first = await seed_demo(db_pool, tmp_path)
    await db_pool.execute("UPDATE api_tokens SET revoked_at = now()")
    second = await seed_demo(db_pool, tmp_path)
    assert second.admin_token_source == "generated" and second.admin_token != first.admin_token
    fixed = await seed_demo(db_pool, tmp_path, admin_token="brk_fixed-for-tests")
    again = await seed_demo(db_pool, tmp_path, admin_token="brk_fixed-for-tests")
    assert fixed.admin_token == again.admin_token == "brk_fixed-for-tests"
    assert (tmp_path / "admin-token").read_text().strip() == "brk_fixed-for-tests"
    assert await db_pool.fetchval("SELECT count(*) FROM api_tokens WHERE token_hash = $1",
                                  hash_api_token("brk_fixed-for-tests")) == 1


async def test_issue_api_token_validates_role_and_accounts(db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    await seed_demo(db_pool, tmp_path)
    issued = await issue_api_token(db_pool, "account", account_ids=["ACC-CLIENT1", "ACC-CLIENT2"], label="app")
    stored = await db_pool.fetchrow("SELECT token_id, role, label FROM api_tokens WHERE token_hash = $1",
                                    hash_api_token(issued.token))
    assert stored is not None and (stored["token_id"], stored["role"], stored["label"]) == (
        issued.token_id, "account", "app")
    linked = await db_pool.fetch("SELECT account_id FROM api_token_accounts WHERE token_id = $1 ORDER BY 1",
                                 issued.token_id)
    assert [r["account_id"] for r in linked] == ["ACC-CLIENT1", "ACC-CLIENT2"]
    before = await db_pool.fetchval("SELECT count(*) FROM api_tokens")
    with pytest.raises(LedgerInputError):
        await issue_api_token(db_pool, "root")
    with pytest.raises(LedgerInputError):
        await issue_api_token(db_pool, "account")
    with pytest.raises(AccountNotFound):
        await issue_api_token(db_pool, "account", account_ids=["ACC-CLIENT1", "ACC-NOPE"])
    assert await db_pool.fetchval("SELECT count(*) FROM api_tokens") == before
