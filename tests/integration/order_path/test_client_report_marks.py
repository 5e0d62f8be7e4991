"""The per-session "already sent" mark for client ExecutionReports never passes a report not yet sent.

Reports leave out of ``executions.seq`` order (several lanes); the persisted mark is the highest seq with no
unsent report of the session below it, so the resend after a crash covers every report a crash could have
swallowed.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import asyncpg
import quickfix as fix

from gateway.oms.links import ClientLink


async def _report(pool: asyncpg.Pool, n: int, session_id: str) -> int:
    fields = [[37, "O1"], [17, f"E{n}"], [150, "0"], [39, "0"]]
    seq: int = await pool.fetchval(
        "INSERT INTO executions (exec_id, order_id, account_id, exec_type, ord_status, symbol, side, cum_qty, "
        "leaves_qty, avg_px, transact_time, session_id, fix_fields) VALUES ($1, 'O1', 'A1', 'new', 'new', 'AAPL', "
        "'buy', 0, 10, 0, $2, $3, $4::jsonb) RETURNING seq", f"E{n}", datetime.now(UTC), session_id,
        json.dumps(fields))
    return seq


async def _seed(pool: asyncpg.Pool) -> None:
    await pool.execute("INSERT INTO accounts (account_id, account_type, owner_name) VALUES ('A1', 'cash', 'T')")
    await pool.execute(
        "INSERT INTO orders (order_id, account_id, session_id, cl_ord_id, symbol, side, ord_type, time_in_force, "
        "qty, price, status, leaves_qty) VALUES ('O1', 'A1', 'S1', 'C1', 'AAPL', 'buy', 'limit', 'day', 10, 10, "
        "'new', 10)")


def _link(sent: list[str]) -> ClientLink:
    def send(session: fix.SessionID, msg: fix.Message) -> bool:
        sent.append(msg.getField(17))
        return True
    return ClientLink(send, "BROKER")


async def test_mark_stops_below_a_report_not_yet_sent_and_the_resend_covers_it(db_pool: asyncpg.Pool) -> None:
    await _seed(db_pool)
    first, second, third = [await _report(db_pool, n, "S1") for n in (1, 2, 3)]
    other = await _report(db_pool, 4, "S2")
    sent: list[str] = []
    link = _link(sent)
    fields = [[37, "O1"], [17, "E3"], [150, "0"]]
    link.send("S1", "8", fields, third)  # a faster lane: the third report leaves first
    link.send("S1", "8", [[37, "O1"], [17, "E1"], [150, "0"]], first)
    link.send("S2", "8", [[37, "O1"], [17, "E4"], [150, "0"]], other)
    await link.save_marks(db_pool)
    marks = dict(await db_pool.fetch("SELECT session_id, last_seq FROM client_report_marks"))  # type: ignore[arg-type]
    assert marks == {"S1": first, "S2": other}
    # crash now: the second report never left; the resend after the restart sends it (and the third again)
    resent: list[str] = []
    assert await _link(resent).resend_unconfirmed(db_pool) == 2
    assert resent == ["E2", "E3"]
    assert await db_pool.fetchval("SELECT last_seq FROM client_report_marks WHERE session_id = 'S1'") == third
    # once the second is sent too, the mark moves past all three
    link.send("S1", "8", [[37, "O1"], [17, "E2"], [150, "0"]], second)
    await link.save_marks(db_pool)
    assert await db_pool.fetchval("SELECT last_seq FROM client_report_marks WHERE session_id = 'S1'") == third


async def test_mark_waits_below_a_report_still_being_committed(db_pool: asyncpg.Pool) -> None:
    await _seed(db_pool)
    first = await _report(db_pool, 1, "S1")
    link = ClientLink(lambda session, msg: True, "BROKER", gap_grace_seconds=0.3)
    link.send("S1", "8", [[17, "E1"]], first)
    async with db_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        # a lane drew the next seq and has not committed yet; a faster lane commits and sends the one after
        await conn.execute(
            "INSERT INTO executions (exec_id, order_id, account_id, exec_type, ord_status, symbol, side, cum_qty, "
            "leaves_qty, avg_px, transact_time, session_id, fix_fields) VALUES ('E2', 'O1', 'A1', 'new', 'new', "
            "'AAPL', 'buy', 0, 10, 0, now(), 'S1', '[]'::jsonb)")
        third = await _report(db_pool, 3, "S1")
        link.send("S1", "8", [[17, "E3"]], third)
        await link.save_marks(db_pool)
        assert await db_pool.fetchval("SELECT last_seq FROM client_report_marks WHERE session_id = 'S1'") == first
        await tx.rollback()  # it never commits: once the gap has stayed empty for the grace, the mark passes it
    await link.save_marks(db_pool)
    assert await db_pool.fetchval("SELECT last_seq FROM client_report_marks WHERE session_id = 'S1'") == first
    await asyncio.sleep(0.35)
    await link.save_marks(db_pool)
    assert await db_pool.fetchval("SELECT last_seq FROM client_report_marks WHERE session_id = 'S1'") == third
