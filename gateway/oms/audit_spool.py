"""The audit spool: events decided outside any PostgreSQL transaction, kept durably until they are in the outbox.

A change recorded in PostgreSQL writes its event to the outbox in the same transaction. Everything else --
rejects decided before the order transaction (unknown account, invalid order, database down, ledger
refusal), throttles and business rejects (35=j), session-level Rejects (35=3), cancel rejects, logon and
logout -- is appended here: one JSON line per event in ``<data_dir>/audit-spool/spool.jsonl``, written and
fsync'd before ``append`` returns (thread-safe: QuickFIX threads call it too). ``replay`` moves the file
aside (atomic rename), inserts its events into the outbox in one transaction, idempotent by ``event_id``
(``ON CONFLICT DO NOTHING``), and deletes it; a crash anywhere in between replays it again at the next
round (at start-up too), and an event id already in the outbox is skipped: every event lands exactly once.
While PostgreSQL is down the spool grows and ``replay`` leaves it for the next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import orjson
import quickfix as fix
import structlog

from audit.events import AuditEvent
from fixsession.messages import msg_type
from gateway.oms.audit_trail import message_event

log = structlog.get_logger(__name__)

__all__ = ["AuditSpool", "watch_rejects"]

_INSERT = (
    "INSERT INTO outbox (event_id, event_type, occurred_at, account_id, payload) "
    "SELECT u.a, u.b, u.c, u.d, u.e::jsonb FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], "
    "$5::text[]) AS u(a, b, c, d, e) ON CONFLICT (event_id) DO NOTHING"
)


class AuditSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "spool.jsonl"
        self.replaying = directory / "spool.replaying.jsonl"
        self._lock = threading.Lock()
        self.appended = 0
        self.replayed = 0
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def append(self, event: AuditEvent) -> None:
        """Durably keep one event (fsync'd before returning). Thread-safe."""
        line = orjson.dumps({"event_id": str(event.event_id), "event_type": event.event_type,
                             "occurred_at": event.occurred_at.isoformat(), "account_id": event.account_id,
                             "payload": event.to_payload()}, default=str) + b"\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            self.appended += 1

    def pending(self) -> int:
        """Events waiting in the spool (both files)."""
        return sum(len(_read(p)) for p in (self.replaying, self.path))

    async def replay(self, pool: asyncpg.Pool) -> int:
        """Move the spooled events into the outbox; the number inserted (already present ones are skipped).
        Raises when PostgreSQL cannot be reached (the events stay spooled)."""
        inserted = 0
        if self.replaying.exists():  # left by a crash or an outage: first
            inserted += await self._insert(pool, self.replaying)
        with self._lock:
            if not self.path.exists() or self.path.stat().st_size == 0:
                return inserted
            os.replace(self.path, self.replaying)
            _fsync_dir(self.directory)
        inserted += await self._insert(pool, self.replaying)
        return inserted

    async def _insert(self, pool: asyncpg.Pool, path: Path) -> int:
        events = _read(path)
        if events:
            columns = list(zip(*[(UUID(e["event_id"]), e["event_type"], datetime.fromisoformat(e["occurred_at"]),
                                  e.get("account_id"), orjson.dumps(e.get("payload") or {}).decode())
                                 for e in events], strict=True))
            async with pool.acquire(timeout=5) as conn, conn.transaction():
                status = await conn.execute(_INSERT, *(list(c) for c in columns))
            count = int(status.rsplit(" ", 1)[-1])
        else:
            count = 0
        _remove(path)
        self.replayed += count
        if events:
            log.info("audit.spool_replayed", events=len(events), inserted=count)
        return count

    async def run(self, pool: asyncpg.Pool, interval: float = 0.5) -> None:
        """Replay every ``interval`` seconds; an outage is logged once and retried."""
        down = False
        while True:
            try:
                await self.replay(pool)
                down = False
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not down:
                    log.warning("audit.spool_waiting_for_database", error=str(error), pending=self.pending())
                down = True
            await asyncio.sleep(interval)


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    events: list[dict[str, Any]] = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except ValueError:  # a line torn by a crash mid-write (only the last one can be)
            log.error("audit.spool_torn_line", path=str(path), line=number, text=line[:200].decode(errors="replace"))
    return events


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_REJECT_TAGS = (45, 58, 371, 372, 373, 379, 380)


def watch_rejects(app: object, sink: Callable[[AuditEvent], None]) -> None:
    """Wrap a ``fixsession.SafeApplication``'s outbound hooks so every session-level Reject (35=3) and
    BusinessMessageReject (35=j: throttles, unreadable or unsupported messages, database down) it sends is
    audited once (a resend, 43=Y, is not a new reject)."""
    def audit(kind: str, message: fix.Message, session_id: fix.SessionID) -> None:
        header = message.getHeader()
        if header.isSetField(43) and header.getField(43) == "Y":
            return
        fields = {tag: message.getField(tag) for tag in _REJECT_TAGS if message.isSetField(tag)}
        rule = "throttle" if "rate limit" in fields.get(58, "") else ""
        try:
            sink(message_event(kind, str(session_id.getTargetCompID().getValue()), fields, rule))
        except Exception:
            log.exception("audit.spool_failed", event_type=kind)

    admin_out: Callable[[fix.Message, fix.SessionID], None] = app.on_admin_out  # type: ignore[attr-defined]
    app_out: Callable[[fix.Message, fix.SessionID, str | None], None] = app.on_app_out  # type: ignore[attr-defined]

    def on_admin_out(message: fix.Message, session_id: fix.SessionID) -> None:
        admin_out(message, session_id)
        if msg_type(message) == "3":
            audit("session.reject", message, session_id)

    def on_app_out(message: fix.Message, session_id: fix.SessionID, kind: str | None = None) -> None:
        app_out(message, session_id, kind)
        # every outbound application message: the MsgType the message log read, or read from the wire text
        if (kind if kind is not None else msg_type(message)) == "j":
            audit("session.business_reject", message, session_id)

    app.on_admin_out = on_admin_out  # type: ignore[attr-defined]
    app.on_app_out = on_app_out  # type: ignore[attr-defined]
