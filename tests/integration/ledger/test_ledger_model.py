"""Model-based test: random deposits, withdrawals and key reuse against PostgreSQL agree with a tiny model."""

from __future__ import annotations

import itertools
from decimal import Decimal

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import IdempotencyConflict, InsufficientFunds
from ledger.reconcile import reconcile
from ledger.repository import LedgerRepository

pytestmark = pytest.mark.integration
_accounts = itertools.count()

operations = st.lists(
    st.tuples(
        st.sampled_from(["deposit", "withdrawal"]),
        st.integers(1, 5_000_000).map(lambda n: Decimal(n) / 10_000),  # 0.0001 .. 500.0000
        st.integers(0, 6),  # idempotency key drawn from a small set, so keys get reused
    ),
    min_size=1, max_size=25,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
async def test_cash_movements_match_the_model(db_pool: asyncpg.Pool, ops: list[tuple[str, Decimal, int]]) -> None:
    account = f"M{next(_accounts)}"  # one fresh account per example; the database is shared by the examples
    repo = LedgerRepository(db_pool)
    await repo.open_account(account, "cash", "model")
    cash = Decimal(0)
    answered: dict[str, tuple[str, Decimal, Decimal]] = {}  # key -> (kind, amount, cash after)
    for kind, amount, key_no in ops:
        key = f"k{key_no}"
        move = repo.deposit if kind == "deposit" else repo.withdraw
        if key in answered:
            if answered[key][:2] != (kind, amount):
                with pytest.raises(IdempotencyConflict):
                    await move(account, amount, idempotency_key=key, actor="model")
            else:
                replay = await move(account, amount, idempotency_key=key, actor="model")
                assert replay.replayed and replay.cash == answered[key][2]
            continue
        if kind == "withdrawal" and amount > cash:
            with pytest.raises(InsufficientFunds):
                await move(account, amount, idempotency_key=key, actor="model")
            continue
        cash += amount if kind == "deposit" else -amount
        movement = await move(account, amount, idempotency_key=key, actor="model")
        assert not movement.replayed and movement.cash == cash
        answered[key] = (kind, amount, cash)
    assert (await repo.balance(account)).cash == cash
    assert await reconcile(db_pool, account) == []
