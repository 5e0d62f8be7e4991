"""The PostgreSQL outbox: producers append in their own transaction; the shipper drains it.

``append_event(conn, event)`` is the one call a producer makes, on the asyncpg connection whose transaction
records the change (so the event exists if and only if the change committed)::

    async with conn.transaction():
        ...  # the ledger change
        await append_event(conn, AuditEvent("order.fill", account_id=acct, symbol="AAPL", ...))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from audit.events import AuditEvent
from audit.rows import IDENTIFYING_KEYS

ZERO = timedelta(0)


async def append_event(conn: asyncpg.Connection | PoolConnectionProxy, event: AuditEvent) -> None:
    await conn.execute(
        "INSERT INTO outbox (event_id, event_type, occurred_at, account_id, payload) "
        "VALUES ($1, $2, $3, $4, $5::jsonb)",
        event.event_id, event.event_type, event.occurred_at, event.account_id,
        orjson.dumps(event.to_payload(), default=str).decode(),
    )


class OutboxRow(NamedTuple):
    """One outbox row (a named tuple: the shipper makes one per event, and a tuple is the cheapest to build)."""

    seq: int
    event_id: str
    event_type: str
    occurred_at: datetime
    account_id: str | None
    payload: str  # the jsonb as text (from fetch_unshipped: without identifying top-level keys)
    occurred_utc: str = ""  # occurred_at as PostgreSQL formatted it (see occurred_text)

    @property
    def occurred_text(self) -> str:
        """UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``: how ClickHouse reads and prints DateTime64(6, 'UTC')."""
        if self.occurred_utc:
            return self.occurred_utc
        at = self.occurred_at if self.occurred_at.utcoffset() == ZERO else self.occurred_at.astimezone(UTC)
        return at.isoformat(" ", "microseconds")[:26]


async def fetch_unshipped(pool: asyncpg.Pool, limit: int, after: int = 0) -> list[OutboxRow]:
    """The oldest unshipped rows (with seq > ``after``), in seq order, ready to ship.

    PostgreSQL does the per-row text work in C, where it costs a fraction of what it would here: it drops the
    identifying top-level keys (``audit.rows.IDENTIFYING_KEYS``; a payload without any is the jsonb text as
    it is) and formats the time as the text ClickHouse stores.
    """
    rows = await pool.fetch(
        "SELECT seq, event_id::text, event_type, occurred_at, account_id, "
        "CASE WHEN jsonb_typeof(payload) = 'object' AND payload ?| $3::text[] "
        "THEN (payload - $3::text[])::text ELSE payload::text END, "
        "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') "
        "FROM outbox WHERE shipped_at IS NULL AND seq > $2 ORDER BY seq LIMIT $1",
        limit, after, _IDENTIFYING,
    )
    return [OutboxRow(*row) for row in rows]


_IDENTIFYING = sorted(IDENTIFYING_KEYS)


async def mark_shipped(pool: asyncpg.Pool, seqs: list[int]) -> None:
    await pool.execute(
        "UPDATE outbox SET shipped_at = now() WHERE seq = ANY($1::bigint[]) AND shipped_at IS NULL", seqs
    )


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int  # unshipped rows, counted up to BACKLOG_COUNT_CAP (the count stays cheap when ClickHouse is down)
    lag_seconds: float  # age of the oldest unshipped event (0 when none)


BACKLOG_COUNT_CAP = 1_000_000


async def backlog(pool: asyncpg.Pool) -> Backlog:
    # both statements walk the partial index of unshipped rows: cheap however large the outbox is
    pending = await pool.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM outbox WHERE shipped_at IS NULL LIMIT $1) AS unshipped",
        BACKLOG_COUNT_CAP,
    )
    lag = await pool.fetchval(
        "SELECT EXTRACT(EPOCH FROM now() - occurred_at) FROM outbox WHERE shipped_at IS NULL ORDER BY seq LIMIT 1"
    )
    return Backlog(int(pending), max(0.0, float(lag or 0)))


async def purge_shipped(pool: asyncpg.Pool, older_than_hours: float) -> int:
    """Delete rows shipped long ago: ClickHouse holds the trail; the outbox is only a buffer."""
    status = await pool.execute(
        "DELETE FROM outbox WHERE shipped_at < now() - make_interval(secs => $1)", older_than_hours * 3600
    )
    return int(status.split()[-1])
