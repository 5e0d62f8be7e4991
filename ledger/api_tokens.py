"""The REST API token store: issue, revoke, list, and the provisioning-managed admin token.

A token is ``brk_`` + 256 random bits, shown once; only its SHA-256 is stored (``ledger.credentials``), so a
database dump yields no usable credential. Every token has an expiry (``expires_at``; default 90 days) and
can be revoked; the API checks both on every request (no cache), so a revoke takes effect at once.
Issuing and revoking write an ``api_token.created`` / ``api_token.revoked`` outbox event in the same
transaction (the audit trail records who did it, never the secret).

Roles (what each may do is enforced in ``gateway.api.auth``):
``admin`` everything; ``operator`` reads every account and moves cash; ``compliance`` reads every account
and the compliance reports, moves nothing; ``account`` reads only its own accounts.

The admin token that start-up provisioning manages (``var/admin-token``, or ``BROKERAGE_ADMIN_TOKEN``) is
marked ``managed_admin``: issuing a new one (rotation) revokes every other managed admin token.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from ledger.credentials import hash_api_token, new_api_token
from ledger.errors import AccountNotFound, LedgerInputError
from ledger.journal_store import Conn, append_outbox

ROLES = ("admin", "operator", "account", "compliance")
DEFAULT_TTL = timedelta(days=90)
MAX_TTL = timedelta(days=3650)
_TTL = re.compile(r"^\s*(\d{1,7})\s*([dhms]?)\s*$")
_UNITS = {"d": "days", "": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_ttl(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``45s`` or a bare number of days; positive and at most ten years."""
    match = _TTL.match(text)
    if match is None:
        raise LedgerInputError(f"--ttl must look like 90d, 12h, 30m or 45s, not {text!r}")
    ttl = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if not timedelta(0) < ttl <= MAX_TTL:
        raise LedgerInputError(f"--ttl must be positive and at most {MAX_TTL.days} days, not {text!r}")
    return ttl


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token_id: str
    token: str  # the bearer secret: shown once, stored only as its hash
    role: str
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as ``brokerage token list`` shows it: never the secret nor its hash."""

    token_id: str
    role: str
    label: str
    account_ids: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    managed_admin: bool
    status: str  # "active", "expired" or "revoked"


async def issue_api_token(
    pool: asyncpg.Pool, role: str, *, account_ids: Sequence[str] = (), label: str = "", token: str | None = None,
    ttl: timedelta = DEFAULT_TTL, managed_admin: bool = False, actor: str = "cli",
) -> IssuedToken:
    """Store a (new or given) bearer token's hash with its role, accounts and expiry; returns the secret once.
    A ``managed_admin`` token revokes every other managed admin token in the same transaction (rotation)."""
    if role not in ROLES:
        raise LedgerInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "account" and not account_ids:
        raise LedgerInputError("an account token needs at least one --account")
    if role != "account" and account_ids:
        raise LedgerInputError(f"--account applies to account tokens only; a {role} token sees every account")
    if not timedelta(0) < ttl <= MAX_TTL:
        raise LedgerInputError(f"a token's lifetime must be positive and at most {MAX_TTL.days} days")
    secret = token or new_api_token()
    token_id = "tok_" + secrets.token_hex(8)
    async with pool.acquire() as conn, conn.transaction():
        known = {r["account_id"] for r in await conn.fetch(
            "SELECT account_id FROM accounts WHERE account_id = ANY($1::text[])", list(account_ids))}
        for account_id in account_ids:
            if account_id not in known:
                raise AccountNotFound(account_id)
        expires_at = await conn.fetchval(
            "INSERT INTO api_tokens (token_id, token_hash, role, label, expires_at, managed_admin) "
            "VALUES ($1, $2, $3, $4, now() + $5::interval, $6) RETURNING expires_at",
            token_id, hash_api_token(secret), role, label, ttl, managed_admin,
        )
        await conn.executemany(
            "INSERT INTO api_token_accounts (token_id, account_id) VALUES ($1, $2)",
            [(token_id, a) for a in dict.fromkeys(account_ids)],
        )
        await append_outbox(conn, "api_token.created", None, {
            "actor": actor, "token_id": token_id, "role": role, "accounts": list(dict.fromkeys(account_ids)),
            "expires_at": expires_at.isoformat(), "reason": label,
        })
        if managed_admin:
            await _revoke_where(conn, "managed_admin AND token_id <> $1", token_id, actor=actor,
                                reason="admin token rotated")
    return IssuedToken(token_id, secret, role, expires_at)


async def _revoke_where(conn: Conn, condition: str, *args: object, actor: str, reason: str) -> list[str]:
    rows = await conn.fetch(
        f"UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND {condition} RETURNING token_id, role",
        *args,
    )
    for row in rows:
        await append_outbox(conn, "api_token.revoked", None, {
            "actor": actor, "token_id": row["token_id"], "role": row["role"], "reason": reason,
        })
    return [row["token_id"] for row in rows]


async def revoke_api_token(pool: asyncpg.Pool, token_id: str, *, actor: str = "cli") -> bool:
    """Revoke one token by id; False when no such live (unrevoked) token exists."""
    async with pool.acquire() as conn, conn.transaction():
        revoked = await _revoke_where(conn, "token_id = $1", token_id, actor=actor, reason="revoked")
    return bool(revoked)


async def list_api_tokens(pool: asyncpg.Pool, *, include_inactive: bool = True) -> list[TokenInfo]:
    rows = await pool.fetch(
        """
        SELECT t.token_id, t.role, t.label, t.created_at, t.expires_at, t.revoked_at, t.managed_admin,
               coalesce(array_agg(a.account_id ORDER BY a.account_id)
                        FILTER (WHERE a.account_id IS NOT NULL), '{}') AS account_ids,
               CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'
                    WHEN t.expires_at <= now() THEN 'expired' ELSE 'active' END AS status
        FROM api_tokens t LEFT JOIN api_token_accounts a ON a.token_id = t.token_id
        GROUP BY t.token_id
        ORDER BY t.created_at, t.token_id
        """
    )
    tokens = [
        TokenInfo(r["token_id"], r["role"], r["label"], tuple(r["account_ids"]), r["created_at"], r["expires_at"],
                  r["revoked_at"], r["managed_admin"], r["status"])
        for r in rows
    ]
    return tokens if include_inactive else [t for t in tokens if t.status == "active"]


async def token_state(pool: asyncpg.Pool, token: str, role: str) -> str | None:
    """``active``, ``expired`` or ``revoked`` for a stored token of this role; None when there is none."""
    state: str | None = await pool.fetchval(
        "SELECT CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN expires_at <= now() THEN 'expired' "
        "ELSE 'active' END FROM api_tokens WHERE token_hash = $1 AND role = $2",
        hash_api_token(token), role,
    )
    return state


async def active_role(pool: asyncpg.Pool, token: str) -> str | None:
    """The role of a live (unexpired, unrevoked) token; None for anything else."""
    if not token or len(token) > 256:
        return None
    role: str | None = await pool.fetchval(
        "SELECT role FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
        hash_api_token(token),
    )
    return role
