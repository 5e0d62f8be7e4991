"""PostgreSQL (asyncpg) adapter of the ledger: accounts and cash movements.

Every change runs in ONE transaction that first locks the account row (``SELECT … FOR UPDATE``), so
concurrent changes to one account are serialised while different accounts proceed in parallel; the
transaction writes the journal entry, the balance, the idempotency record and the outbox event together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from ledger.buying_power import withdrawable
from ledger.errors import (
    AccountNotActive,
    AccountNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerInputError,
)
from ledger.fills import AccountType
from ledger.journal_store import append_outbox, insert_entry, load_positions, lock_account, lock_cash, one
from ledger.money import parse_amount
from ledger.postings import deposit_entry, withdrawal_entry

__all__ = ["AccountBalance", "CashMovement", "LedgerRepository"]

MAX_KEY_LENGTH = 128


@dataclass(frozen=True, slots=True)
class CashMovement:
    movement_id: int  # journal entry id
    account_id: str
    kind: str  # "deposit" | "withdrawal"
    amount: Decimal
    currency: str
    cash: Decimal  # balance after
    blocked: Decimal
    available: Decimal  # cash - blocked
    created_at: datetime
    replayed: bool  # True when answered from the idempotency record

    def to_json(self) -> dict[str, Any]:
        return {
            "movement_id": self.movement_id, "account_id": self.account_id, "kind": self.kind,
            "amount": str(self.amount), "currency": self.currency, "cash": str(self.cash),
            "blocked": str(self.blocked), "available": str(self.available),
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, replayed: bool) -> CashMovement:
        return cls(
            movement_id=int(data["movement_id"]), account_id=data["account_id"], kind=data["kind"],
            amount=Decimal(data["amount"]), currency=data["currency"], cash=Decimal(data["cash"]),
            blocked=Decimal(data["blocked"]), available=Decimal(data["available"]),
            created_at=datetime.fromisoformat(data["created_at"]), replayed=replayed,
        )


@dataclass(frozen=True, slots=True)
class AccountBalance:
    account_id: str
    account_type: AccountType
    status: str
    currency: str
    cash: Decimal
    blocked: Decimal

    @property
    def available(self) -> Decimal:
        return self.cash - self.blocked


def request_hash(body: dict[str, str]) -> str:
    """SHA-256 of the canonical JSON of a request body (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class LedgerRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # Accounts --------------------------------------------------------------------------------
    async def open_account(
        self, account_id: str, account_type: AccountType | str, owner_name: str, *, currency: str = "USD",
        short_selling_enabled: bool = False,
    ) -> bool:
        """Create the account and its (zero) cash balance; False when it already exists (idempotent)."""
        kind = AccountType(account_type)
        async with self._pool.acquire() as conn, conn.transaction():
            created = await conn.fetchval(
                "INSERT INTO accounts (account_id, account_type, currency, owner_name, short_selling_enabled) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO NOTHING RETURNING true",
                account_id, kind.value, currency, owner_name, short_selling_enabled,
            )
            await conn.execute(
                "INSERT INTO cash_balances (account_id, currency, account_type) "
                "SELECT account_id, currency, account_type FROM accounts WHERE account_id = $1 "
                "ON CONFLICT DO NOTHING",
                account_id,
            )
            return bool(created)

    async def balance(self, account_id: str) -> AccountBalance:
        row = await self._pool.fetchrow(
            "SELECT a.account_type, a.status, a.currency, coalesce(c.amount, 0) AS cash, "
            "coalesce(c.blocked, 0) AS blocked FROM accounts a "
            "LEFT JOIN cash_balances c ON c.account_id = a.account_id AND c.currency = a.currency "
            "WHERE a.account_id = $1",
            account_id,
        )
        if row is None:
            raise AccountNotFound(account_id)
        return AccountBalance(account_id, AccountType(row["account_type"]), row["status"], row["currency"],
                              row["cash"], row["blocked"])

    # Cash movements --------------------------------------------------------------------------
    async def deposit(self, account_id: str, amount: Decimal, *, idempotency_key: str, actor: str) -> CashMovement:
        return await self._move("deposit", account_id, amount, idempotency_key, actor)

    async def withdraw(
        self, account_id: str, amount: Decimal, *, idempotency_key: str, actor: str,
        marks: Mapping[str, Decimal] | None = None,
    ) -> CashMovement:
        """Withdraw up to the free cash; on a margin account also no further than Reg T allows, with positions
        valued at ``marks`` (symbol → price) or, for symbols without one, at their average cost."""
        return await self._move("withdrawal", account_id, amount, idempotency_key, actor, marks)

    async def _move(
        self, kind: str, account_id: str, raw_amount: object, key: str, actor: str,
        marks: Mapping[str, Decimal] | None = None,
    ) -> CashMovement:
        amount = parse_amount(raw_amount)
        if not key or len(key) > MAX_KEY_LENGTH:
            raise LedgerInputError(f"idempotency key must be 1 to {MAX_KEY_LENGTH} characters")
        scope = f"cash:{account_id}"
        digest = request_hash({"account_id": account_id, "kind": kind, "amount": str(amount)})
        async with self._pool.acquire() as conn, conn.transaction():
            account = await lock_account(conn, account_id)
            # checked under the account lock: a concurrent retry with the same key waits and then replays
            stored = await conn.fetchrow(
                "SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2", scope, key
            )
            if stored is not None:
                if stored["request_hash"] != digest:
                    raise IdempotencyConflict(scope, key)
                return CashMovement.from_json(json.loads(stored["response"]), replayed=True)
            if account.status != "active":
                raise AccountNotActive(account_id, account.status)
            balance = await lock_cash(conn, account)
            if kind == "withdrawal":
                positions = await load_positions(conn, account_id) if account.account_type is AccountType.MARGIN else []
                limit = withdrawable(account.account_type, balance, positions, marks)
                if amount > limit:
                    raise InsufficientFunds(available=limit, requested=amount, currency=account.currency)
            entry = (deposit_entry if kind == "deposit" else withdrawal_entry)(amount, account.currency, key)
            entry_id, created_at = await insert_entry(conn, account_id, entry)
            signed = amount if kind == "deposit" else -amount
            row = one(await conn.fetchrow(
                "UPDATE cash_balances SET amount = amount + $3, updated_at = now() "
                "WHERE account_id = $1 AND currency = $2 RETURNING amount, blocked",
                account_id, account.currency, signed,
            ))
            movement = CashMovement(
                movement_id=entry_id, account_id=account_id, kind=kind, amount=amount, currency=account.currency,
                cash=row["amount"], blocked=row["blocked"], available=row["amount"] - row["blocked"],
                created_at=created_at, replayed=False,
            )
            body = movement.to_json()
            await conn.execute(
                "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response) "
                "VALUES ($1, $2, $3, 201, $4::jsonb)",
                scope, key, digest, json.dumps(body),
            )
            await append_outbox(conn, f"cash.{kind}", account_id,
                                {**body, "idempotency_key": key, "actor": actor}, created_at)
            return movement
