"""The quickfix-thread → asyncio hand-off: per-session order, sessions independent, errors contained."""

from __future__ import annotations

import asyncio
import random
import threading

import quickfix as fix

from fixsession.bridge import InboundBridge
from fixsession.messages import session_key


def news(number: int) -> fix.Message:
    message = fix.Message()
    message.getHeader().setField(fix.MsgType("B"))
    message.getHeader().setField(fix.MsgSeqNum(number))
    message.setField(fix.Headline(str(number)))
    return message


async def test_each_session_keeps_its_order_even_with_awaiting_handlers() -> None:
    loop = asyncio.get_running_loop()
    received: dict[str, list[int]] = {}
    rng = random.Random(7)

    async def handler(session_id: fix.SessionID, message: fix.Message) -> None:
        await asyncio.sleep(rng.random() / 1000)  # interleave sessions at every step
        received.setdefault(session_id.toString(), []).append(int(message.getField(148)))

    bridge = InboundBridge(loop, handler)
    sessions = [fix.SessionID("FIX.4.4", "BROKER", f"C{i}") for i in range(3)]

    def engine_thread() -> None:  # the way QuickFIX calls: from its own thread, never waiting
        for number in range(1, 151):
            for session_id in sessions:
                bridge.submit(session_id, news(number))

    worker = threading.Thread(target=engine_thread)
    worker.start()
    await asyncio.to_thread(worker.join)
    await asyncio.wait_for(bridge.join(), 10)
    assert received == {s.toString(): list(range(1, 151)) for s in sessions}
    assert bridge.delivered == 450 and bridge.failed == 0


async def test_a_slow_session_does_not_hold_up_another() -> None:
    loop = asyncio.get_running_loop()
    release = asyncio.Event()
    seen: list[str] = []

    async def handler(session_id: fix.SessionID, message: fix.Message) -> None:
        if session_id.getTargetCompID().getValue() == "SLOW":
            await release.wait()
        seen.append(session_id.getTargetCompID().getValue())
        if session_id.getTargetCompID().getValue() == "FAST":
            release.set()

    bridge = InboundBridge(loop, handler)
    bridge.submit(fix.SessionID("FIX.4.4", "BROKER", "SLOW"), news(1))
    bridge.submit(fix.SessionID("FIX.4.4", "BROKER", "FAST"), news(1))
    await asyncio.wait_for(bridge.join(), 5)
    assert seen == ["FAST", "SLOW"]


async def test_a_failing_handler_loses_only_that_message() -> None:
    loop = asyncio.get_running_loop()
    handled: list[int] = []

    def handler(session_id: fix.SessionID, message: fix.Message) -> None:  # plain functions work too
        number = int(message.getField(148))
        if number == 2:
            raise RuntimeError("boom")
        handled.append(number)

    bridge = InboundBridge(loop, handler)
    session_id = fix.SessionID("FIX.4.4", "BROKER", "C1")
    for number in (1, 2, 3):
        bridge.submit(session_id, news(number))
    await asyncio.wait_for(bridge.join(), 5)
    assert handled == [1, 3]
    assert (bridge.delivered, bridge.failed) == (2, 1)


async def test_messages_are_private_copies() -> None:
    loop = asyncio.get_running_loop()
    got: list[str] = []
    bridge = InboundBridge(loop, lambda sid, message: got.append(message.getField(148)))
    original = news(1)
    bridge.submit(fix.SessionID("FIX.4.4", "BROKER", "C1"), original)
    original.setField(fix.Headline("changed by the engine afterwards"))
    await bridge.join()
    assert got == ["1"]


def test_submit_after_the_loop_closed_is_refused_quietly() -> None:
    loop = asyncio.new_event_loop()
    bridge = InboundBridge(loop, lambda sid, message: None)
    loop.close()
    assert bridge.submit(fix.SessionID("FIX.4.4", "BROKER", "C1"), news(1)) is False


async def test_pending_counts_what_was_submitted_and_not_yet_handled() -> None:
    loop = asyncio.get_running_loop()
    gate = asyncio.Event()

    async def handler(_session_id: fix.SessionID, _message: fix.Message) -> None:
        await gate.wait()

    bridge = InboundBridge(loop, handler)
    slow, other = fix.SessionID("FIX.4.4", "BROKER", "SLOW"), fix.SessionID("FIX.4.4", "BROKER", "OTHER")
    for number in range(5):
        bridge.submit(slow, news(number))
    bridge.submit(other, news(1))
    assert bridge.pending(slow.toString()) == 5 and bridge.pending(other.toString()) == 1
    await asyncio.sleep(0.01)
    assert bridge.pending(slow.toString()) == 5  # one in the handler, four queued: none handled yet
    gate.set()
    await bridge.join()
    assert bridge.pending(slow.toString()) == 0 and bridge.pending(other.toString()) == 0
    assert bridge.delivered == 6


async def test_a_burst_wakes_the_loop_once_and_keeps_one_session_id_per_session() -> None:
    loop = asyncio.get_running_loop()
    got: list[tuple[fix.SessionID, int]] = []
    bridge = InboundBridge(loop, lambda sid, message: got.append((sid, int(message.getField(148)))))
    wakeups = 0
    original = loop.call_soon_threadsafe

    def counting(callback, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal wakeups
        wakeups += 1
        return original(callback, *args, **kwargs)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
    try:
        engine_id = fix.SessionID("FIX.4.4", "BROKER", "C1")

        def engine_thread() -> None:
            for number in range(1, 101):
                bridge.submit(engine_id, news(number))

        engine = threading.Thread(target=engine_thread)
        engine.start()
        engine.join()  # the loop is held here, as when busy with a batch: the whole burst lands in the inbox
        await asyncio.wait_for(bridge.join(), 5)
    finally:
        loop.call_soon_threadsafe = original  # type: ignore[method-assign]
    assert [number for _, number in got] == list(range(1, 101))
    assert wakeups == 1
    assert len({id(sid) for sid, _ in got}) == 1 and got[0][0] is not engine_id
    assert got[0][0].toString() == engine_id.toString()


async def test_the_session_id_handed_to_the_loop_knows_its_key_without_asking_the_engine() -> None:
    """The loop reads a session's key from every message's SessionID (the acceptor's client look-up, the order
    service's client id): the bridge's copy carries it, the engine's own SessionID does not."""
    loop = asyncio.get_running_loop()
    got: list[fix.SessionID] = []
    bridge = InboundBridge(loop, lambda sid, message: got.append(sid))
    engine_id = fix.SessionID("FIX.4.4", "BROKER", "C1", "Q1")
    bridge.submit(engine_id, news(1))
    await bridge.join()
    [owned] = got
    assert owned is not engine_id and getattr(engine_id, "fixsession_key", None) is None
    assert getattr(owned, "fixsession_key", None) == str(engine_id.toString()) == "FIX.4.4:BROKER->C1:Q1"
    assert session_key(owned) == session_key(engine_id) == "FIX.4.4:BROKER->C1:Q1"
