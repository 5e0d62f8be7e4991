"""QuickFIX thread → asyncio hand-off that never blocks the engine and keeps each session's order.

The engine thread copies the message and schedules it with ``loop.call_soon_threadsafe`` (FIFO, so
arrival order holds); on the loop each session has its own queue and one consumer task, so an
``async`` handler that awaits (a database transaction, say) still sees a session's messages one
after the other while different sessions proceed concurrently.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import quickfix as fix
import structlog

from fixsession.messages import copy_session_id, msg_type, session_key

log = structlog.get_logger(__name__)

Handler = Callable[[fix.SessionID, fix.Message], Awaitable[None] | None]


@dataclass
class _Lane:
    queue: asyncio.Queue[tuple[fix.SessionID, fix.Message]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class InboundBridge:
    """Delivers copies of inbound messages to ``handler`` on ``loop``, in order per session."""

    def __init__(self, loop: asyncio.AbstractEventLoop, handler: Handler, name: str = "fix") -> None:
        self.loop = loop
        self.handler = handler
        self.name = name
        self._lanes: dict[str, _Lane] = {}
        self.delivered = 0
        self.failed = 0
        self._pending: dict[str, int] = {}  # submitted, not yet handled (engine thread and loop)
        self._pending_lock = threading.Lock()

    def pending(self, key: str) -> int:
        """Messages of session ``key`` submitted and not yet handled (thread-safe)."""
        return self._pending.get(key, 0)

    def _count(self, key: str, delta: int) -> None:
        with self._pending_lock:
            left = self._pending.get(key, 0) + delta
            if left > 0:
                self._pending[key] = left
            else:
                self._pending.pop(key, None)

    # engine thread --------------------------------------------------------------------------
    def submit(self, session_id: fix.SessionID, message: fix.Message) -> bool:
        """Called on a QuickFIX thread; returns at once. False if the loop is gone (logged)."""
        try:
            owned_id, owned = copy_session_id(session_id), fix.Message(message)
            self._count(session_key(session_id), 1)
            self.loop.call_soon_threadsafe(self._enqueue, owned_id, owned)
            return True
        except RuntimeError:  # loop closed: shutting down
            self._count(session_key(session_id), -1)
            log.warning("fix.bridge_closed", app=self.name, session=session_key(session_id),
                        msg_type=msg_type(message))
            return False

    # event loop -----------------------------------------------------------------------------
    def _enqueue(self, session_id: fix.SessionID, message: fix.Message) -> None:
        key = session_key(session_id)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.queue.put_nowait((session_id, message))
        if lane.task is None or lane.task.done():
            lane.task = self.loop.create_task(self._drain(lane), name=f"fix-inbound:{key}")

    async def _drain(self, lane: _Lane) -> None:
        while not lane.queue.empty():
            session_id, message = lane.queue.get_nowait()
            try:
                result = self.handler(session_id, message)
                if inspect.isawaitable(result):
                    await result
                self.delivered += 1
            except Exception:
                self.failed += 1
                log.exception("fix.handler_failed", app=self.name, session=session_key(session_id),
                              msg_type=msg_type(message))
            finally:
                self._count(session_key(session_id), -1)
                lane.queue.task_done()

    async def join(self) -> None:
        """Wait until every message submitted so far has been handled."""
        while True:
            # let call_soon_threadsafe callbacks already scheduled run first
            await asyncio.sleep(0)
            pending = [lane.queue.join() for lane in self._lanes.values() if not lane.queue.empty()
                       or (lane.task is not None and not lane.task.done())]
            if not pending:
                return
            await asyncio.gather(*pending)
