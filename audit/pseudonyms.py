"""Account pseudonyms (GDPR): keyed hashes whose keys live in PostgreSQL (``audit.pseudonyms``).

``pseudonym = HMAC-SHA256(key_of_the_account, account_id)`` (first 32 hex digits), with a random 32-byte
key per account. ClickHouse only ever sees the pseudonym. ``forget`` deletes the key: the trail stays,
chains still verify, but nobody (not even us) can tell which account a pseudonym was, and the account id
cannot be hashed again to find its rows.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

import asyncpg


def pseudonym(key: bytes, account_id: str) -> str:
    return hmac.new(key, account_id.encode(), hashlib.sha256).hexdigest()[:32]


class PseudonymStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def resolve(self, account_ids: Iterable[str]) -> dict[str, str]:
        """Pseudonyms of ``account_ids``, creating keys for accounts seen for the first time."""
        wanted = sorted(set(account_ids))
        if not wanted:
            return {}
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT account_id, pseudonym FROM audit.pseudonyms WHERE account_id = ANY($1::text[])", wanted
            )
            found = {r["account_id"]: r["pseudonym"] for r in rows}
            missing = [a for a in wanted if a not in found]
            if missing:
                keys = [secrets.token_bytes(32) for _ in missing]
                await conn.execute(
                    "INSERT INTO audit.pseudonyms (account_id, hmac_key, pseudonym) "
                    "SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[]) ON CONFLICT (account_id) DO NOTHING",
                    missing, keys, [pseudonym(k, a) for k, a in zip(keys, missing, strict=True)],
                )
                # another writer may have won the race: read back what is stored
                rows = await conn.fetch(
                    "SELECT account_id, pseudonym FROM audit.pseudonyms WHERE account_id = ANY($1::text[])", missing
                )
                found.update({r["account_id"]: r["pseudonym"] for r in rows})
        return found

    async def lookup(self, account_id: str) -> str | None:
        """The account's pseudonym, or None when it never had events or has been forgotten."""
        value = await self._pool.fetchval("SELECT pseudonym FROM audit.pseudonyms WHERE account_id = $1", account_id)
        return str(value) if value is not None else None

    async def reveal(self, pseudonyms: Iterable[str]) -> dict[str, str]:
        """Account ids behind ``pseudonyms`` (forgotten ones are simply absent)."""
        wanted = sorted({p for p in pseudonyms if p})
        if not wanted:
            return {}
        rows = await self._pool.fetch(
            "SELECT pseudonym, account_id FROM audit.pseudonyms WHERE pseudonym = ANY($1::text[])", wanted
        )
        return {r["pseudonym"]: r["account_id"] for r in rows}

    async def forget(self, account_id: str, requested_by: str = "") -> str | None:
        """Delete the account's key; returns the pseudonym that no longer identifies it (None: nothing to do)."""
        async with self._pool.acquire() as conn, conn.transaction():
            value = await conn.fetchval(
                "DELETE FROM audit.pseudonyms WHERE account_id = $1 RETURNING pseudonym", account_id
            )
            if value is None:
                return None
            await conn.execute(
                "INSERT INTO audit.erasures (pseudonym, requested_by) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                value, requested_by,
            )
        return str(value)
