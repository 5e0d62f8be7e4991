"""The exchange's write-ahead journal: append-only command log + periodic snapshots (the I/O adapter).

Layout under ``<data_dir>/exchange/journal/``:

* ``snapshot-<k>.pickle`` -- the whole ``VenueState`` after the first ``k`` commands (pickle of the pure
  state; a local file the exchange itself wrote, never read from anywhere else);
* ``journal-<k>.log`` -- the commands applied after that snapshot, one per line:
  ``<crc32 hex> <json>\\n``. A torn or corrupt tail (a crash in the middle of a write) ends the log: it is
  cut off at the last whole record at start-up.

Group commit: ``append`` only buffers; ``commit`` writes everything buffered with ONE ``write`` and ONE
``fsync`` (in a worker thread, so the event loop keeps taking commands for the next batch meanwhile). The
server sends a command's reports only after the batch holding the command is committed (write-ahead), so
no FIX session ever sees an ExecID the journal could lose. ``fsync=False`` (tests, benches) still writes
every batch to the OS before the reports go out (survives a process kill, not a power loss).

Snapshots: once ``snapshot_every`` commands are in the current log, or ``snapshot_seconds`` have passed
(replaying a simulation step of the whole universe costs tens of milliseconds), ``snapshot`` writes the state to a new
``snapshot-<k>.pickle`` (temporary file, fsync, rename, directory fsync), starts ``journal-<k>.log`` and
deletes the older snapshots and logs: start-up replays at most ``snapshot_every`` commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import structlog

log = structlog.get_logger(__name__)

_SNAPSHOT = re.compile(r"^snapshot-(\d+)\.pickle$")


def encode(record: dict[str, Any]) -> bytes:
    """One log line. orjson: the same compact, key-sorted JSON as ``json.dumps(separators=(",", ":"),
    sort_keys=True)`` except non-ASCII text as UTF-8 rather than ``\\u`` escapes (``json.loads`` reads both);
    several times cheaper per command (ADR 032)."""
    try:
        body = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # what orjson refuses (a lone surrogate, an int past 64 bits): the stdlib
        body = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def decode(line: bytes) -> dict[str, Any] | None:
    """The record of one whole line, or None when the line is torn or corrupt."""
    if not line.endswith(b"\n") or len(line) < 10 or line[8:9] != b" ":
        return None
    body = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


@dataclass
class Recovered:
    snapshot: Any | None  # the unpickled state of the newest readable snapshot, None if there is none
    records: list[dict[str, Any]]  # the commands logged after it, in order
    position: int  # k of the snapshot the records follow
    torn_bytes: int = 0  # what was cut off the end of the log


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    def __init__(self, directory: Path, *, fsync: bool = True, snapshot_every: int = 20_000,
                 snapshot_seconds: float = 30.0, snapshot_cost_ratio: float = 0.0) -> None:
        self.directory = directory
        self.fsync = fsync
        self.snapshot_every = snapshot_every
        self.snapshot_seconds = snapshot_seconds
        # a snapshot is also held back until replaying the log since the last one would cost this many times
        # what pickling the last one cost (0: off); see ``snapshot_due``
        self.snapshot_cost_ratio = snapshot_cost_ratio
        self.replay_seconds = 0.0  # what applying the commands in the current log cost (a replay's cost)
        self.snapshot_cost = 0.0  # what pickling the last snapshot cost
        self._snapshot_at = time.monotonic()
        self.position = 0  # k of the current snapshot / log
        self.in_log = 0  # records in the current log (committed or buffered)
        self._buffer: list[bytes] = []
        self._file: Any = None
        self.batches = 0
        self.records = 0

    # Start-up ------------------------------------------------------------------------------------
    def _snapshots(self) -> Iterator[tuple[int, Path]]:
        found = [(int(m.group(1)), p) for p in self.directory.glob("snapshot-*.pickle")
                 if (m := _SNAPSHOT.match(p.name))]
        return iter(sorted(found, reverse=True))

    def recover(self) -> Recovered:
        """Read the newest readable snapshot and the log after it; cuts a torn tail off. Opens the log."""
        self.directory.mkdir(parents=True, exist_ok=True)
        state, position = None, 0
        for k, path in self._snapshots():
            try:
                state = pickle.loads(path.read_bytes())  # our own file (module docstring)
                position = k
                break
            except Exception:
                log.exception("exchange.snapshot_unreadable", path=str(path))
        records: list[dict[str, Any]] = []
        path = self._log_path(position)
        good, torn = 0, 0
        if path.exists():
            with path.open("rb") as f:
                for line in f:
                    record = decode(line)
                    if record is None:
                        break
                    records.append(record)
                    good += len(line)
            torn = path.stat().st_size - good
            if torn:
                log.warning("exchange.journal_torn_tail", path=str(path), cut_bytes=torn, kept=len(records))
                with path.open("r+b") as f:
                    f.truncate(good)
        self.position, self.in_log = position, len(records)
        self._open()
        return Recovered(state, records, position, torn)

    def _log_path(self, k: int) -> Path:
        return self.directory / f"journal-{k}.log"

    def _open(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = self._log_path(self.position).open("ab")
        if self.fsync:
            _fsync_dir(self.directory)

    # Running ---------------------------------------------------------------------------------------
    def append(self, record: dict[str, Any], cost: float = 0.0) -> None:
        """Buffer ``record``; ``cost``: the seconds applying it took (what replaying it will take)."""
        self._buffer.append(encode(record))
        self.in_log += 1
        self.replay_seconds += cost

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def take(self) -> bytes:
        data = b"".join(self._buffer)
        self.records += len(self._buffer)
        self._buffer.clear()
        return data

    async def commit(self) -> None:
        """Write and sync every buffered record (one batch). Records appended meanwhile wait for the next."""
        data = self.take()
        if data:
            self.batches += 1
            await asyncio.to_thread(self._write, data)

    def commit_now(self) -> None:
        """``commit`` on the calling thread (shutdown)."""
        data = self.take()
        if data:
            self.batches += 1
            self._write(data)

    @property
    def snapshot_due(self) -> bool:
        """``snapshot_every`` commands or ``snapshot_seconds`` since the last snapshot, and (with a
        ``snapshot_cost_ratio``) a replay of the log that would cost at least that ratio of what the last
        snapshot cost to pickle. The venue keeps every session order and fill, so a snapshot grows with the
        day's orders while a log of ``snapshot_every`` commands does not: pickling the whole state every 30 s
        would soon cost more than the orders themselves (ADR 032). With the ratio, snapshot CPU stays at most
        1/ratio of the commands' own, and a start-up replays at most about ratio × one snapshot's cost (about
        what reading the snapshot itself costs), or the fixed bounds when the state is small."""
        fixed = self.in_log >= self.snapshot_every or (
            self.in_log > 0 and time.monotonic() - self._snapshot_at >= self.snapshot_seconds)
        return fixed and self.replay_seconds >= self.snapshot_cost_ratio * self.snapshot_cost

    def start_snapshot(self, state: Any) -> tuple[int, bytes, int]:
        """Pickle ``state``, which must hold every record appended so far, buffered ones included (the
        snapshot covers them: they are dropped from the buffer once it is on disk)."""
        started = time.perf_counter()
        data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        self.snapshot_cost = time.perf_counter() - started
        return self.position + self.in_log, data, len(self._buffer)

    def write_snapshot_file(self, k: int, data: bytes) -> None:
        scratch = self.directory / f"snapshot-{k}.tmp"
        with scratch.open("wb") as f:
            f.write(data)
            f.flush()
            if self.fsync:
                os.fsync(f.fileno())
        os.replace(scratch, self.directory / f"snapshot-{k}.pickle")

    def switch_log(self, k: int, size: int, covered: int) -> None:
        """After ``snapshot-<k>`` is on disk: the ``covered`` buffered records are in it; later ones go to
        ``journal-<k>.log``; older snapshots and logs are deleted."""
        old = self.position
        self._snapshot_at = time.monotonic()
        del self._buffer[:covered]
        self.position, self.in_log = k, len(self._buffer)
        self.replay_seconds = 0.0  # the few records buffered meanwhile: not worth tracking
        self._open()  # fsyncs the directory: the snapshot's rename and the new log are durable
        for stale, path in list(self._snapshots()):
            if stale < k:
                path.unlink(missing_ok=True)
        for path in self.directory.glob("journal-*.log"):
            if path.name != self._log_path(k).name:
                path.unlink(missing_ok=True)
        log.info("exchange.snapshot_written", position=k, bytes=size, previous=old)

    async def snapshot(self, state: Any) -> None:
        """Snapshot between two batches (the caller's committer runs nothing else meanwhile)."""
        k, data, covered = self.start_snapshot(state)
        await asyncio.to_thread(self.write_snapshot_file, k, data)
        self.switch_log(k, len(data), covered)

    def snapshot_now(self, state: Any) -> None:
        k, data, covered = self.start_snapshot(state)
        self.write_snapshot_file(k, data)
        self.switch_log(k, len(data), covered)

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
