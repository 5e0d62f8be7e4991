"""Provisioning: FIX sessions, accounts, API tokens and the demo data set (every step idempotent).

The demo's opening balances are real deposits through the journal, each under a fixed idempotency key,
so seeding twice replays the first deposit instead of doubling it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg

from ledger.api_tokens import ROLES as ROLES  # re-exported: token provisioning lives in ledger.api_tokens
from ledger.api_tokens import IssuedToken as IssuedToken
from ledger.api_tokens import issue_api_token as issue_api_token
from ledger.api_tokens import token_state
from ledger.credentials import hash_password
from ledger.errors import LedgerInputError
from ledger.fills import AccountType
from ledger.repository import LedgerRepository

ADMIN_TOKEN_FILE = "admin-token"


@dataclass(frozen=True, slots=True)
class DemoClient:
    sender_comp_id: str
    password: str
    account_type: AccountType
    opening_cash: Decimal

    @property
    def account_id(self) -> str:
        return f"ACC-{self.sender_comp_id}"


DEMO_TARGET_COMP_ID = "BROKER"
DEMO_CLIENTS: tuple[DemoClient, ...] = tuple(
    DemoClient(f"CLIENT{n}", f"demo{n}", AccountType.CASH, Decimal("1000000.00")) for n in (1, 2, 3)
) + tuple(DemoClient(f"CLIENT{n}", f"demo{n}", AccountType.MARGIN, Decimal("100000.00")) for n in (4, 5))


@dataclass(frozen=True, slots=True)
class SeedReport:
    accounts_created: int
    deposits_made: int
    admin_token: str
    admin_token_file: Path
    admin_token_source: str  # "environment", "existing", "generated"


async def ensure_fix_session(
    pool: asyncpg.Pool, sender_comp_id: str, password: str, account_ids: Sequence[str], *,
    target_comp_id: str = DEMO_TARGET_COMP_ID, begin_string: str = "FIX.4.4",
) -> bool:
    """Create the session (keeping an existing one's password) and link its accounts, the first as default."""
    async with pool.acquire() as conn, conn.transaction():
        created = await conn.fetchval(
            "INSERT INTO fix_sessions (sender_comp_id, target_comp_id, begin_string, username, password_hash) "
            "VALUES ($1, $2, $3, $1, $4) ON CONFLICT (sender_comp_id) DO NOTHING RETURNING true",
            sender_comp_id, target_comp_id, begin_string, hash_password(password),
        )
        for index, account_id in enumerate(account_ids):
            await conn.execute(
                "INSERT INTO fix_session_accounts (sender_comp_id, account_id, is_default) VALUES ($1, $2, $3) "
                "ON CONFLICT (sender_comp_id, account_id) DO UPDATE SET is_default = EXCLUDED.is_default",
                sender_comp_id, account_id, index == 0,
            )
        return bool(created)


def _write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # created 0600 from the start: the secret is never readable by others, not even for an instant
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)


async def ensure_admin_token(
    pool: asyncpg.Pool, data_dir: Path, fixed: str | None = None, *, rotate: bool = False,
) -> tuple[str, Path, str]:
    """The admin token: the fixed one if given, else the one in <data_dir>/admin-token if still live, else new.

    A new managed admin token (a new BROKERAGE_ADMIN_TOKEN value, a generated one, or ``rotate``) revokes the
    previous one. A fixed token that was revoked or has expired is refused: set a new value."""
    path = data_dir / ADMIN_TOKEN_FILE
    if fixed:
        state = await token_state(pool, fixed, "admin")
        if state in ("revoked", "expired"):
            raise LedgerInputError(f"BROKERAGE_ADMIN_TOKEN is {state}; set a new value (that rotates the admin token)")
        if state is None:
            await issue_api_token(pool, "admin", label="admin (BROKERAGE_ADMIN_TOKEN)", token=fixed,
                                  managed_admin=True, actor="system:provisioning")
        _write_secret(path, fixed)
        return fixed, path, "environment"
    if path.exists() and not rotate:
        existing = path.read_text().strip()
        if existing and await token_state(pool, existing, "admin") == "active":
            return existing, path, "existing"
    issued = await issue_api_token(pool, "admin", label="admin (demo seed)", managed_admin=True,
                                   actor="system:provisioning")
    _write_secret(path, issued.token)
    return issued.token, path, "generated"


async def seed_demo(pool: asyncpg.Pool, data_dir: Path, *, admin_token: str | None = None) -> SeedReport:
    repository = LedgerRepository(pool)
    created = deposits = 0
    for client in DEMO_CLIENTS:
        if await repository.open_account(client.account_id, client.account_type, f"Demo {client.sender_comp_id}",
                                         short_selling_enabled=client.account_type is AccountType.MARGIN):
            created += 1
        movement = await repository.deposit(client.account_id, client.opening_cash,
                                            idempotency_key=f"demo-seed:{client.account_id}:opening",
                                            actor="demo-seed")
        deposits += not movement.replayed
        await ensure_fix_session(pool, client.sender_comp_id, client.password, [client.account_id])
    token, path, source = await ensure_admin_token(pool, data_dir, admin_token)
    return SeedReport(created, deposits, token, path, source)
