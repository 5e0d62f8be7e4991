"""FIX message logs and stores without passwords, readable by their owner only (ADR 008).

QuickFIX's ``FileLog`` writes every raw message, a client's Logon with its Password (554) included, and
its ``FileStore`` keeps every outbound message for resend -- an initiator's own Logon (with the password
it authenticates with) included: ``Session::sendRaw`` persists admin messages too (they are replaced
by a SequenceReset-GapFill when resent, but their bytes stay in the ``.body`` file). The Python bindings
cannot supply a ``Log`` of our own (no SWIG director for it), so:

- :class:`MessageLog` writes the message log itself from the Application callbacks, through
  :class:`LoggingApplication` (a pass-through wrapper), with 554 and 925 (NewPassword) masked, to
  ``<log dir>/<BeginString>-<Sender>-<Target>.messages.log`` (0600, appended, one line per message).
  QuickFIX's own log is reduced to its session events (no messages).
- :func:`scrub_store_passwords` masks 554/925 in place in a session's ``.body`` file (same length, the
  CheckSum recomputed, so the stored message stays valid) after every Logon exchange and logout, and
  for every store when an engine starts (leftovers of a crash).

Messages QuickFIX refuses before any callback (garbled frames) are not in our message log; QuickFIX's
event output says why it refused them.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
import threading
import time
from pathlib import Path

import quickfix as fix
import structlog

from fixsession.messages import session_key, wire_msg_type
from fixsession.metrics import MessageCounter, count_message
from fixsession.threads import hold_thread_state

log = structlog.get_logger(__name__)

SOH = "\x01"
SECRET_TAGS = ("554", "925")  # Password, NewPassword
_SECRET_FIELD = re.compile(r"(?:(?<=\x01)|^)(554|925)=[^\x01]*")
_SECRET_FIELD_BYTES = re.compile(rb"\x01(?:554|925)=([^\x01]*)")
_CHECKSUM = re.compile(rb"\x0110=(\d{3})\x01")


def mask_secrets(raw: str) -> str:
    """A FIX message string with the values of 554/925 replaced by ``***``."""
    if "554=" not in raw and "925=" not in raw:  # the common case: one scan, no regex
        return raw
    return _SECRET_FIELD.sub(lambda m: f"{m.group(1)}=***", raw)


def session_prefix(session_id: fix.SessionID) -> str:
    """QuickFIX's file prefix for a session (``FIX.4.4-SENDER-TARGET``)."""
    return "-".join(
        (session_id.getBeginString().getValue(), session_id.getSenderCompID().getValue(),
         session_id.getTargetCompID().getValue())
    )


def tighten(directory: Path) -> None:
    """Make ``directory`` 0700 and every file in it 0600 (files left by older runs)."""
    if not directory.is_dir():
        return
    os.chmod(directory, 0o700)
    for entry in directory.iterdir():
        if entry.is_file() and not entry.is_symlink() and stat.S_IMODE(entry.stat().st_mode) & 0o077:
            os.chmod(entry, 0o600)


def private_umask() -> None:
    """Files and directories this process creates from now on (QuickFIX's stores and logs, reset and
    new-day files included) are private to its user."""
    previous = os.umask(0o077)
    os.umask(previous | 0o077)


