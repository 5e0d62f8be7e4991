"""Order-path postings against a real PostgreSQL: block, fill, release; journal and balances agree."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest

from ledger.errors import InsufficientFunds, InsufficientShares, ReservationError
from ledger.fills import Fill, Side
from ledger.journal_store import lock_account
from ledger.order_postings import block_reservation, post_fill, release_reservation
from ledger.reconcile import Discrepancy, reconcile
from ledger.repository import LedgerRepository
from ledger.reservations import OrderReservation

pytestmark = pytest.mark.integration
D = Decimal


async def _funded(pool: asyncpg.Pool, account_type: str = "cash", cash: str = "10000") -> LedgerRepository:
    repo = LedgerRepository(pool)
    await repo.open_account("ACC-1", account_type, "Test")
    await repo.deposit("ACC-1", D(cash), idempotency_key="open", actor="t")
    return repo


async def _journal(pool: asyncpg.Pool, ledger_account: str) -> tuple[Decimal, Decimal]:
    row = await pool.fetchrow(
        "SELECT coalesce(sum(debit - credit), 0) AS net, coalesce(sum(quantity), 0) AS qty FROM journal_lines "
        "WHERE account_id = 'ACC-1' AND ledger_account = $1", ledger_account)
    assert row is not None
    return row["net"], row["qty"]


async def _holding(pool: asyncpg.Pool, symbol: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM holdings WHERE account_id = 'ACC-1' AND symbol = $1", symbol)
    assert row is not None
    return row


async def test_buy_fills_sell_and_cancel_keep_balances_and_journal_in_step(db_pool: asyncpg.Pool) -> None:
    repo = await _funded(db_pool)
    buy = OrderReservation.for_buy(D(100), D(50))
    async with db_pool.acquire() as conn, conn.transaction():
        account = await lock_account(conn, "ACC-1")
        await block_reservation(conn, account, "AAPL", buy)
    assert (await repo.balance("ACC-1")).blocked == 5000
    for exec_id, qty, px in (("E1", "60", "49"), ("E2", "40", "50")):
        async with db_pool.acquire() as conn, conn.transaction():
            account = await lock_account(conn, "ACC-1")
            booked = await post_fill(conn, account, "AAPL", buy, Fill(Side.BUY, D(qty), D(px), exec_id))
            assert booked is not None
            buy = booked.outcome.reservation
    balance = await repo.balance("ACC-1")
    assert (balance.cash, balance.blocked) == (D(10000 - 2940 - 2000), D(0))
    holding = await _holding(db_pool, "AAPL")
    assert (holding["qty"], holding["cost_basis"], holding["avg_cost"]) == (D(100), D(4940), D("49.4"))

    # a redelivered execution is a no-op
    async with db_pool.acquire() as conn, conn.transaction():
        account = await lock_account(conn, "ACC-1")
        assert await post_fill(conn, account, "AAPL", OrderReservation.for_buy(D(40), D(50)),
                               Fill(Side.BUY, D(40), D(50), "E2")) is None
    assert (await repo.balance("ACC-1")).cash == balance.cash

    sell = OrderReservation.for_sell(D(50))
    async with db_pool.acquire() as conn, conn.transaction():
        account = await lock_account(conn, "ACC-1")
        await block_reservation(conn, account, "AAPL", sell)
        with pytest.raises(InsufficientShares):
            await block_reservation(conn, account, "AAPL", OrderReservation.for_sell(D(51)))
    async with db_pool.acquire() as conn, conn.transaction():
        account = await lock_account(conn, "ACC-1")
        booked = await post_fill(conn, account, "AAPL", sell, Fill(Side.SELL, D(30), D(55), "E3"))
        assert booked is not None and booked.outcome.realized_pnl == 30 * (D(55) - D("49.4"))
        _, release = booked.outcome.reservation.on_cancel()
        await release_reservation(conn, account, "AAPL", release)
        with pytest.raises(ReservationError):  # nothing left to release
            await release_reservation(conn, account, "AAPL", release)
    holding = await _holding(db_pool, "AAPL")
    assert (holding["qty"], holding["blocked_qty"], holding["realized_pnl"]) == (D(70), D(0), D(168))

    cash = (await repo.balance("ACC-1")).cash
    assert await _journal(db_pool, "cash:USD") == (cash, D(0))
    assert await _journal(db_pool, "securities:AAPL") == (holding["cost_basis"], holding["qty"])
    assert (await _journal(db_pool, "equity:realized_pnl"))[0] == -holding["realized_pnl"]
    assert await db_pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'fill.booked'") == 3
    assert await reconcile(db_pool) == []

    # the replay notices a balance or a holding changed behind the journal's back
    await db_pool.execute("UPDATE cash_balances SET amount = amount + 1 WHERE account_id = 'ACC-1'")
    await db_pool.execute("UPDATE holdings SET qty = qty - 1 WHERE account_id = 'ACC-1'")
    assert await reconcile(db_pool, "ACC-1") == [
        Discrepancy("ACC-1", "cash:USD", cash + 1, cash),
        Discrepancy("ACC-1", "holding:AAPL:qty", D(69), D(70)),
    ]


async def test_concurrent_orders_never_block_more_than_the_cash(db_pool: asyncpg.Pool) -> None:
    repo = await _funded(db_pool, cash="10000")

    async def place(n: int) -> None:
        async with db_pool.acquire() as conn, conn.transaction():
            account = await lock_account(conn, "ACC-1")
            await block_reservation(conn, account, "MSFT", OrderReservation.for_buy(D(10), D("99.99")))

    results = await asyncio.gather(*(place(n) for n in range(25)), return_exceptions=True)
    assert sum(r is None for r in results) == 10  # 10 × 999.90 ≤ 10000 < 11 × 999.90
    assert all(r is None or isinstance(r, InsufficientFunds) for r in results)
    assert (await repo.balance("ACC-1")).blocked == D("9999.0")


async def test_margin_account_short_sale_and_cover(db_pool: asyncpg.Pool) -> None:
    repo = await _funded(db_pool, account_type="margin", cash="1000")
    short = OrderReservation.for_buy(D(10), D(100))
    async with db_pool.acquire() as conn, conn.transaction():
        account = await lock_account(conn, "ACC-1")
        await block_reservation(conn, account, "TSLA", short)
        booked = await post_fill(conn, account, "TSLA", short, Fill(Side.SELL_SHORT, D(10), D(100), "S1"))
        assert booked is not None
        cover = OrderReservation.for_buy(D(10), D(90))
        await block_reservation(conn, account, "TSLA", cover)
        assert await post_fill(conn, account, "TSLA", cover, Fill(Side.BUY, D(10), D(90), "S2")) is not None
    balance = await repo.balance("ACC-1")
    assert (balance.cash, balance.blocked) == (D(1100), D(0))
    holding = await _holding(db_pool, "TSLA")
    assert (holding["qty"], holding["realized_pnl"], holding["cost_basis"]) == (D(0), D(100), D(0))
    assert (await _journal(db_pool, "cash:USD"))[0] == balance.cash
    assert await reconcile(db_pool) == []


async def test_margin_withdrawal_keeps_short_proceeds_in_the_account(db_pool: asyncpg.Pool) -> None:
    repo = await _funded(db_pool, account_type="margin", cash="1000")
    short = OrderReservation.for_buy(D(10), D(100))
    async with db_pool.acquire() as conn, conn.transaction():
        account = await lock_account(conn, "ACC-1")
        await block_reservation(conn, account, "TSLA", short)
        await post_fill(conn, account, "TSLA", short, Fill(Side.SELL_SHORT, D(10), D(100), "S1"))
    assert (await repo.balance("ACC-1")).cash == 2000
    # equity 1000 against a 500 requirement (50% of 1000 short): 500 may leave, not the 2000 of cash
    with pytest.raises(InsufficientFunds) as err:
        await repo.withdraw("ACC-1", D("500.0001"), idempotency_key="w1", actor="t")
    assert err.value.available == 500
    # at a higher mark the short costs more: equity 800, requirement 600 → 200
    with pytest.raises(InsufficientFunds) as err:
        await repo.withdraw("ACC-1", D(201), idempotency_key="w2", actor="t", marks={"TSLA": D(120)})
    assert err.value.available == 200
    assert (await repo.withdraw("ACC-1", D(500), idempotency_key="w3", actor="t")).cash == 1500
    assert await reconcile(db_pool) == []
