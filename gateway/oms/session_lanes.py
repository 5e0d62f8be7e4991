"""Each client session's requests, in arrival order, on one worker: consecutive NewOrderSingles that have
queued up are entered together (one transaction, one commit: group commit), everything else one by one.

The FIX bridge already keeps a session's order but awaits each handler; handing requests to this lane
returns at once, so a burst of orders can gather while the previous commit is under way. The session's
"handled" inbound MsgSeqNum (recovery) moves only once a request is done.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from gateway.oms.fix_codec import NewOrderCommand
from gateway.oms.session_days import NO_SESSION_START

log = structlog.get_logger(__name__)

__all__ = ["SessionLanes"]

NewBatch = Callable[[str, list[tuple[NewOrderCommand, datetime]]], Awaitable[object]]


@dataclass
class _Lane:
    queue: asyncio.Queue[tuple[object, int | None, datetime]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class SessionLanes:
    def __init__(self, new_orders: NewBatch, handled: Callable[[str, int, datetime], None],
                 batch_max: int = 128) -> None:
        self._new_orders = new_orders
        self._handled = handled
        self.batch_max = batch_max
        self._lanes: dict[str, _Lane] = {}

    def submit(self, session_id: str, request: object, seq: int | None,
               start: datetime = NO_SESSION_START) -> None:
        """``request``: a (NewOrderCommand, received) pair, or a coroutine function to run in turn; ``seq`` its
        inbound MsgSeqNum in the store that began at ``start`` (the session day, ``session_days``)."""
        lane = self._lanes.get(session_id)
        if lane is None:
            lane = self._lanes[session_id] = _Lane()
        lane.queue.put_nowait((request, seq, start))
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._run(session_id, lane), name=f"oms-session:{session_id}")

    async def _run(self, session_id: str, lane: _Lane) -> None:
        while not lane.queue.empty():
            request, seq, start = lane.queue.get_nowait()
            batch: list[tuple[NewOrderCommand, datetime]] = []
            last = seq
            if isinstance(request, tuple):
                batch.append(request)
                while len(batch) < self.batch_max and not lane.queue.empty():
                    peek = lane.queue._queue[0]  # type: ignore[attr-defined]  # asyncio.Queue keeps a deque
                    if not isinstance(peek[0], tuple):
                        break
                    more, last, start = lane.queue.get_nowait()
                    batch.append(more)  # type: ignore[arg-type]
            finished = False
            try:
                if batch:
                    await self._new_orders(session_id, batch)
                else:
                    await request()  # type: ignore[operator]
                finished = True
            except Exception:
                # a fault is logged and the lane goes on; the mark would pass this message with the session's
                # next one anyway (it keeps the highest MsgSeqNum handled)
                finished = True
                log.exception("oms.session_request_failed", session=session_id)
            finally:
                for _ in range(max(1, len(batch))):
                    lane.queue.task_done()
                # a lane cancelled mid-batch (entered or not, unknown) leaves the mark before it: after a
                # restart the client's messages come again and a ClOrdID entered already is answered as such
                if finished and last is not None:
                    self._handled(session_id, last, start)

    async def join(self) -> None:
        for lane in list(self._lanes.values()):
            await lane.queue.join()

    async def stop(self) -> None:
        for lane in self._lanes.values():
            if lane.task is not None:
                lane.task.cancel()
                with contextlib.suppress(BaseException):
                    await lane.task