class MessageLog:
    """Append-only per-session message log files, 0600, passwords masked. Thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fds: dict[str, int] = {}  # by session_id.toString(): one call into the binding per message
        self._lock = threading.Lock()
        self._second: tuple[int, str] = (-1, "")  # the last second's formatted stamp

    def path(self, session_id: fix.SessionID) -> Path:
        return self.directory / f"{session_prefix(session_id)}.messages.log"

    def _fd(self, session_id: fix.SessionID, key: str | None = None) -> int:
        key = key or str(session_id.toString())
        fd = self._fds.get(key)
        if fd is None:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path(session_id), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.fchmod(fd, 0o600)
            self._fds[key] = fd
        return fd

    def _stamp(self) -> str:
        """UTC now as ``YYYYmmdd-HH:MM:SS.ffffff`` (the date part formatted once a second)."""
        second, nanos = divmod(time.time_ns(), 1_000_000_000)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)))
        return f"{cached[1]}.{nanos // 1000:06d}"

    def write(self, session_id: fix.SessionID, direction: str, message: fix.Message | str,
              key: str | None = None) -> None:
        """``message``: the message or its wire text (``toString()``, when the caller has it already); ``key``:
        the session's ``toString()``, when the caller has it already.
        One ``os.write`` per line, unbuffered: a line written is in the file even if the process is killed."""
        raw = message if isinstance(message, str) else str(message.toString())
        line = f"{self._stamp()} : {direction} : {mask_secrets(raw)}\n".encode()
        with self._lock:
            os.write(self._fd(session_id, key), line)

    def close(self) -> None:
        with self._lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()


def _scrub_buffer(buffer: mmap.mmap | bytearray, start: int) -> int:
    """Mask 554/925 values in the messages of ``buffer`` from ``start`` on; returns how many."""
    masked = 0
    for match in _SECRET_FIELD_BYTES.finditer(buffer, start):
        value_start, value_end = match.span(1)
        if value_end == value_start or buffer[value_start:value_end] == b"*" * (value_end - value_start):
            continue
        buffer[value_start:value_end] = b"*" * (value_end - value_start)
        masked += 1
        # the message's first byte: just after the previous message's CheckSum field, or 0
        message_start = 0
        for previous in _CHECKSUM.finditer(buffer, max(0, value_start - 65536), value_start):
            message_start = previous.end()
        trailer = _CHECKSUM.search(buffer, value_end)
        if trailer is None:
            continue
        checksum = sum(buffer[message_start : trailer.start() + 1]) % 256
        buffer[trailer.start(1) : trailer.end(1)] = b"%03d" % checksum
    return masked


def scrub_store_passwords(body: Path, start: int = 0) -> int:
    """Mask passwords in a FileStore ``.body`` file from byte ``start``; returns the size scanned to
    (pass it as ``start`` next time). Same length in place, CheckSum recomputed."""
    try:
        fd = os.open(body, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        if start > size:  # the store was reset (truncated): scan it all
            start = 0
        with mmap.mmap(fd, size) as buffer:
            # a Logon is far shorter than 64 KiB: look back that far for a message cut at ``start``
            if _scrub_buffer(buffer, max(0, start - 65536)):
                buffer.flush()
        return size
    finally:
        os.close(fd)


class StoreScrubber:
    """Remembers how far each session's ``.body`` was scanned, so each scrub reads only what is new."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        self._scanned: dict[Path, int] = {}
        self._lock = threading.Lock()

    def scrub_all(self) -> None:
        for body in sorted(self.store_dir.glob("*.body")):
            self._scrub(body)

    def scrub(self, session_id: fix.SessionID) -> None:
        self._scrub(self.store_dir / f"{session_prefix(session_id)}.body")

    def _scrub(self, body: Path) -> None:
        with self._lock:
            try:
                self._scanned[body] = scrub_store_passwords(body, self._scanned.get(body, 0))
            except OSError as exc:
                log.warning("fix.store_scrub_failed", file=str(body), error=str(exc))


