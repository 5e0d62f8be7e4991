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


class Position(NamedTuple):
    """A place in the shipping order ``(txid, seq)``: the writing transaction's id (``xid8``, as text), then seq."""

    txid: str
    seq: int


class OutboxRow(NamedTuple):
    """One outbox row (a named tuple: the shipper makes one per event, and a tuple is the cheapest to build)."""

    seq: int
    event_id: str
    event_type: str
    occurred_at: datetime
    account_id: str | None
    payload: str  # the jsonb as text (from fetch_unshipped: without identifying top-level keys)
    occurred_utc: str = ""  # occurred_at as PostgreSQL formatted it (see occurred_text)
    txid: str = "1"  # the top-level transaction that wrote the row (xid8 as text): with seq, the shipping order

    @property
    def occurred_text(self) -> str:
        """UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``: how ClickHouse reads and prints DateTime64(6, 'UTC')."""
        if self.occurred_utc:
            return self.occurred_utc
        at = self.occurred_at if self.occurred_at.utcoffset() == ZERO else self.occurred_at.astimezone(UTC)
        return at.isoformat(" ", "microseconds")[:26]

    @property
    def position(self) -> Position:
        return Position(self.txid, self.seq)


# Rows after a position, of transactions older than the oldest one still running (ADR 039). Such a transaction
# is over (committed: its rows are in this statement's snapshot; aborted: they never will be), and any later
# row belongs to a transaction with a larger id, so a position reached this way never has to move back: a seq
# allocated early but committed late is not skipped, its transaction is simply not past the horizon yet.
_SETTLED = "(txid, seq) > ($2::text::xid8, $3) AND txid < pg_snapshot_xmin(pg_current_snapshot())"


async def fetch_unshipped(pool: asyncpg.Pool, limit: int, after: Position) -> list[OutboxRow]:
    """The next settled rows after ``after`` in shipping order ``(txid, seq)``, ready to ship.

    PostgreSQL does the per-row text work in C, where it costs a fraction of what it would here: it drops the
    identifying top-level keys (``audit.rows.IDENTIFYING_KEYS``; a payload without any is the jsonb text as
    it is) and formats the time as the text ClickHouse stores.
    """
    rows = await pool.fetch(
        "SELECT seq, event_id::text, event_type, occurred_at, account_id, "
        "CASE WHEN jsonb_typeof(payload) = 'object' AND payload ?| $4::text[] "
        "THEN (payload - $4::text[])::text ELSE payload::text END, "
        "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), txid::text AS txid_text "
        # qualified: a bare ``txid`` would sort by the output column, i.e. as text ('10' < '9')
        f"FROM outbox WHERE {_SETTLED} ORDER BY outbox.txid, outbox.seq LIMIT $1",
        limit, after.txid, after.seq, _IDENTIFYING,
    )
    return [OutboxRow(*row) for row in rows]


_IDENTIFYING = sorted(IDENTIFYING_KEYS)


async def shipped_position(pool: asyncpg.Pool) -> Position:
    """Where the last recorded batch ended (migration 0022 records the starting point)."""
    row = await pool.fetchrow("SELECT txid::text, seq FROM audit.outbox_shipped ORDER BY batch DESC LIMIT 1")
    return Position(str(row[0]), int(row[1])) if row else Position("1", 0)


async def record_shipped(pool: asyncpg.Pool, upto: Position) -> None:
    """Every row up to ``upto`` is in ClickHouse: one row per batch instead of one UPDATE per event."""
    await pool.execute("INSERT INTO audit.outbox_shipped (txid, seq) VALUES ($1::text::xid8, $2)", upto.txid, upto.seq)


async def lowest_seq_after(pool: asyncpg.Pool, after: Position) -> int | None:
    """The smallest seq still to ship (recovery looks for ids already in ClickHouse from there on)."""
    value = await pool.fetchval(
        "SELECT min(seq) FROM outbox WHERE (txid, seq) > ($1::text::xid8, $2)", after.txid, after.seq
    )
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class Backlog:
    pending: int  # committed rows after the recorded watermark, counted up to BACKLOG_COUNT_CAP (stays cheap)
    lag_seconds: float  # age of the oldest unshipped event (0 when none)


BACKLOG_COUNT_CAP = 1_000_000


async def backlog(pool: asyncpg.Pool) -> Backlog:
    # both statements walk ix_outbox_txid_seq from the recorded position: cheap however large the outbox is
    pending = await pool.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM outbox, (SELECT txid AS t, seq AS s FROM audit.outbox_shipped "
        "ORDER BY batch DESC LIMIT 1) AS w WHERE (txid, seq) > (w.t, w.s) LIMIT $1) AS unshipped",
        BACKLOG_COUNT_CAP,
    )
    lag = await pool.fetchval(
        "SELECT EXTRACT(EPOCH FROM now() - occurred_at) FROM outbox, (SELECT txid AS t, seq AS s "
        "FROM audit.outbox_shipped ORDER BY batch DESC LIMIT 1) AS w WHERE (txid, seq) > (w.t, w.s) "
        "ORDER BY txid, seq LIMIT 1"
    )
    return Backlog(int(pending), max(0.0, float(lag or 0)))


async def purge_shipped(pool: asyncpg.Pool, older_than_hours: float) -> int:
    """Delete rows shipped long ago (ClickHouse holds the trail; the outbox is only a buffer), and the
    watermark history before that point."""
    async with pool.acquire() as conn, conn.transaction():
        cut = await conn.fetchrow(
            "SELECT batch, txid::text, seq FROM audit.outbox_shipped "
            "WHERE shipped_at < now() - make_interval(secs => $1) ORDER BY batch DESC LIMIT 1", older_than_hours * 3600,
        )
        if cut is None:
            return 0
        status = await conn.execute(
            "DELETE FROM outbox WHERE (txid, seq) <= ($1::text::xid8, $2)", cut["txid"], cut["seq"]
        )
        await conn.execute("DELETE FROM audit.outbox_shipped WHERE batch < $1", cut["batch"])
    return int(status.split()[-1])
