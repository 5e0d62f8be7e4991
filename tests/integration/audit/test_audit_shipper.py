"""The shipper on real PostgreSQL + chdb: exactly once (restart mid-batch included), ClickHouse outages,
pseudonymisation and forgetting, malformed payloads, chain verification of the stored trail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from audit import metrics
from audit import shipper as shipper_module
from audit.chdb_sink import ChdbSink
from audit.events import AuditEvent
from audit.outbox import append_event, backlog, purge_shipped
from audit.pseudonyms import PseudonymStore
from audit.reports import ReportRequest, run_report
from audit.retention import RetentionPolicy
from audit.shipper import Shipper, ShipperConfig
from audit.sink import QueryResult, SinkUnavailable, verify_trail

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


async def seed_accounts(pool: asyncpg.Pool, *accounts: str) -> None:
    for account in accounts:
        await pool.execute(
            "INSERT INTO accounts (account_id, account_type, owner_name) VALUES ($1, 'cash', 'Jane Doe') "
            "ON CONFLICT DO NOTHING", account)


async def append(pool: asyncpg.Pool, n: int, start: int = 0, accounts: Sequence[str] = ("ACC1", "ACC2")) -> None:
    await seed_accounts(pool, *accounts)
    async with pool.acquire() as conn, conn.transaction():
        for i in range(start, start + n):
            await append_event(conn, AuditEvent(
                "order.fill", account_id=accounts[i % len(accounts)], symbol="AAPL", side="buy",
                last_qty=Decimal(1 + i), last_px=Decimal("50.25"), order_id=f"O{i}", exec_id=f"X{i}",
                occurred_at=T0 + timedelta(seconds=i), actor="fix:CLIENT1"))


async def drain(shipper: Shipper) -> None:
    while await shipper.ship_once():
        pass


def count(sink: ChdbSink, where: str = "1") -> tuple[int, int]:
    """(rows, distinct event ids) actually stored, without FINAL."""
    n, distinct = sink.query(f"SELECT count(), uniqExact(event_id) FROM audit_events WHERE {where}").rows[0]
    return int(n), int(distinct)


class CrashAfterInsert:
    """The real sink, but the process 'dies' right after the insert lands (before the outbox is marked)."""

    def __init__(self, sink: ChdbSink) -> None:
        self.sink = sink

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.sink.insert(rows)
        raise KeyboardInterrupt("killed between the ClickHouse insert and the outbox mark")

    def insert_columns(self, columns: Mapping[str, Sequence[Any]]) -> None:
        self.sink.insert_columns(columns)
        raise KeyboardInterrupt("killed between the ClickHouse insert and the outbox mark")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        return self.sink.query(sql, params)

    def ensure_schema(self, policy: RetentionPolicy) -> None: ...

    def close(self) -> None: ...


class Down(CrashAfterInsert):
    def insert(self, rows: Sequence[Mapping[str, Any]]) -> None:
        raise SinkUnavailable("Connection refused")

    def insert_columns(self, columns: Mapping[str, Sequence[Any]]) -> None:
        raise SinkUnavailable("Connection refused")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        raise SinkUnavailable("Connection refused")


async def test_ships_every_event_once_pseudonymised_and_chained(db_pool: asyncpg.Pool, chdb_sink: ChdbSink) -> None:
    await append(db_pool, 25)
    shipper = Shipper(db_pool, chdb_sink, ShipperConfig(batch_size=10))
    await drain(shipper)
    assert count(chdb_sink) == (25, 25)
    assert (await backlog(db_pool)).pending == 0
    names = await PseudonymStore(db_pool).resolve(["ACC1", "ACC2"])
    assert count(chdb_sink, "account IN ('ACC1', 'ACC2') OR position(payload, 'ACC') > 0") == (0, 0)
    assert count(chdb_sink, f"account = '{names['ACC1']}'") == (13, 13)
    stream_lengths = dict(chdb_sink.query("SELECT stream, max(stream_seq) FROM audit_events GROUP BY stream").rows)
    assert stream_lengths == {names["ACC1"]: 13, names["ACC2"]: 12}
    assert verify_trail(chdb_sink) == (25, None)


async def test_burst_pipelines_batches_and_crashes_safely(db_pool: asyncpg.Pool, chdb_sink: ChdbSink) -> None:
    await append(db_pool, 25)
    assert await Shipper(db_pool, chdb_sink, ShipperConfig(batch_size=10)).ship_burst(max_batches=2) == 20
    crashing = Shipper(db_pool, CrashAfterInsert(chdb_sink), ShipperConfig(batch_size=3))
    await append(db_pool, 10, start=25)
    with pytest.raises(KeyboardInterrupt):
        await crashing.ship_burst()
    await Shipper(db_pool, chdb_sink, ShipperConfig(batch_size=4)).ship_burst(max_batches=100)
    assert count(chdb_sink) == (35, 35)
    assert (await backlog(db_pool)).pending == 0
    assert verify_trail(chdb_sink) == (35, None)


@pytest.mark.parametrize("restart_batch", [10, 4])
async def test_exactly_once_across_a_restart_mid_batch(
    db_pool: asyncpg.Pool, chdb_sink: ChdbSink, restart_batch: int
) -> None:
    await append(db_pool, 15)
    crashing = Shipper(db_pool, CrashAfterInsert(chdb_sink), ShipperConfig(batch_size=10))
    with pytest.raises(KeyboardInterrupt):
        await crashing.ship_once()
    assert count(chdb_sink) == (10, 10)  # in ClickHouse...
    assert (await backlog(db_pool)).pending == 15  # ...not marked
    await append(db_pool, 5, start=15)  # traffic continues while the shipper is down

    restarted = Shipper(db_pool, chdb_sink, ShipperConfig(batch_size=restart_batch))
    skipped_before = metrics.DUPLICATES_SKIPPED._value.get()
    await drain(restarted)
    assert count(chdb_sink) == (20, 20)
    assert metrics.DUPLICATES_SKIPPED._value.get() - skipped_before == 10
    assert (await backlog(db_pool)).pending == 0
    assert verify_trail(chdb_sink) == (20, None)


async def test_keeps_working_while_clickhouse_is_down(db_pool: asyncpg.Pool, chdb_sink: ChdbSink) -> None:
    await append(db_pool, 5)
    shipper = Shipper(db_pool, Down(chdb_sink), ShipperConfig(batch_size=100, flush_interval=0.02, max_backoff=0.05))
    stop = asyncio.Event()
    errors_before = metrics.SHIP_ERRORS._value.get()
    task = asyncio.create_task(shipper.run(stop))
    await asyncio.sleep(0.3)
    await append(db_pool, 5, start=5)  # the outbox grows meanwhile
    await asyncio.sleep(1.2)
    assert not task.done()
    assert metrics.SHIP_ERRORS._value.get() > errors_before
    state = await backlog(db_pool)
    assert state.pending == 10
    assert metrics.OUTBOX_PENDING._value.get() >= 5 and metrics.OUTBOX_LAG._value.get() > 0

    shipper.sink = chdb_sink  # ClickHouse is back
    for _ in range(100):
        if (await backlog(db_pool)).pending == 0:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert count(chdb_sink) == (10, 10)
    assert verify_trail(chdb_sink) == (10, None)


async def test_malformed_payload_is_shipped_not_lost(db_pool: asyncpg.Pool, chdb_sink: ChdbSink) -> None:
    await db_pool.execute(
        "INSERT INTO outbox (event_id, event_type, account_id, payload) VALUES "
        "(gen_random_uuid(), 'Weird Type', NULL, '{\"qty\": \"ten\", \"symbol\": \"AAPL\"}'::jsonb),"
        "(gen_random_uuid(), 'order.accepted', NULL, '[1, 2, 3]'::jsonb)")
    await drain(Shipper(db_pool, chdb_sink))
    rows = chdb_sink.query("SELECT event_type, symbol, qty, payload FROM audit_events ORDER BY seq").rows
    assert rows[0][:3] == ("Weird Type", "AAPL", None) and '"qty": "ten"' in rows[0][3]  # NULL column, text kept
    assert rows[1][:3] == ("order.accepted", "", None) and rows[1][3] == "[1, 2, 3]"
    assert verify_trail(chdb_sink) == (2, None)


async def test_identifying_keys_are_dropped_before_clickhouse(db_pool: asyncpg.Pool, chdb_sink: ChdbSink) -> None:
    """PostgreSQL drops them in the fetch: top-level keys of an object only; nested ones and arrays are kept."""
    await db_pool.execute(
        "INSERT INTO outbox (event_id, event_type, account_id, payload) VALUES "
        "(gen_random_uuid(), 'account.opened', NULL, "
        "'{\"email\": \"j@d.example\", \"owner_name\": \"J D\", \"symbol\": \"AAPL\", "
        "\"note\": {\"email\": \"kept\"}}'::jsonb),"
        "(gen_random_uuid(), 'odd', NULL, '[\"email\", \"x\"]'::jsonb)")
    await drain(Shipper(db_pool, chdb_sink))
    payloads = [row[0] for row in chdb_sink.query("SELECT payload FROM audit_events ORDER BY seq").rows]
    assert payloads == ['{"note": {"email": "kept"}, "symbol": "AAPL"}', '["email", "x"]']
    assert verify_trail(chdb_sink) == (2, None)


async def test_verify_detects_a_modified_event(db_pool: asyncpg.Pool, chdb_sink: ChdbSink) -> None:
    await append(db_pool, 6, accounts=("ACC1",))
    await drain(Shipper(db_pool, chdb_sink))
    target = chdb_sink.query("SELECT toString(event_id) FROM audit_events WHERE order_id = 'O3'").rows[0][0]
    # typed columns are derived from the payload and cannot be UPDATEd, so the payload is what one would forge
    chdb_sink.query("ALTER TABLE audit_events UPDATE payload = replace(payload, '50.25', '49.25') "
                    "WHERE order_id = 'O3' SETTINGS mutations_sync = 1")
    assert chdb_sink.query("SELECT last_px FROM audit_events WHERE order_id = 'O3'").rows == [(Decimal("49.25"),)]
    checked, broken = verify_trail(chdb_sink)
    assert checked == 3 and broken is not None
    assert (broken.stream_seq, broken.event_id) == (4, target) and "modified" in broken.problem


async def test_forget_removes_identification(db_pool: asyncpg.Pool, chdb_sink: ChdbSink) -> None:
    await append(db_pool, 4)
    await drain(Shipper(db_pool, chdb_sink))
    store = PseudonymStore(db_pool)
    pseudonym = await store.lookup("ACC1")
    assert pseudonym is not None
    request = ReportRequest.parse("blotter", "2026-01-01", "2027-01-01")
    assert sorted({r["account"] for r in (await run_report(chdb_sink, request, store)).as_dicts()}) == ["ACC1", "ACC2"]

    assert await store.forget("ACC1", requested_by="dpo") == pseudonym
    assert await store.forget("ACC1") is None  # idempotent
    assert await store.lookup("ACC1") is None
    assert await db_pool.fetchval("SELECT requested_by FROM audit.erasures WHERE pseudonym = $1", pseudonym) == "dpo"
    accounts = {r["account"] for r in (await run_report(chdb_sink, request, store)).as_dicts()}
    assert accounts == {"ACC2", pseudonym}  # the trail stays, the person is no longer named
    by_account = ReportRequest.parse("blotter", "2026-01-01", "2027-01-01", account="ACC1")
    assert (await run_report(chdb_sink, by_account, store)).rows == []
    assert verify_trail(chdb_sink) == (4, None)  # erasure leaves the chains intact

    await append(db_pool, 1, start=4, accounts=("ACC1",))  # later activity gets a fresh, unlinked pseudonym
    await drain(Shipper(db_pool, chdb_sink))
    fresh = await store.lookup("ACC1")
    assert fresh is not None and fresh != pseudonym


@pytest.mark.parametrize("xid_first", ["early", "late"])
async def test_a_seq_committed_out_of_order_still_ships_once(
    db_pool: asyncpg.Pool, chdb_sink: ChdbSink, xid_first: str
) -> None:
    """Two real transactions: ``early`` takes the lower seq but commits after ``late``; the shipper drains in
    between. ``xid_first`` says which of the two became a writing transaction first (its id orders the
    shipping), so both ways round a watermark could pass the early seq."""
    await append(db_pool, 2)  # shipped before, so the shipper has a position to move on from
    shipper = Shipper(db_pool, chdb_sink, ShipperConfig(batch_size=10))
    await drain(shipper)
    await seed_accounts(db_pool, "ACC1")
    early_conn, late_conn = await db_pool.acquire(), await db_pool.acquire()
    early, late = early_conn.transaction(), late_conn.transaction()
    try:
        await early.start()
        await late.start()
        for conn in ((early_conn, late_conn) if xid_first == "early" else (late_conn, early_conn)):
            await conn.fetchval("SELECT pg_current_xact_id()")  # the transaction's id is assigned now
        events = {name: AuditEvent("order.accepted", account_id="ACC1", symbol="AAPL", order_id=name,
                                   occurred_at=T0, actor="fix:CLIENT1") for name in ("early", "late")}
        await append_event(early_conn, events["early"])  # allocates the lower seq...
        await append_event(late_conn, events["late"])
        await late.commit()  # ...but the higher one commits first
        await drain(shipper)
        await early.commit()
        await drain(shipper)
    finally:
        await db_pool.release(early_conn)
        await db_pool.release(late_conn)
    seqs = dict(await db_pool.fetch("SELECT payload->>'order_id', seq FROM outbox WHERE event_type = 'order.accepted'"))
    assert seqs["early"] < seqs["late"]
    assert count(chdb_sink) == (4, 4)
    assert count(chdb_sink, "order_id IN ('early', 'late')") == (2, 2)
    assert (await backlog(db_pool)).pending == 0
    await drain(Shipper(db_pool, chdb_sink))  # a restarted shipper finds nothing left to ship
    assert count(chdb_sink) == (4, 4)
    assert verify_trail(chdb_sink) == (4, None)


async def test_purge_deletes_only_rows_shipped_long_ago(db_pool: asyncpg.Pool, chdb_sink: ChdbSink) -> None:
    await append(db_pool, 6)
    await drain(Shipper(db_pool, chdb_sink, ShipperConfig(batch_size=4)))  # two batches recorded
    await db_pool.execute("UPDATE audit.outbox_shipped SET shipped_at = now() - interval '25 hours'")
    await append(db_pool, 3, start=6)
    await drain(Shipper(db_pool, chdb_sink, ShipperConfig(batch_size=4)))  # shipped just now: kept
    await append(db_pool, 2, start=9)  # not shipped: kept
    assert await purge_shipped(db_pool, 24) == 6
    assert await db_pool.fetchval("SELECT count(*) FROM outbox") == 5
    assert (await backlog(db_pool)).pending == 2
    assert await purge_shipped(db_pool, 24) == 0


class SlowInsert(CrashAfterInsert):
    """The real sink, with an insert slow enough that the next batch is read while it runs."""

    def insert_columns(self, columns: Mapping[str, Sequence[Any]]) -> None:
        time.sleep(0.3)
        self.sink.insert_columns(columns)


async def test_a_failed_read_during_an_insert_waits_for_it_then_recovers(
    db_pool: asyncpg.Pool, chdb_sink: ChdbSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    await append(db_pool, 9)
    real_fetch = shipper_module.fetch_unshipped
    calls = 0

    async def fetch_fails_second(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # the read of batch 2, while batch 1 is being inserted
            raise asyncpg.InterfaceError("connection lost")
        return await real_fetch(*args)

    monkeypatch.setattr(shipper_module, "fetch_unshipped", fetch_fails_second)
    shipper = Shipper(db_pool, SlowInsert(chdb_sink), ShipperConfig(batch_size=4))
    with pytest.raises(asyncpg.InterfaceError):
        await shipper.ship_burst()
    assert count(chdb_sink) == (4, 4)  # batch 1 landed before the error was raised...
    assert (await backlog(db_pool)).pending == 9  # ...but was not recorded
    await drain(shipper)  # the same shipper recovers: batch 1 is passed over, not inserted twice
    assert count(chdb_sink) == (9, 9)
    assert (await backlog(db_pool)).pending == 0
    assert verify_trail(chdb_sink) == (9, None)
