"""Inbound marks per FIX session day: the last inbound MsgSeqNum fully handled, per (session, session start).

``InboundMarks`` is in-memory bookkeeping (no I/O) for messages handled out of order (the exchange link's
parallel lanes): per session start, the numbers still in flight and the highest seen; the contiguous mark is
the lowest in flight - 1 (or the highest seen). A reset (new session day, 141=Y) opens a new entry, so a
number of the new store never hides behind one of the old. ``save_inbound_marks`` persists the marks that
moved (``fix_inbound_marks``, keyed by session and session start; only ever upwards within one store).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from gateway.oms.session_days import NO_SESSION_START

__all__ = ["InboundMarks", "load_inbound_marks", "save_inbound_marks", "upsert_marks"]

_UPSERT = (
    "INSERT INTO fix_inbound_marks (session_key, session_start, last_seq) VALUES ($1, $2, $3) "
    "ON CONFLICT (session_key, session_start) DO UPDATE SET "
    "last_seq = greatest(fix_inbound_marks.last_seq, EXCLUDED.last_seq), updated_at = now()"
)
KEEP_DAYS = 30  # marks of stores older than this are deleted at start-up


@dataclass
class _Day:
    inflight: set[int] = field(default_factory=set)
    max_seen: int = 0
    saved: int = 0

    @property
    def handled(self) -> int:
        return min(self.inflight) - 1 if self.inflight else self.max_seen


class InboundMarks:
    def __init__(self) -> None:
        self.days: dict[datetime, _Day] = {}
        self.current = NO_SESSION_START  # the newest session start seen

    def _day(self, start: datetime) -> _Day:
        day = self.days.get(start)
        if day is None:
            day = self.days[start] = _Day()
        if start > self.current:
            self.current = start
        return day

    def begin(self, start: datetime, seq: int) -> None:
        """``seq`` arrived and is being handled: the mark stays below it until ``done``."""
        day = self._day(start)
        day.max_seen = max(day.max_seen, seq)
        day.inflight.add(seq)

    def seen(self, start: datetime, seq: int) -> None:
        """``seq`` arrived and needs nothing done."""
        day = self._day(start)
        day.max_seen = max(day.max_seen, seq)

    def done(self, start: datetime, seq: int) -> None:
        self._day(start).inflight.discard(seq)

    def handled(self, start: datetime) -> int:
        day = self.days.get(start)
        return day.handled if day is not None else 0

    def unsaved(self) -> list[tuple[datetime, int]]:
        return [(start, day.handled) for start, day in self.days.items() if day.handled > day.saved]

    def mark_saved(self, start: datetime, mark: int) -> None:
        day = self.days.get(start)
        if day is None:
            return
        day.saved = max(day.saved, mark)
        # an earlier store with nothing in flight and its mark saved needs no more bookkeeping
        for old in [s for s, d in self.days.items() if s < self.current and not d.inflight and d.saved >= d.handled]:
            del self.days[old]


async def upsert_marks(pool: asyncpg.Pool, rows: list[tuple[str, datetime, int]]) -> None:
    if rows:
        await pool.executemany(_UPSERT, rows)


async def save_inbound_marks(pool: asyncpg.Pool, key: str, marks: InboundMarks) -> None:
    rows = marks.unsaved()
    if not rows:
        return
    await upsert_marks(pool, [(key, start, mark) for start, mark in rows])
    for start, mark in rows:
        marks.mark_saved(start, mark)


async def load_inbound_marks(pool: asyncpg.Pool, prefix: str = "") -> dict[str, dict[datetime, int]]:
    """Every session's marks per session start (session keys starting with ``prefix``); drops marks of stores
    older than ``KEEP_DAYS`` days (the newest of each session is always kept)."""
    await pool.execute(
        "DELETE FROM fix_inbound_marks m WHERE m.updated_at < now() - $1::interval AND EXISTS "
        "(SELECT 1 FROM fix_inbound_marks n WHERE n.session_key = m.session_key "
        "AND n.session_start > m.session_start)", timedelta(days=KEEP_DAYS))
    rows = await pool.fetch("SELECT session_key, session_start, last_seq FROM fix_inbound_marks "
                            "WHERE starts_with(session_key, $1)", prefix)
    out: dict[str, dict[datetime, int]] = defaultdict(dict)
    for row in rows:
        out[row["session_key"]][row["session_start"]] = row["last_seq"]
    return dict(out)
