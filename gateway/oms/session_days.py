"""FIX session days: which inbound mark a session's sequence numbers compare with, and the trading day a
ClOrdID belongs to (ADR 010).

QuickFIX starts a new message store -- sequence numbers from 1 and a new *creation time* -- when a session
day begins (StartTime = EndTime = 00:00:00 UTC, ``fixsession.settings``) and on every 141=Y reset. A MsgSeqNum
means something only together with that creation time (``session_start``), so the inbound marks
(``fix_inbound_marks``) are kept per (session, session_start) and recovery compares the store's expected
number with the mark of *its own* store only.

Pure functions first (unit-tested); the QuickFIX shell at the end reads a live session's store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

import quickfix as fix

from fixsession.settings import session_directory

__all__ = [
    "NO_SESSION_START",
    "SESSION_START_TAG",
    "ClOrdIdScope",
    "StoreClock",
    "cl_ord_id_since",
    "rewind_to",
    "session_start_of",
    "session_start_tag_value",
    "stamp_session_start",
    "trading_day",
]

ClOrdIdScope = Literal["trading_day", "forever"]

# Marks saved before marks had a session start (migration 0006), and reports of unknown origin in tests.
NO_SESSION_START = datetime(1970, 1, 1, tzinfo=UTC)
# A private header tag the engine thread stamps on each inbound application message: the session start of the
# store that accepted it (the handler runs later on the event loop, perhaps after a reset).
SESSION_START_TAG = 20_017
SESSION_DAY_START = time(0, 0)  # the FIX session's StartTime/EndTime (UTC)


def trading_day(at: datetime, start: time = SESSION_DAY_START) -> date:
    """The trading day ``at`` belongs to: the FIX session day in UTC, which begins at ``start`` (00:00 UTC,
    when sequence numbers reset). A day that begins at 17:00 belongs to the next calendar date."""
    if at.tzinfo is None:
        raise ValueError("a trading day needs a timezone-aware time")
    utc = at.astimezone(UTC)
    shifted = utc - timedelta(hours=start.hour, minutes=start.minute, seconds=start.second)
    return shifted.date() if start == time(0, 0) else shifted.date() + timedelta(days=1)


def cl_ord_id_since(scope: ClOrdIdScope, at: datetime, start: time = SESSION_DAY_START) -> date:
    """The first trading day whose ClOrdIDs a new order's ClOrdID must not repeat."""
    return trading_day(at, start) if scope == "trading_day" else date.min


def rewind_to(expected: int, marks: Mapping[datetime, int], session_start: datetime) -> int | None:
    """The next inbound MsgSeqNum to ask the peer for, or None to leave the session as it is.

    ``marks``: the session's last handled MsgSeqNum per store (session start). Only the mark of the store now
    in use counts: one of an earlier day (higher numbers, from before the reset) says nothing about this
    one. No mark for this store means nothing of it is known handled: ask again from 1 (duplicates of what
    was handled are no-ops: venue ExecIDs and PossDup requests are idempotent)."""
    last = marks.get(session_start, 0)
    return last + 1 if expected > last + 1 else None


def session_start_of(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    """A store creation time to the second (QuickFIX keeps it to the second in its ``.session`` file)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def session_start_tag_value(start: datetime) -> str:
    return start.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")


def parse_session_start(value: str | None) -> datetime:
    if not value:
        return NO_SESSION_START
    return datetime.strptime(value, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)


# -- QuickFIX shell -------------------------------------------------------------------------------------

class StoreClock:
    """Reads the creation time of a session's QuickFIX FileStore (``<store_dir>/<Begin>-<Sender>-<Target>.session``,
    written when the store is created or reset; the Python binding does not expose ``getCreationTime``). A read
    is one ``stat`` while the file is unchanged: the file's path is kept per session (one call into the binding
    for the key instead of six to build it), the start and its header tag value per file and modification time."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self._paths: dict[str, str] = {}  # session_id.toString() -> its .session file
        self._cache: dict[str, tuple[int, datetime, str]] = {}  # file -> (st_mtime_ns, start, its tag value)

    def path(self, session_id: fix.SessionID) -> Path:
        return self.store_dir / (f"{session_id.getBeginString().getValue()}-{session_id.getSenderCompID().getValue()}"
                                 f"-{session_id.getTargetCompID().getValue()}.session")

    def _read(self, session_id: fix.SessionID) -> tuple[int, datetime, str] | None:
        key = str(session_id.toString())
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = str(self.path(session_id))
        try:
            changed = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == changed:
            return cached
        text = Path(path).read_text().strip()
        if not text:
            return None
        start = parse_session_start(text[:17])
        cached = self._cache[path] = (changed, start, session_start_tag_value(start))
        return cached

    def session_start(self, session_id: fix.SessionID) -> datetime | None:
        """The store's creation time (None: no store file yet)."""
        read = self._read(session_id)
        return read[1] if read is not None else None

    def session_start_tag(self, session_id: fix.SessionID) -> str | None:
        """The store's creation time as ``SESSION_START_TAG``'s value (None: no store file yet)."""
        read = self._read(session_id)
        return read[2] if read is not None else None


def message_session_start(message: fix.Message) -> datetime:
    """The session start stamped on an inbound message (``NO_SESSION_START`` when it carries none)."""
    header = message.getHeader()
    if not header.isSetField(SESSION_START_TAG):
        return NO_SESSION_START
    return parse_session_start(header.getField(SESSION_START_TAG))


def stamp_session_start(app: object, clock: StoreClock) -> None:
    """Wrap ``app.on_app_in`` (a ``fixsession.SafeApplication``; engine thread) so every inbound application
    message carries, before it is handed to the event loop, the start of the store that accepted it."""
    inner: Callable[[fix.Message, fix.SessionID], None] = app.on_app_in  # type: ignore[attr-defined]

    def on_app_in(message: fix.Message, session_id: fix.SessionID) -> None:
        start = clock.session_start_tag(session_id)
        if start is not None:
            message.getHeader().setField(SESSION_START_TAG, start)
        inner(message, session_id)

    app.on_app_in = on_app_in  # type: ignore[attr-defined]


def store_directory(engine: object) -> Path:
    """Where a ``fixsession.Engine`` keeps its FileStore (``<data_dir>/fix/<name>/store``)."""
    endpoint = engine.endpoint  # type: ignore[attr-defined]
    return session_directory(endpoint.data_dir, endpoint.name) / "store"
