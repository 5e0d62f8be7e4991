"""The venue state behind its journal: every command is applied, logged, and its reports held back until the
batch holding it is on disk (write-ahead, group commit). See ``exchange.state`` (what a command is) and
``exchange.journal`` (files, fsync policy, snapshots).

Start-up: the newest snapshot plus the log after it are replayed through the same ``apply`` the live venue
uses, so the books, the ClOrdID maps, the ExecID counter and the market makers come back exactly as they
were after the last command that was committed (and no report of a later command was ever sent). The very
first start writes a snapshot of the fresh state at once, so a replay never depends on the options the
exchange happens to be started with next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from exchange.journal import Journal
from exchange.state import Command, Result, VenueState, apply

log = structlog.get_logger(__name__)


def apply_logged(state: VenueState, command: Command) -> Result:
    """``apply``, with a failing command logged and skipped -- identically live and in replay (the command
    is journaled either way, so replay repeats whatever part of it took effect)."""
    try:
        return apply(state, command)
    except Exception:
        log.exception("exchange.command_failed", op=command.get("op"))
        state.applied += 1
        return Result()


@dataclass
class Started:
    durable: DurableVenue
    restored: bool  # state came from the journal (False: a fresh market)
    replayed: int  # commands replayed after the snapshot
    torn_bytes: int


class DurableVenue:
    def __init__(self, journal: Journal, state: VenueState) -> None:
        self.journal = journal
        self.state = state
        self._sends: list[Callable[[], object]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    @classmethod
    def open(cls, journal: Journal, fresh: Callable[[], VenueState]) -> Started:
        recovered = journal.recover()
        state = recovered.snapshot
        if not isinstance(state, VenueState):
            if recovered.records:
                log.error("exchange.journal_without_snapshot", records=len(recovered.records))
            state = fresh()
            durable = cls(journal, state)
            journal.snapshot_now(state)  # genesis: replay never starts from the options of a later run
            return Started(durable, False, 0, recovered.torn_bytes)
        started = time.perf_counter()
        for command in recovered.records:
            apply_logged(state, command)
        journal.replay_seconds = time.perf_counter() - started  # the log replayed now is replayed again next time
        return Started(cls(journal, state), True, len(recovered.records), recovered.torn_bytes)

    # Commands ------------------------------------------------------------------------------------------
    def execute(self, command: Command, deliver: Callable[[Result], object] | None = None) -> Result:
        """Apply and log ``command``; ``deliver(result)`` runs once it is committed (reports go out then)."""
        started = time.perf_counter()
        result = apply_logged(self.state, command)
        self.journal.append(command, time.perf_counter() - started)
        if deliver is not None:
            self._sends.append(lambda: deliver(result))
        self._wake.set()
        return result

    # Group commit -------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._committer(), name="exchange-journal")

    async def _committer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._busy = True
            while self.journal.pending or self._sends:
                sends, self._sends = self._sends, []
                await self.journal.commit()
                self._run(sends)
                if self.journal.snapshot_due:
                    sends, self._sends = self._sends, []
                    await self.journal.snapshot(self.state)  # covers what was buffered meanwhile
                    self._run(sends)
            self._busy = False

    @staticmethod
    def _run(sends: list[Callable[[], object]]) -> None:
        for send in sends:
            try:
                send()
            except Exception:
                log.exception("exchange.send_failed")

    async def flush(self) -> None:
        """Wait until everything applied so far is committed and its reports handed over."""
        self._wake.set()
        for _ in range(500):
            if not (self._busy or self.journal.pending or self._sends) or self._task is None or self._task.done():
                return
            await asyncio.sleep(0.01)

    async def close(self, snapshot: bool = True) -> None:
        """Commit what is buffered, send its reports, and (clean shutdown) write a snapshot."""
        if self._task is not None:
            await self.flush()  # the committer finishes its batch (its reports go out with it)
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        sends, self._sends = self._sends, []
        self.journal.commit_now()
        self._run(sends)
        if snapshot:
            self.journal.snapshot_now(self.state)
        self.journal.close()
