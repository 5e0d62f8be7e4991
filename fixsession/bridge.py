"""QuickFIX thread → asyncio hand-off that never blocks the engine and keeps each session's order.

The engine thread copies the message into an inbox and wakes the loop only when the inbox was empty: a
burst of messages costs one ``loop.call_soon_threadsafe`` (one write to the loop's self-pipe) instead of
one per message. On the loop each session has its own lane (a deque) and one consumer task, so an
``async`` handler that awaits (a database transaction, say) still sees a session's messages one after
the other while different sessions proceed concurrently; arrival order holds (the inbox and each lane
are FIFO). The SessionID a handler gets carries its session's key (``fixsession.messages.copy_session_id``),
and the message the wire text its caller had already read (``submit``'s ``text``: the message log's read,
ADR 057), so reading either on the loop needs no call into the binding. The text is never read here for that:
a call into the binding on an engine thread can leave that thread waiting for the loop to give the GIL back
(docs/perf/order-path-cpu.md).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import quickfix as fix
import structlog

from fixsession.messages import carry, copy_session_id, keep_text, msg_type, session_key

log = structlog.get_logger(__name__)

Handler = Callable[[fix.SessionID, fix.Message], Awaitable[None] | None]

_Item = tuple[str, fix.SessionID, fix.Message]  # session key, owned SessionID, owned message copy


@dataclass
class _Lane:
    queue: deque[_Item] = field(default_factory=deque)
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
        self._pending_lock = threading.Lock()  # guards _pending, _inbox and _scheduled
        self._inbox: deque[_Item] = deque()  # submitted, not yet on a lane
        self._scheduled = False  # a call to _take_inbox is on its way to the loop
        # one owned SessionID per session, handed with every message of it (the engine's own object is only
        # valid during its callback; a session's copy never changes, so one is enough)
        self._ids: dict[str, fix.SessionID] = {}

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
    def submit(self, session_id: fix.SessionID, message: fix.Message, key: str | None = None,
               extra: Mapping[int, str] | None = None, text: str | None = None) -> bool:
        """Called on a QuickFIX thread; returns at once. False if the loop is gone (logged). ``key``: the
        session's ``session_key`` when the caller has it already; ``extra``: fields the loop's copy carries
        beside its own (``fixsession.messages.carried``); ``text``: the message's wire text when the caller has
        read it already (the message log has), kept by the copy (``fixsession.messages.wire_text``)."""
        key = key or session_key(session_id)
        if self.loop.is_closed():
            return self._closed(key, message)
        owned_id = self._ids.get(key)
        if owned_id is None:
            owned_id = self._ids[key] = copy_session_id(session_id)
        copy = fix.Message(message)
        if extra:
            carry(copy, extra)
        if text is not None:
            keep_text(copy, text)
        item = (key, owned_id, copy)
        with self._pending_lock:
            self._pending[key] = self._pending.get(key, 0) + 1
            self._inbox.append(item)
            if self._scheduled:
                return True  # the loop has been woken already and will take this one too
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._take_inbox)
            return True
        except RuntimeError:  # loop closed meanwhile: shutting down
            with self._pending_lock:
                self._scheduled = False
                if item in self._inbox:
                    self._inbox.remove(item)
            self._count(key, -1)
            return self._closed(key, message)

    def _closed(self, key: str, message: fix.Message) -> bool:
        log.warning("fix.bridge_closed", app=self.name, session=key, msg_type=msg_type(message))
        return False

    # event loop -----------------------------------------------------------------------------
    def _take_inbox(self) -> None:
        with self._pending_lock:
            items, self._inbox = self._inbox, deque()
            self._scheduled = False
        lanes = self._lanes
        for item in items:
            lane = lanes.get(item[0])
            if lane is None:
                lane = lanes[item[0]] = _Lane()
            lane.queue.append(item)
            if lane.task is None or lane.task.done():
                lane.task = self.loop.create_task(self._drain(lane), name=f"fix-inbound:{item[0]}")

    async def _drain(self, lane: _Lane) -> None:
        queue = lane.queue
        while queue:
            key, session_id, message = queue.popleft()
            try:
                result = self.handler(session_id, message)
                if inspect.isawaitable(result):
                    await result
                self.delivered += 1
            except Exception:
                self.failed += 1
                log.exception("fix.handler_failed", app=self.name, session=key, msg_type=msg_type(message))
            finally:
                self._count(key, -1)

    async def join(self) -> None:
        """Wait until every message submitted so far has been handled."""
        while True:
            # let call_soon_threadsafe callbacks already scheduled run first
            await asyncio.sleep(0)
            busy = [lane.task for lane in self._lanes.values() if lane.task is not None and not lane.task.done()]
            if busy:
                await asyncio.wait(busy)
            elif not self._inbox:
                return
