"""LedgerRepository against a real PostgreSQL: cash movements, idempotency, concurrency, schema guards."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import asyncpg
import pytest

from ledger.errors import AccountNotActive, AccountNotFound, IdempotencyConflict, InsufficientFunds, InvalidAmount
from ledger.reconcile import reconcile
from ledger.repository import LedgerRepository

pytestmark = pytest.mark.integration
D = Decimal


async def _repo(pool: asyncpg.Pool, account_type: str = "cash", opening: str = "0") -> LedgerRepository:
    repo = LedgerRepository(pool)
    assert await repo.open_account("ACC-1", account_type, "Ada Lovelace")
    assert not await repo.open_account("ACC-1", account_type, "Ada Lovelace")  # idempotent
    if D(opening):
        await repo.deposit("ACC-1", D(opening), idempotency_key="opening", actor="test")
    return repo


async def _counts(pool: asyncpg.Pool) -> tuple[int, int, int, int]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM journal_entries) AS e, (SELECT count(*) FROM journal_lines) AS l, "
        "(SELECT count(*) FROM outbox) AS o, (SELECT count(*) FROM idempotency_keys) AS k"
    )
    assert row is not None
    return row["e"], row["l"], row["o"], row["k"]


async def _journal_cash(pool: asyncpg.Pool, account_id: str) -> Decimal:
    value = await pool.fetchval(
        "SELECT coalesce(sum(debit - credit), 0) FROM journal_lines WHERE account_id = $1 AND ledger_account = "
        "'cash:USD'", account_id,
    )
    return Decimal(value)


async def test_deposit_and_withdrawal_move_cash_through_the_journal_and_outbox(db_pool: asyncpg.Pool) -> None:
    repo = await _repo(db_pool)
    deposit = await repo.deposit("ACC-1", D("1000.50"), idempotency_key="k1", actor="api:admin")
    assert (deposit.kind, deposit.amount, deposit.cash, deposit.available, deposit.replayed) == (
        "deposit", D("1000.5"), D("1000.5"), D("1000.5"), False)
    assert deposit.created_at.utcoffset() == timedelta(0)  # UTC
    withdrawal = await repo.withdraw("ACC-1", D("0.5001"), idempotency_key="k2", actor="api:admin")
    assert withdrawal.cash == D("999.9999") and withdrawal.movement_id != deposit.movement_id
    assert (await repo.balance("ACC-1")).cash == D("999.9999")
    assert await _journal_cash(db_pool, "ACC-1") == D("999.9999")
    events = await db_pool.fetch("SELECT event_type, account_id, payload, occurred_at FROM outbox ORDER BY seq")
    assert [e["event_type"] for e in events] == ["cash.deposit", "cash.withdrawal"]
    payload = json.loads(events[1]["payload"])
    assert payload["amount"] == "0.5001" and payload["cash"] == "999.9999" and payload["actor"] == "api:admin"
    assert events[1]["account_id"] == "ACC-1"


async def test_same_key_same_body_replays_and_different_body_conflicts(db_pool: asyncpg.Pool) -> None:
    repo = await _repo(db_pool)
    first = await repo.deposit("ACC-1", D("250"), idempotency_key="dep-1", actor="a")
    before = await _counts(db_pool)
    again = await repo.deposit("ACC-1", D("250.0000"), idempotency_key="dep-1", actor="a")
    assert again.replayed and again.movement_id == first.movement_id and again.cash == first.cash
    assert again.created_at == first.created_at
    assert await _counts(db_pool) == before
    with pytest.raises(IdempotencyConflict):
        await repo.deposit("ACC-1", D("251"), idempotency_key="dep-1", actor="a")
    with pytest.raises(IdempotencyConflict):  # same key for the other kind of movement
        await repo.withdraw("ACC-1", D("250"), idempotency_key="dep-1", actor="a")
    assert await _counts(db_pool) == before
    assert (await repo.balance("ACC-1")).cash == 250


async def test_refusals_change_nothing(db_pool: asyncpg.Pool) -> None:
    repo = await _repo(db_pool, opening="100")
    await db_pool.execute("UPDATE cash_balances SET blocked = 30 WHERE account_id = 'ACC-1'")
    before = await _counts(db_pool)
    with pytest.raises(InsufficientFunds) as err:
        await repo.withdraw("ACC-1", D("70.0001"), idempotency_key="w1", actor="a")
    assert (err.value.available, err.value.requested) == (D(70), D("70.0001"))
    for bad in (D(0), D(-5), D("1.23456"), D("NaN")):
        with pytest.raises(InvalidAmount):
            await repo.withdraw("ACC-1", bad, idempotency_key="w2", actor="a")
    with pytest.raises(AccountNotFound):
        await repo.deposit("NOPE", D(1), idempotency_key="w3", actor="a")
    assert await _counts(db_pool) == before
    # the refused key stays usable: a refusal is not recorded as an answer
    assert (await repo.withdraw("ACC-1", D(70), idempotency_key="w1", actor="a")).available == 0
    await db_pool.execute("UPDATE accounts SET status = 'closed' WHERE account_id = 'ACC-1'")
    with pytest.raises(AccountNotActive):
        await repo.deposit("ACC-1", D(1), idempotency_key="w4", actor="a")


async def test_concurrent_withdrawals_never_overdraw(db_pool: asyncpg.Pool) -> None:
    repo = await _repo(db_pool, opening="1000")
    results = await asyncio.gather(
        *(repo.withdraw("ACC-1", D("30"), idempotency_key=f"w{i}", actor="a") for i in range(50)),
        return_exceptions=True,
    )
    succeeded = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(succeeded) == 33 and len(refused) == 17  # 33 × 30 = 990 ≤ 1000 < 34 × 30
    balance = await repo.balance("ACC-1")
    assert balance.cash == D(10)
    assert await _journal_cash(db_pool, "ACC-1") == balance.cash
    assert await db_pool.fetchval("SELECT count(*) FROM journal_entries WHERE kind = 'withdrawal'") == 33
    assert await db_pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'cash.withdrawal'") == 33
    # each success saw a distinct balance after: the withdrawals were serialised
    assert sorted(m.cash for m in succeeded) == [D(1000 - 30 * n) for n in range(33, 0, -1)]
    assert await reconcile(db_pool) == []


async def test_concurrent_retries_of_one_key_move_money_once(db_pool: asyncpg.Pool) -> None:
    repo = await _repo(db_pool)
    results = await asyncio.gather(*(repo.deposit("ACC-1", D(5), idempotency_key="same", actor="a")
                                     for _ in range(20)))
    assert sum(not r.replayed for r in results) == 1
    assert {r.movement_id for r in results} == {results[0].movement_id}
    assert (await repo.balance("ACC-1")).cash == 5


async def test_schema_refuses_negative_available_cash_on_cash_accounts_only(db_pool: asyncpg.Pool) -> None:
    repo = await _repo(db_pool, opening="100")
    with pytest.raises(asyncpg.CheckViolationError):
        await db_pool.execute("UPDATE cash_balances SET blocked = 100.0001 WHERE account_id = 'ACC-1'")
    with pytest.raises(asyncpg.CheckViolationError):
        await db_pool.execute("UPDATE cash_balances SET amount = -1 WHERE account_id = 'ACC-1'")
    with pytest.raises(asyncpg.CheckViolationError):
        await db_pool.execute(
            "INSERT INTO holdings (account_id, symbol, account_type, qty, blocked_qty) VALUES ('ACC-1', 'AAPL', "
            "'cash', 5, 6)")
    # the account type in the balance row cannot lie: it must match the account (composite foreign key)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db_pool.execute("UPDATE cash_balances SET account_type = 'margin' WHERE account_id = 'ACC-1'")
    assert (await repo.balance("ACC-1")).cash == 100
    await repo.open_account("ACC-M", "margin", "Margin Co")
    await db_pool.execute("UPDATE cash_balances SET amount = -500 WHERE account_id = 'ACC-M'")  # a debit balance


async def test_journal_is_balanced_and_append_only_in_the_database(db_pool: asyncpg.Pool) -> None:
    await _repo(db_pool, opening="100")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db_pool.execute("UPDATE journal_lines SET debit = debit + 1")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await db_pool.execute("DELETE FROM journal_entries")
    async with db_pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            async with conn.transaction():
                entry = await conn.fetchval(
                    "INSERT INTO journal_entries (account_id, kind, reference) VALUES ('ACC-1', 'deposit', 'x') "
                    "RETURNING entry_id")
                await conn.execute(
                    "INSERT INTO journal_lines (entry_id, account_id, ledger_account, debit) "
                    "VALUES ($1, 'ACC-1', 'cash:USD', 5)", entry)
    with pytest.raises(asyncpg.UniqueViolationError):
        await db_pool.execute(
            "INSERT INTO journal_entries (account_id, kind, reference) VALUES ('ACC-1', 'deposit', 'opening')")
