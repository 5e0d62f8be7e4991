"""Event ids (ADR 037): UUIDv7, unique within and across processes, time-ordered within one."""

from __future__ import annotations

import os
import time
import uuid
from decimal import Decimal

from audit.events import AuditEvent, new_event_id


def test_ids_are_version_7_unique_and_ordered() -> None:
    ids = [new_event_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # time, then the counter: the outbox index grows at its right edge
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert all(uuid.UUID(str(i)) == i and hash(uuid.UUID(str(i))) == hash(i) for i in ids[:100])


def test_id_carries_the_time_in_ms() -> None:
    before = time.time_ns() // 1_000_000
    value = new_event_id().int >> 80
    assert before <= value <= time.time_ns() // 1_000_000


def test_a_forked_child_draws_its_own_prefix() -> None:
    read, write = os.pipe()
    parent = new_event_id()
    pid = os.fork()
    if pid == 0:  # the child: same counter state, new prefix
        os.write(write, new_event_id().bytes)
        os._exit(0)
    os.close(write)
    child = uuid.UUID(bytes=os.read(read, 16))
    os.waitpid(pid, 0)
    mine = new_event_id()
    assert _prefix(child) != _prefix(mine)
    assert _prefix(parent) == _prefix(mine)


def _prefix(event_id: uuid.UUID) -> tuple[int, int]:
    """The process's random prefix: rand_a (12 bits) and the low 28 bits of rand_b."""
    return event_id.int >> 64 & 0xFFF, event_id.int & 0xFFF_FFFF


def test_events_get_distinct_ids_and_payload_is_unchanged() -> None:
    a = AuditEvent("order.fill", account_id="A1", symbol="AAPL", qty=Decimal("2"), last_px=Decimal("1.50"),
                   bid=Decimal("1.49"), last=Decimal("1.5"), cl_ord_id="C1", extra={"venue_exec_id": "X"})
    b = AuditEvent("order.fill")
    assert a.event_id != b.event_id
    assert a.to_payload() == {"venue_exec_id": "X", "symbol": "AAPL", "cl_ord_id": "C1", "qty": "2",
                              "last_px": "1.50", "quote": {"bid": "1.49", "last": "1.5"}}
    assert b.to_payload() == {}
