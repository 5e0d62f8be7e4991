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
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

import quickfix as fix

from fixsession.application import SafeApplication
from fixsession.messages import carried, session_key
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
# A private tag the engine thread attaches to the loop's copy of each inbound application message (carried beside
# its fields, ``fixsession.messages.carried``; read by ``message_session_start`` and ``fix_codec.crack``): the
# session start of the store that accepted it (the handler runs later on the event loop, perhaps after a reset).
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
    written when the store is created or reset; the Python binding does not expose ``getCreationTime``).

    ``session_start`` reads the file (one ``stat`` while it is unchanged: the start and its
    tag value are cached per file and modification time). ``current_tag`` is the hot path, once per inbound
    application message: the value read once and kept until ``forget``, which ``stamp_session_start`` calls on
    every inbound admin message and every logon and logout, the moments after which QuickFIX can have reset the
    store (see there)."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self._paths: dict[str, str] = {}  # session_id.toString() -> its .session file
        self._cache: dict[str, tuple[int, datetime, str]] = {}  # file -> (st_mtime_ns, start, its tag value)
        self._current: dict[str, str] = {}  # session key -> the tag value of its store, since the last forget

    def path(self, session_id: fix.SessionID) -> Path:
        return self.store_dir / (f"{session_id.getBeginString().getValue()}-{session_id.getSenderCompID().getValue()}"
                                 f"-{session_id.getTargetCompID().getValue()}.session")

    def _read(self, session_id: fix.SessionID, key: str | None = None) -> tuple[int, datetime, str] | None:
        key = key or str(session_id.toString())
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

    def current_tag(self, session_id: fix.SessionID, key: str) -> str | None:
        """The store's creation time as ``SESSION_START_TAG``'s value (None: no store file yet), as of the last
        ``forget`` of the session ``key`` (its ``session_key``)."""
        tag = self._current.get(key)
        if tag is None:
            read = self._read(session_id, key)
            if read is None:
                return None
            tag = self._current[key] = read[2]
        return tag

    def forget(self, key: str) -> None:
        """The session's store may have been reset: read it again at the next ``current_tag``."""
        self._current.pop(key, None)


def message_session_start(message: fix.Message) -> datetime:
    """The session start stamped on an inbound message (``NO_SESSION_START`` when it carries none): carried by
    the loop's copy (``stamp_session_start``), or in its header (a message built that way, in tests)."""
    stamped = carried(message).get(SESSION_START_TAG)
    if stamped is not None:
        return parse_session_start(stamped)
    header = message.getHeader()
    if not header.isSetField(SESSION_START_TAG):
        return NO_SESSION_START
    return parse_session_start(header.getField(SESSION_START_TAG))


def stamp_session_start(app: SafeApplication, clock: StoreClock) -> None:
    """Stamp every inbound application message of ``app`` (engine thread), as it is handed to the event loop, with
    the start of the store that accepted it (``SafeApplication.inbound_stamp``): the loop's copy carries it as
    ``SESSION_START_TAG`` beside its fields, not in its header (two calls into the binding fewer per message on
    the engine thread).

    The start is read from the store file once and then kept, not read per message (a ``stat`` and a session key
    per message were ~4 % of the gateway's CPU). QuickFIX 1.15.1 resets a store (Session.cpp) when a Logon
    carries 141=Y or ResetOnLogon is set (both before ``fromAdmin`` sees that Logon), when it sends a Logon with
    141=Y (the peer's Logon answers it), at the end of the session time and on ``Session::reset`` (both log the
    session out and disconnect first), and at start-up. After each of these the next application message comes
    in only after an inbound Logon, on the same session's thread, so forgetting the start on every inbound admin
    message (a Logon is one) and on every logon and logout reads the new store's start before it is needed."""
    admin_in = app.on_admin_in
    logged_on, logged_out = app.on_logon, app.on_logout

    def on_admin_in(message: fix.Message, session_id: fix.SessionID) -> None:
        clock.forget(session_key(session_id))
        admin_in(message, session_id)

    def on_logon(session_id: fix.SessionID) -> None:
        clock.forget(session_key(session_id))
        logged_on(session_id)

    def on_logout(session_id: fix.SessionID) -> None:
        clock.forget(session_key(session_id))
        logged_out(session_id)

    def stamp(message: fix.Message, session_id: fix.SessionID, key: str) -> Mapping[int, str] | None:
        start = clock.current_tag(session_id, key)
        return {SESSION_START_TAG: start} if start is not None else None

    app.on_admin_in = on_admin_in  # type: ignore[method-assign]
    app.on_logon = on_logon  # type: ignore[method-assign]
    app.on_logout = on_logout  # type: ignore[method-assign]
    app.inbound_stamp = stamp


def store_directory(engine: object) -> Path:
    """Where a ``fixsession.Engine`` keeps its FileStore (``<data_dir>/fix/<name>/store``)."""
    endpoint = engine.endpoint  # type: ignore[attr-defined]
    return session_directory(endpoint.data_dir, endpoint.name) / "store"
