"""Provisioning: FIX sessions, accounts, API tokens and the demo data set (every step idempotent).

The demo's opening balances are real deposits through the journal, each under a fixed idempotency key,
so seeding twice replays the first deposit instead of doubling it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import asyncpg

from ledger.credentials import hash_api_token, hash_password, new_api_token
from ledger.errors import AccountNotFound, LedgerInputError
from ledger.fills import AccountType
from ledger.repository import LedgerRepository

ROLES = ("admin", "account", "compliance")
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
class IssuedToken:
    token_id: str
    token: str  # the bearer secret: shown once, stored only as its hash
    role: str


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


async def issue_api_token(
    pool: asyncpg.Pool, role: str, *, account_ids: Sequence[str] = (), label: str = "", token: str | None = None,
) -> IssuedToken:
    """Store a (new or given) bearer token's hash with its role and accounts; returns the secret once."""
    if role not in ROLES:
        raise LedgerInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "account" and not account_ids:
        raise LedgerInputError("an account token needs at least one --account")
    secret = token or new_api_token()
    token_id = "tok_" + secrets.token_hex(8)
    async with pool.acquire() as conn, conn.transaction():
        known = {r["account_id"] for r in await conn.fetch(
            "SELECT account_id FROM accounts WHERE account_id = ANY($1::text[])", list(account_ids))}
        for account_id in account_ids:
            if account_id not in known:
                raise AccountNotFound(account_id)
        await conn.execute(
            "INSERT INTO api_tokens (token_id, token_hash, role, label) VALUES ($1, $2, $3, $4)",
            token_id, hash_api_token(secret), role, label,
        )
        await conn.executemany(
            "INSERT INTO api_token_accounts (token_id, account_id) VALUES ($1, $2)",
            [(token_id, a) for a in dict.fromkeys(account_ids)],
        )
    return IssuedToken(token_id, secret, role)


async def _token_is_live(pool: asyncpg.Pool, token: str, role: str) -> bool:
    return bool(await pool.fetchval(
        "SELECT true FROM api_tokens WHERE token_hash = $1 AND role = $2 AND revoked_at IS NULL",
        hash_api_token(token), role,
    ))


def _write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # created 0600 from the start: the secret is never readable by others, not even for an instant
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    os.chmod(path, 0o600)


async def ensure_admin_token(pool: asyncpg.Pool, data_dir: Path, fixed: str | None = None) -> tuple[str, Path, str]:
    """The admin token: the fixed one if given, else the one in <data_dir>/admin-token if still live, else new."""
    path = data_dir / ADMIN_TOKEN_FILE
    if fixed:
        if not await _token_is_live(pool, fixed, "admin"):
            await issue_api_token(pool, "admin", label="admin (BROKERAGE_ADMIN_TOKEN)", token=fixed)
        _write_secret(path, fixed)
        return fixed, path, "environment"
    if path.exists():
        existing = path.read_text().strip()
        if existing and await _token_is_live(pool, existing, "admin"):
            return existing, path, "existing"
    issued = await issue_api_token(pool, "admin", label="admin (demo seed)")
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
