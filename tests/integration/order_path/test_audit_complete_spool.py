"""The audit spool: events appended (fsync'd) land in the outbox exactly once, whatever moment a crash or an
outage interrupts the replay; a line torn by a crash mid-write is skipped."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from audit.events import AuditEvent
from gateway.oms.audit_spool import AuditSpool


async def _ids(pool: asyncpg.Pool) -> list[str]:
    return [str(r["event_id"]) for r in await pool.fetch("SELECT event_id FROM outbox ORDER BY seq")]


async def test_spooled_events_land_once_across_crashes_and_outages(db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    spool = AuditSpool(tmp_path / "audit-spool")
    events = [AuditEvent("order.rejected", account_id="A1", actor="fix:CLIENT1", cl_ord_id=f"C{n}",
                         rule="database_unavailable", reason="down") for n in range(3)]
    for e in events[:2]:
        spool.append(e)
    assert spool.pending() == 2

    # PostgreSQL unreachable: nothing is lost, the events stay spooled
    down = await asyncpg.create_pool("postgresql://nobody@127.0.0.1:1/none", min_size=0, max_size=1)
    with pytest.raises(OSError):
        await spool.replay(down)
    await down.close()
    spool.append(events[2])  # appended meanwhile, next to the file being replayed
    assert spool.pending() == 3

    assert await spool.replay(db_pool) == 3
    assert await _ids(db_pool) == [str(e.event_id) for e in events]
    assert spool.pending() == 0

    # a crash after the insert but before the file was removed: the replay comes again, nothing doubles
    spool.append(events[0])
    spool.append(events[1])
    assert await spool.replay(db_pool) == 0
    assert len(await _ids(db_pool)) == 3

    # a line torn by a crash mid-write is skipped; the complete ones land
    late = AuditEvent("session.logon", actor="fix:CLIENT2")
    spool.append(late)
    with spool.path.open("ab") as out:
        out.write(b'{"event_id": "torn')
    assert await spool.replay(db_pool) == 1
    assert (await _ids(db_pool))[-1] == str(late.event_id)
    payload = await db_pool.fetchval("SELECT payload->>'actor' FROM outbox WHERE event_id = $1", late.event_id)
    assert payload == "fix:CLIENT2"
