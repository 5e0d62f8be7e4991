"""Provisioning: FIX sessions, accounts, API tokens and the demo data set.

The demo's opening balances are real deposits through the journal, each under a fixed idempotency key,
so seeding twice replays the first deposit instead of doubling it (every demo step is idempotent).

The operator's provisioning (``brokerage accounts|sessions`` and ``/v1/admin/...``, docs/adr/017): open
and close accounts, deposits and withdrawals, create/disable/enable FIX sessions, set their passwords,
link and unlink accounts. Inputs are checked by the pure ``validate_*`` functions first; each change is
one transaction that also writes an outbox event naming the actor. The running gateway picks the
changes up from ``fix_sessions`` within seconds (``gateway.fix.live_sessions``): nothing restarts.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from ledger.api_tokens import ROLES as ROLES  # re-exported: token provisioning lives in ledger.api_tokens
from ledger.api_tokens import IssuedToken as IssuedToken
from ledger.api_tokens import issue_api_token as issue_api_token
from ledger.api_tokens import token_state
from ledger.credentials import hash_password
from ledger.errors import AccountNotFound, LedgerInputError, LedgerRefusal
from ledger.fills import AccountType
from ledger.journal_store import Conn, append_outbox
from ledger.money import parse_amount
from ledger.repository import CashMovement, LedgerRepository

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
# the back office's drop-copy session (ADR 027): a copy of every demo account's execution reports
DEMO_DROP_COPY = DemoClient("DROPCOPY1", "dropcopy1", AccountType.CASH, Decimal(0))
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
    target_comp_id: str = DEMO_TARGET_COMP_ID, begin_string: str = "FIX.4.4", kind: str = "client",
) -> bool:
    """Create the session (keeping an existing one's password) and link its accounts, the first as default."""
    async with pool.acquire() as conn, conn.transaction():
        created = await conn.fetchval(
            "INSERT INTO fix_sessions (sender_comp_id, target_comp_id, begin_string, username, password_hash, kind) "
            "VALUES ($1, $2, $3, $1, $4, $5) ON CONFLICT (sender_comp_id) DO NOTHING RETURNING true",
            sender_comp_id, target_comp_id, begin_string, hash_password(password), kind,
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
    await ensure_fix_session(pool, DEMO_DROP_COPY.sender_comp_id, DEMO_DROP_COPY.password,
                             [client.account_id for client in DEMO_CLIENTS], kind="drop-copy")
    token, path, source = await ensure_admin_token(pool, data_dir, admin_token)
    return SeedReport(created, deposits, token, path, source)


# --- operator provisioning (h12): pure validation ------------------------------------------------------

ACCOUNT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
COMP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
SESSION_KINDS = ("client", "drop-copy")
KIND_ALIASES = {"drop_copy": "drop-copy"}
MIN_PASSWORD, MAX_PASSWORD = 8, 128
OPEN_ORDER_STATUSES = ("pending_new", "new", "partially_filled", "pending_cancel", "pending_replace")


class AlreadyExists(LedgerRefusal):
    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} already exists")
        self.what, self.key = what, key


class SessionNotFound(LedgerRefusal):
    def __init__(self, sender_comp_id: str) -> None:
        super().__init__(f"no FIX session {sender_comp_id!r}")
        self.sender_comp_id = sender_comp_id


class NotLinked(LedgerRefusal):
    def __init__(self, sender_comp_id: str, account_id: str) -> None:
        super().__init__(f"account {account_id!r} is not linked to FIX session {sender_comp_id!r}")
        self.sender_comp_id, self.account_id = sender_comp_id, account_id


class AccountBusy(LedgerRefusal):
    """The account cannot be closed yet (open orders, positions)."""

    def __init__(self, account_id: str, reasons: Sequence[str]) -> None:
        super().__init__(f"account {account_id!r} cannot be closed: {'; '.join(reasons)}")
        self.account_id, self.reasons = account_id, tuple(reasons)


def validate_account_id(value: str) -> str:
    if not ACCOUNT_ID.fullmatch(value):
        raise LedgerInputError("account id: 1 to 32 characters A-Z a-z 0-9 _ . -, starting with a letter or digit")
    return value


def validate_comp_id(value: str) -> str:
    if not COMP_ID.fullmatch(value):
        raise LedgerInputError("SenderCompID: 1 to 64 characters A-Z a-z 0-9 _ . -, starting with a letter or digit")
    return value


def validate_currency(value: str) -> str:
    if not CURRENCY.fullmatch(value):
        raise LedgerInputError("currency: an ISO 4217 code, three capital letters (e.g. USD)")
    return value


def validate_kind(value: str) -> str:
    value = KIND_ALIASES.get(value, value)
    if value not in SESSION_KINDS:
        raise LedgerInputError(f"session kind: one of {', '.join(SESSION_KINDS)}")
    return value


def validate_password(value: str) -> str:
    """A FIX password (554): 8 to 128 printable ASCII characters, no surrounding blanks (a file's trailing
    newline is stripped by the caller)."""
    if not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
        raise LedgerInputError(f"password: {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not (value.isascii() and value.isprintable()) or value != value.strip():
        raise LedgerInputError("password: printable ASCII only, no leading or trailing blanks")
    return value


def read_password_file(path: Path) -> str:
    """The password in ``path``: its first line, without the line end."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    return validate_password(lines[0] if lines else "")


# --- operator provisioning: records --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AccountInfo:
    account_id: str
    account_type: str
    currency: str
    status: str
    cash: Decimal
    blocked: Decimal
    sessions: tuple[str, ...]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "account_type": self.account_type, "currency": self.currency,
                "status": self.status, "cash": str(self.cash), "blocked": str(self.blocked),
                "available": str(self.cash - self.blocked), "sessions": list(self.sessions),
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True, slots=True)
class SessionInfo:
    sender_comp_id: str
    target_comp_id: str
    kind: str
    enabled: bool
    accounts: tuple[str, ...]  # the default first
    logged_on: bool | None  # None: no gateway has reported this session recently
    next_sender_seq: int | None
    next_target_seq: int | None
    last_message_at: datetime | None
    state_updated_at: datetime | None
    gateway: str | None
    all_accounts: bool = False  # a drop-copy session that sees every account (ADR 027)

    @property
    def default_account(self) -> str | None:
        return self.accounts[0] if self.accounts else None

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {"sender_comp_id": self.sender_comp_id, "target_comp_id": self.target_comp_id, "kind": self.kind,
                "enabled": self.enabled, "accounts": list(self.accounts), "default_account": self.default_account,
                "logged_on": self.logged_on, "next_sender_seq": self.next_sender_seq,
                "next_target_seq": self.next_target_seq, "last_message_at": iso(self.last_message_at),
                "state_updated_at": iso(self.state_updated_at), "gateway": self.gateway,
                "all_accounts": self.all_accounts}


# --- operator provisioning: ledger writes (each one transaction with its outbox event) ------------------

async def open_account(pool: asyncpg.Pool, account_id: str, account_type: str, *, currency: str = "USD",
                       owner_name: str | None = None, actor: str) -> AccountInfo:
    validate_account_id(account_id)
    validate_currency(currency)
    try:
        kind = AccountType(account_type)
    except ValueError as exc:
        raise LedgerInputError("account type: cash or margin") from exc
    async with pool.acquire() as conn, conn.transaction():
        created = await conn.fetchval(
            "INSERT INTO accounts (account_id, account_type, currency, owner_name, short_selling_enabled) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO NOTHING RETURNING true",
            account_id, kind.value, currency, owner_name or account_id, kind is AccountType.MARGIN)
        if not created:
            raise AlreadyExists("account", account_id)
        await conn.execute("INSERT INTO cash_balances (account_id, currency, account_type) VALUES ($1, $2, $3)",
                           account_id, currency, kind.value)
        await append_outbox(conn, "account.opened", account_id,
                            {"actor": actor, "account_type": kind.value, "currency": currency})
        return (await _accounts(conn, account_id))[0]


async def close_account(pool: asyncpg.Pool, account_id: str, *, actor: str) -> AccountInfo:
    """Close an account with no open orders, no positions and no cash (its links stay; it can no longer trade)."""
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.fetchval("SELECT status FROM accounts WHERE account_id = $1 FOR UPDATE", account_id)
        if status is None:
            raise AccountNotFound(account_id)
        reasons: list[str] = []
        working = await conn.fetchval("SELECT count(*) FROM orders WHERE account_id = $1 AND status = ANY($2)",
                                      account_id, list(OPEN_ORDER_STATUSES))
        if working:
            reasons.append(f"{working} open order(s)")
        held = await conn.fetch("SELECT symbol FROM holdings WHERE account_id = $1 AND qty <> 0 ORDER BY symbol",
                                account_id)
        if held:
            reasons.append("positions in " + ", ".join(r["symbol"] for r in held))
        cash = await conn.fetchval("SELECT amount FROM cash_balances WHERE account_id = $1 AND amount <> 0 "
                                   "LIMIT 1", account_id)
        if cash is not None:
            reasons.append(f"cash balance {cash}: withdraw it first (a closed account moves no cash)")
        if reasons:
            raise AccountBusy(account_id, reasons)
        if status != "closed":
            await conn.execute("UPDATE accounts SET status = 'closed' WHERE account_id = $1", account_id)
            await append_outbox(conn, "account.closed", account_id, {"actor": actor, "previous_status": status})
        return (await _accounts(conn, account_id))[0]


async def move_cash(pool: asyncpg.Pool, kind: str, account_id: str, amount: object, *, actor: str,
                    idempotency_key: str | None = None) -> CashMovement:
    """A deposit or withdrawal (``kind``) through the journal; a retry with the same key moves money once."""
    repository = LedgerRepository(pool)
    key = idempotency_key or f"ops:{uuid.uuid4()}"
    value = parse_amount(amount)
    if kind == "deposit":
        return await repository.deposit(account_id, value, idempotency_key=key, actor=actor)
    if kind == "withdrawal":
        return await repository.withdraw(account_id, value, idempotency_key=key, actor=actor)
    raise LedgerInputError("kind: deposit or withdrawal")


async def _accounts(conn: Conn | asyncpg.Pool, account_id: str | None = None) -> list[AccountInfo]:
    rows = await conn.fetch(
        "SELECT a.account_id, a.account_type, a.currency, a.status, a.created_at, "
        "coalesce(c.amount, 0) AS cash, coalesce(c.blocked, 0) AS blocked, "
        "coalesce((SELECT array_agg(l.sender_comp_id ORDER BY l.sender_comp_id) FROM fix_session_accounts l "
        "          WHERE l.account_id = a.account_id), '{}') AS sessions "
        "FROM accounts a LEFT JOIN cash_balances c ON c.account_id = a.account_id AND c.currency = a.currency "
        "WHERE $1::text IS NULL OR a.account_id = $1 ORDER BY a.account_id", account_id)
    return [AccountInfo(r["account_id"], r["account_type"], r["currency"], r["status"], r["cash"], r["blocked"],
                        tuple(r["sessions"]), r["created_at"]) for r in rows]


async def list_accounts(pool: asyncpg.Pool) -> list[AccountInfo]:
    return await _accounts(pool)


async def create_session(pool: asyncpg.Pool, sender_comp_id: str, password: str, account_id: str | None, *,
                         kind: str = "client", target_comp_id: str = DEMO_TARGET_COMP_ID,
                         actor: str, all_accounts: bool = False) -> SessionInfo:
    """A new FIX session toward ``target_comp_id`` with its default account; the gateway serves it within
    seconds, without a restart. A drop-copy session may instead see ``all_accounts`` (ADR 027)."""
    validate_comp_id(sender_comp_id)
    validate_password(password)
    kind = validate_kind(kind)
    if all_accounts and kind != "drop-copy":
        raise LedgerInputError("all accounts: only a drop-copy session may see every account")
    if account_id is None and not all_accounts:
        raise LedgerInputError("account: required (or all accounts, for a drop-copy session)")
    password_hash = hash_password(password)  # scrypt: before the transaction, not while holding locks
    async with pool.acquire() as conn, conn.transaction():
        if account_id is not None and await conn.fetchval("SELECT status FROM accounts WHERE account_id = $1",
                                                          account_id) is None:
            raise AccountNotFound(account_id)
        created = await conn.fetchval(
            "INSERT INTO fix_sessions (sender_comp_id, target_comp_id, begin_string, username, password_hash, kind, "
            "all_accounts) VALUES ($1, $2, 'FIX.4.4', $1, $3, $4, $5) ON CONFLICT (sender_comp_id) DO NOTHING "
            "RETURNING true", sender_comp_id, target_comp_id, password_hash, kind, all_accounts)
        if not created:
            raise AlreadyExists("FIX session", sender_comp_id)
        if account_id is not None:
            await conn.execute("INSERT INTO fix_session_accounts (sender_comp_id, account_id, is_default) "
                               "VALUES ($1, $2, true)", sender_comp_id, account_id)
        await append_outbox(conn, "fix_session.created", account_id,
                            {"actor": actor, "sender_comp_id": sender_comp_id, "kind": kind,
                             "target_comp_id": target_comp_id, "all_accounts": all_accounts})
        return (await _sessions(conn, sender_comp_id))[0]


async def _lock_session(conn: Conn, sender_comp_id: str) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT sender_comp_id, enabled, kind, all_accounts FROM fix_sessions "
                              "WHERE sender_comp_id = $1 FOR UPDATE", sender_comp_id)
    if row is None:
        raise SessionNotFound(sender_comp_id)
    return row


async def set_session_enabled(pool: asyncpg.Pool, sender_comp_id: str, enabled: bool, *, actor: str,
                              reason: str = "") -> SessionInfo:
    """Enable or disable; disabling logs a logged-on client out (Text 58 = the reason) within seconds."""
    async with pool.acquire() as conn, conn.transaction():
        row = await _lock_session(conn, sender_comp_id)
        if row["enabled"] != enabled:
            await conn.execute("UPDATE fix_sessions SET enabled = $2, updated_at = now() WHERE sender_comp_id = $1",
                               sender_comp_id, enabled)
            await append_outbox(conn, "fix_session.enabled" if enabled else "fix_session.disabled", None,
                                {"actor": actor, "sender_comp_id": sender_comp_id, "reason": reason})
        return (await _sessions(conn, sender_comp_id))[0]


async def set_session_password(pool: asyncpg.Pool, sender_comp_id: str, password: str, *,
                               actor: str) -> SessionInfo:
    """A new password, required from the next Logon on; a logged-on session stays up."""
    validate_password(password)
    password_hash = hash_password(password)
    async with pool.acquire() as conn, conn.transaction():
        await _lock_session(conn, sender_comp_id)
        await conn.execute("UPDATE fix_sessions SET password_hash = $2, updated_at = now() "
                           "WHERE sender_comp_id = $1", sender_comp_id, password_hash)
        await append_outbox(conn, "fix_session.password_changed", None,
                            {"actor": actor, "sender_comp_id": sender_comp_id})
        return (await _sessions(conn, sender_comp_id))[0]


async def link_account(pool: asyncpg.Pool, sender_comp_id: str, account_id: str, *, actor: str,
                       default: bool = False) -> SessionInfo:
    """Let the session trade for ``account_id`` (tag 1); the first linked account is its default."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_session(conn, sender_comp_id)
        if await conn.fetchval("SELECT status FROM accounts WHERE account_id = $1", account_id) is None:
            raise AccountNotFound(account_id)
        has_default = await conn.fetchval("SELECT bool_or(is_default) FROM fix_session_accounts "
                                          "WHERE sender_comp_id = $1", sender_comp_id)
        make_default = default or not has_default
        if make_default:
            await conn.execute("UPDATE fix_session_accounts SET is_default = false WHERE sender_comp_id = $1",
                               sender_comp_id)
        inserted = await conn.fetchval(
            "INSERT INTO fix_session_accounts (sender_comp_id, account_id, is_default) VALUES ($1, $2, $3) "
            "ON CONFLICT (sender_comp_id, account_id) DO UPDATE SET is_default = "
            "fix_session_accounts.is_default OR EXCLUDED.is_default RETURNING (xmax = 0)",
            sender_comp_id, account_id, make_default)
        if inserted or make_default:
            await append_outbox(conn, "fix_session.linked", account_id,
                                {"actor": actor, "sender_comp_id": sender_comp_id, "default": make_default})
        return (await _sessions(conn, sender_comp_id))[0]


async def unlink_account(pool: asyncpg.Pool, sender_comp_id: str, account_id: str, *, actor: str) -> SessionInfo:
    """Stop the session trading for ``account_id``; if it was the default, the next linked account becomes it."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_session(conn, sender_comp_id)
        was_default = await conn.fetchval(
            "DELETE FROM fix_session_accounts WHERE sender_comp_id = $1 AND account_id = $2 RETURNING is_default",
            sender_comp_id, account_id)
        if was_default is None:
            raise NotLinked(sender_comp_id, account_id)
        if was_default:
            await conn.execute(
                "UPDATE fix_session_accounts SET is_default = true WHERE sender_comp_id = $1 AND account_id = "
                "(SELECT min(account_id) FROM fix_session_accounts WHERE sender_comp_id = $1)", sender_comp_id)
        await append_outbox(conn, "fix_session.unlinked", account_id,
                            {"actor": actor, "sender_comp_id": sender_comp_id})
        return (await _sessions(conn, sender_comp_id))[0]


async def set_all_accounts(pool: asyncpg.Pool, sender_comp_id: str, all_accounts: bool, *,
                           actor: str) -> SessionInfo:
    """Let a drop-copy session see every account, present and future (or only its linked ones again)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await _lock_session(conn, sender_comp_id)
        if row["kind"] != "drop-copy":
            raise LedgerInputError("all accounts: only a drop-copy session may see every account")
        if row["all_accounts"] != all_accounts:
            await conn.execute("UPDATE fix_sessions SET all_accounts = $2, updated_at = now() "
                               "WHERE sender_comp_id = $1", sender_comp_id, all_accounts)
            await append_outbox(conn, "fix_session.linked" if all_accounts else "fix_session.unlinked", None,
                                {"actor": actor, "sender_comp_id": sender_comp_id, "all_accounts": all_accounts})
        return (await _sessions(conn, sender_comp_id))[0]


async def _sessions(conn: Conn | asyncpg.Pool, sender_comp_id: str | None = None,
                    stale_after: float = 15.0) -> list[SessionInfo]:
    rows = await conn.fetch(
        "SELECT s.sender_comp_id, s.target_comp_id, s.kind, s.enabled, "
        "coalesce((SELECT array_agg(l.account_id ORDER BY l.is_default DESC, l.account_id) "
        "          FROM fix_session_accounts l WHERE l.sender_comp_id = s.sender_comp_id), '{}') AS accounts, "
        "st.logged_on, st.next_sender_seq, st.next_target_seq, st.last_message_at, st.updated_at, st.gateway, "
        "st.updated_at > now() - make_interval(secs => $2) AS fresh, s.all_accounts "
        "FROM fix_sessions s LEFT JOIN fix_session_state st ON st.sender_comp_id = s.sender_comp_id "
        "WHERE $1::text IS NULL OR s.sender_comp_id = $1 ORDER BY s.sender_comp_id", sender_comp_id, stale_after)
    return [SessionInfo(r["sender_comp_id"], r["target_comp_id"], r["kind"], r["enabled"], tuple(r["accounts"]),
                        r["logged_on"] if r["fresh"] else None, r["next_sender_seq"], r["next_target_seq"],
                        r["last_message_at"], r["updated_at"], r["gateway"], r["all_accounts"]) for r in rows]


async def list_sessions(pool: asyncpg.Pool, stale_after: float = 15.0) -> list[SessionInfo]:
    """Every FIX session with the state its gateway last published (``logged_on`` None when stale)."""
    return await _sessions(pool, None, stale_after)


async def get_session(pool: asyncpg.Pool, sender_comp_id: str) -> SessionInfo:
    found = await _sessions(pool, sender_comp_id)
    if not found:
        raise SessionNotFound(sender_comp_id)
    return found[0]
