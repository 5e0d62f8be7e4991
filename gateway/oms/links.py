"""Where the order path's messages go: client sessions (by SenderCompID) and the exchange link.

``ClientLink`` remembers, per session, the highest ``executions.seq`` whose report QuickFIX took (it is in
the session's FileStore from then on, so the client gets it by resend if it missed it) and writes those
marks to ``client_report_marks`` in the background; after a crash the reports above the mark are sent again
(same ExecID: a client recognises a report it already has).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence

import asyncpg
import quickfix as fix
import structlog

from gateway.oms.fix_codec import build_message

log = structlog.get_logger(__name__)

Sender = Callable[[fix.SessionID, fix.Message], bool]


class ClientLink:
    def __init__(self, send: Sender, our_comp_id: str, begin_string: str = "FIX.4.4") -> None:
        self._send = send
        self._our = our_comp_id
        self._begin = begin_string
        self._sent: dict[str, int] = {}
        self._saved: dict[str, int] = {}
        self.sent_count = 0

    def session(self, session_id: str) -> fix.SessionID:
        return fix.SessionID(self._begin, self._our, session_id)

    def send(self, session_id: str, msg_type: str, fields: Sequence[Sequence[object]], seq: int | None = None) -> bool:
        ok = self._send(self.session(session_id), build_message(msg_type, fields))
        if ok:
            self.sent_count += 1
            if seq is not None and seq > self._sent.get(session_id, 0):
                self._sent[session_id] = seq
        else:
            log.warning("oms.client_send_failed", session=session_id, msg_type=msg_type)
        return ok

    async def save_marks(self, pool: asyncpg.Pool) -> None:
        changed = [(s, q) for s, q in self._sent.items() if self._saved.get(s) != q]
        if not changed:
            return
        await pool.executemany(
            "INSERT INTO client_report_marks (session_id, last_seq) VALUES ($1, $2) ON CONFLICT (session_id) "
            "DO UPDATE SET last_seq = greatest(client_report_marks.last_seq, EXCLUDED.last_seq), updated_at = now()",
            changed)
        self._saved.update(changed)

    async def run_marks(self, pool: asyncpg.Pool, interval: float = 0.2) -> None:
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await self.save_marks(pool)

    async def resend_unconfirmed(self, pool: asyncpg.Pool) -> int:
        """Send again every stored report above its session's mark (what a crash may have swallowed)."""
        rows = await pool.fetch(
            "SELECT e.session_id, e.seq, e.fix_fields::text AS fields FROM executions e "
            "LEFT JOIN client_report_marks m ON m.session_id = e.session_id "
            "WHERE e.session_id IS NOT NULL AND e.fix_fields IS NOT NULL AND e.seq > coalesce(m.last_seq, 0) "
            "ORDER BY e.seq")
        for row in rows:
            self.send(row["session_id"], "8", json.loads(row["fields"]), row["seq"])
        await self.save_marks(pool)
        return len(rows)


class VenueLink:
    def __init__(self, send: Callable[[fix.Message], bool]) -> None:
        self._send = send

    def send(self, msg_type: str, fields: Sequence[Sequence[object]]) -> bool:
        ok = self._send(build_message(msg_type, fields))
        if not ok:
            log.warning("oms.venue_send_failed", msg_type=msg_type)
        return ok