class LoggingApplication(fix.Application):  # type: ignore[misc]
    """Passes every callback to ``inner`` unchanged, writing each message to ``messages`` (masked) and
    scrubbing the session's store after a Logon exchange and at logout. Exceptions from ``inner``
    propagate exactly as they would without the wrapper. Being QuickFIX's entry into Python, it keeps the
    engine threads' Python thread states (:mod:`fixsession.threads`)."""

    def __init__(self, inner: fix.Application, messages: MessageLog | None, scrubber: StoreScrubber) -> None:
        super().__init__()
        self.inner = inner
        self.messages = messages
        self.scrubber = scrubber
        self._counted = {"OUT": MessageCounter(inner, "out"), "IN ": MessageCounter(inner, "in")}
        # a SafeApplication takes the MsgType read here, so it need not read the message again (engine thread)
        self._typed_app_in = getattr(inner, "from_app_typed", None)
        self._typed_app_out = getattr(inner, "to_app_typed", None)

    def _log(self, session_id: fix.SessionID, direction: str, message: fix.Message) -> str | None:
        """Write the message to the log and count it: its wire text read once for both (one call into the
        binding per message instead of a ``toString`` and three header lookups). Returns its MsgType (None when
        the text could not be read)."""
        raw = self._text(message, direction)
        return self._write(session_id, direction, raw) if raw is not None else None

    def _text(self, message: fix.Message, direction: str) -> str | None:
        try:
            return str(message.toString())
        except Exception as exc:  # never into C++
            log.warning("fix.message_log_failed", error=str(exc))
            count_message(self.inner, "out" if direction == "OUT" else "in", message)
            return None

    def _write(self, session_id: fix.SessionID, direction: str, raw: str, key: str | None = None,
               kind: str | None = None) -> str:
        kind = wire_msg_type(raw) if kind is None else kind
        self._counted[direction].count(kind)  # h11-observability
        if self.messages is None:
            return kind
        try:
            self.messages.write(session_id, direction, raw, key)
        except Exception as exc:  # never into C++
            log.warning("fix.message_log_failed", error=str(exc))
        return kind

    def _scrub(self, session_id: fix.SessionID) -> None:
        try:
            self.scrubber.scrub(session_id)
        except Exception as exc:  # never into C++
            log.warning("fix.store_scrub_failed", error=str(exc))

    def onCreate(self, sessionID: fix.SessionID) -> None:
        hold_thread_state()
        self.inner.onCreate(sessionID)

    def onLogon(self, sessionID: fix.SessionID) -> None:
        hold_thread_state()
        self._scrub(sessionID)
        self.inner.onLogon(sessionID)

    def onLogout(self, sessionID: fix.SessionID) -> None:
        hold_thread_state()
        self._scrub(sessionID)
        self.inner.onLogout(sessionID)

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        hold_thread_state()
        self.inner.toAdmin(message, sessionID)
        self._log(sessionID, "OUT", message)

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        hold_thread_state()
        self._log(sessionID, "IN ", message)
        self.inner.fromAdmin(message, sessionID)

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        hold_thread_state()
        typed = self._typed_app_out
        if typed is None:
            self.inner.toApp(message, sessionID)  # DoNotSend propagates: such a message is not logged
            self._log(sessionID, "OUT", message)
            return
        # a SafeApplication is given the text read for the log (one read of the message, not three); the text is
        # read again only when it changed the message (a resent market data message made a gap fill)
        raw = self._text(message, "OUT")
        if raw is None:  # unreadable (never seen): the application still sees it, the log tries once more
            self.inner.toApp(message, sessionID)
            self._log(sessionID, "OUT", message)
            return
        kind = wire_msg_type(raw)
        if typed(message, sessionID, kind, raw):
            self._log(sessionID, "OUT", message)
        else:
            self._write(sessionID, "OUT", raw, kind=kind)

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        hold_thread_state()
        typed = self._typed_app_in
        if typed is None:
            self._log(sessionID, "IN ", message)
            self.inner.fromApp(message, sessionID)
            return
        # a SafeApplication is given the MsgType, the session key and the wire text read here (the loop's copy
        # keeps the text): each call into the binding saved is one chance fewer for the GIL to change hands
        raw = self._text(message, "IN ")
        if raw is None:
            self.inner.fromApp(message, sessionID)
            return
        key = session_key(sessionID)
        typed(message, sessionID, self._write(sessionID, "IN ", raw, key), key, raw)
