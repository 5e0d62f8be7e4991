"""Where the order path's messages go: client sessions (by SenderCompID) and the exchange link.

``ClientLink`` remembers, per session, which ``executions.seq`` reports QuickFIX took (each is in the
session's FileStore from then on, so the client gets it by resend if it missed it) and writes a mark per
session to ``client_report_marks`` in the background; after a crash the reports above the mark are sent again
(same ExecID: a client recognises a report it already has). Reports leave out of seq order (several lanes),
so the mark is the session's contiguous watermark: the highest seq with no unsent report of the session
below it. Seqs sent above it are kept in memory until the gap below them is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import asyncpg
import quickfix as fix
import structlog

from gateway.oms.drop_copy import DropCopy
from gateway.oms.fix_codec import build_message

log = structlog.get_logger(__name__)

Sender = Callable[[fix.SessionID, fix.Message], bool]


class ClientLink:
    def __init__(self, send: Sender, our_comp_id: str, begin_string: str = "FIX.4.4",
                 gap_grace_seconds: float = 30.0) -> None:
        self._send = send
        self._our = our_comp_id
        self._begin = begin_string
        self._sent: dict[str, set[int]] = {}  # per session: seqs sent above its watermark
        self._watermark: dict[str, int] = {}  # per session: every report up to it was sent
        self._gaps: dict[int, float] = {}  # seq missing from executions -> when first seen missing
        self._gap_grace = gap_grace_seconds
        self.sent_count = 0
        self.drop_copy: DropCopy | None = None  # ADR 027: every 35=8 also goes to its account's drop copies
        self._session_ids: dict[str, fix.SessionID] = {}  # built once per session, not per report

    def session(self, session_id: str) -> fix.SessionID:
        sid = self._session_ids.get(session_id)
        if sid is None:
            sid = self._session_ids[session_id] = fix.SessionID(self._begin, self._our, session_id)
        return sid

    def send(self, session_id: str, msg_type: str, fields: Sequence[Sequence[object]], seq: int | None = None) -> bool:
        ok = self._send(self.session(session_id), build_message(msg_type, fields))
        if ok:
            self.sent_count += 1
            if seq is not None and seq > self._watermark.get(session_id, 0):
                self._sent.setdefault(session_id, set()).add(seq)
        else:
            log.warning("oms.client_send_failed", session=session_id, msg_type=msg_type)
        if msg_type == "8" and self.drop_copy is not None:
            self.drop_copy.copy(fields)
        return ok

    def send_message(self, session_id: str, message: fix.Message) -> bool:
        """A message built by the caller (one with a repeating group: ``fix_codec.build_group_message``); never a
        stored report, so no seq to remember."""
        ok = self._send(self.session(session_id), message)
        if ok:
            self.sent_count += 1
        else:
            log.warning("oms.client_send_failed", session=session_id)
        return ok

    async def save_marks(self, pool: asyncpg.Pool) -> None:
        """Move each session's watermark up through ``executions`` in seq order while every report of the
        session was sent, and persist it (only ever upwards). A seq missing from the table may be a report
        still being committed (its seq was drawn before a later one's): the watermark waits at such a gap
        until it has stayed empty for ``gap_grace_seconds`` (then it was rolled back)."""
        changed: list[tuple[str, int]] = []
        for session_id, sent in list(self._sent.items()):
            if not sent:
                continue
            saved = await pool.fetchval("SELECT last_seq FROM client_report_marks WHERE session_id = $1",
                                        session_id)
            low = max(self._watermark.get(session_id, 0), saved or 0)
            rows = await pool.fetch(
                "SELECT seq, coalesce(session_id = $1 AND fix_fields IS NOT NULL, false) AS ours, "
                "CASE WHEN session_id = $1 THEN fix_fields::text END AS fields FROM executions "
                "WHERE seq > $2 AND seq <= $3 ORDER BY seq", session_id, low, max(sent))
            mark, at = low, time.monotonic()
            for row in rows:
                if row["seq"] > mark + 1 and not self._gap_settled(mark + 1, row["seq"], at):
                    break  # maybe a report still being committed: the mark waits below it
                # a report of the session not sent yet: the mark stays below it. One still unsent after the
                # grace was committed by another process (``brokerage orders settle``): it is sent now.
                if row["ours"] and row["seq"] not in sent and (
                        not self._gap_settled(row["seq"], row["seq"] + 1, at)
                        or not self.send(session_id, "8", json.loads(row["fields"]))):
                    break
                mark = row["seq"]
            self._sent[session_id] = {seq for seq in sent if seq > mark}
            if mark > self._watermark.get(session_id, 0):
                self._watermark[session_id] = mark
            if mark > (saved or 0):
                changed.append((session_id, mark))
        if changed:
            await pool.executemany(
                "INSERT INTO client_report_marks (session_id, last_seq) VALUES ($1, $2) ON CONFLICT (session_id) "
                "DO UPDATE SET last_seq = greatest(client_report_marks.last_seq, EXCLUDED.last_seq), "
                "updated_at = now()", changed)
        if len(self._gaps) > 10_000:  # gaps long settled (rolled back) need no remembering
            self._gaps = {seq: t for seq, t in self._gaps.items() if time.monotonic() - t < 10 * self._gap_grace}

    def _gap_settled(self, first: int, end: int, at: float) -> bool:
        """Seqs ``first`` .. ``end - 1`` absent from executions: settled once seen absent for the grace."""
        settled = True
        for seq in range(first, end):
            if at - self._gaps.setdefault(seq, at) < self._gap_grace:
                settled = False
        return settled

    async def run_marks(self, pool: asyncpg.Pool, interval: float = 0.2, overdue_every: int = 25) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(interval)
            rounds += 1
            with contextlib.suppress(Exception):
                if rounds % overdue_every == 0:
                    await self.send_overdue(pool)
                await self.save_marks(pool)

    async def send_overdue(self, pool: asyncpg.Pool) -> int:
        """Send the committed reports above a session's mark that this process never sent and that are older
        than the grace: committed by another process (``brokerage orders settle``) or whose send failed. One
        query over the sessions with a mark (``client_report_marks``), by the (session, seq) index."""
        rows = await pool.fetch(
            "SELECT m.session_id, e.seq, e.fix_fields::text AS fields FROM client_report_marks m "
            "CROSS JOIN LATERAL (SELECT seq, fix_fields FROM executions x WHERE x.session_id = m.session_id "
            "AND x.seq > m.last_seq AND x.fix_fields IS NOT NULL AND x.transact_time < now() - $1::interval "
            "ORDER BY seq LIMIT 100) e ORDER BY e.seq", timedelta(seconds=self._gap_grace))
        count = 0
        for row in rows:
            session_id, seq = row["session_id"], row["seq"]
            if seq <= self._watermark.get(session_id, 0) or seq in self._sent.get(session_id, set()):
                continue
            if self.send(session_id, "8", json.loads(row["fields"]), seq):
                count += 1
        if count:
            log.info("oms.client_reports_overdue_sent", count=count)
        return count

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
