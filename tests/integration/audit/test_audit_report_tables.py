"""Report tables (ADR 043): the reports over audit_fills / audit_orders give exactly what the SQL before them
gave over audit_events (kept in ``reference/`` as the oracle), on random trails with the awkward cases on
purpose; the tables survive a re-shipped batch, are back-filled on upgrade, and `audit verify` catches a row
that is not derived from the trail."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from audit.chdb_sink import ChdbSink
from audit.events import AuditEvent
from audit.reports import ReportRequest, report_sql
from audit.retention import RetentionPolicy
from audit.sink import rebuild_report_tables, report_table_mismatch, report_tables, verify_trail
from tests.integration.audit.conftest import write_events

pytestmark = pytest.mark.integration
REFERENCE = Path(__file__).with_name("reference")
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def random_trail(rnd: random.Random, orders: int) -> list[AuditEvent]:
    """Orders of a few accounts and symbols over ~3 months: unfilled, partly and multiply filled, fills weeks
    later (outside a report's 30-day tail), no arrival quote, no price on a fill, losses and gains, fills
    without an accepted event, ties in time."""
    events: list[AuditEvent] = []
    for n in range(orders):
        account, symbol = f"A{rnd.randrange(3)}", rnd.choice(["AAPL", "MSFT"])
        side = rnd.choice(["buy", "sell"])
        at = T0 + timedelta(minutes=rnd.randrange(90 * 24 * 60))
        qty = rnd.choice([50, 100, 500, 2000, 20000])
        mid = D(100 + rnd.randrange(5))
        order_id = f"O{n}"
        if rnd.random() < 0.9:
            quoted = rnd.random() < 0.8
            events.append(AuditEvent(
                "order.accepted", account_id=account, symbol=symbol, side=side,
                ord_type=rnd.choice(["limit", "market"]), qty=D(qty), order_id=order_id,
                bid=mid - D("0.05") if quoted else None, ask=mid + D("0.05") if quoted else None, occurred_at=at,
                hops={"received": at - timedelta(milliseconds=rnd.randrange(5))} if rnd.random() < 0.7 else {}))
        left = qty
        for _ in range(rnd.choice([0, 1, 1, 2, 3])):
            part = min(left, rnd.choice([qty, qty // 2, 10]))
            left -= part
            later = rnd.choice([timedelta(milliseconds=rnd.randrange(1, 900)), timedelta(days=rnd.randrange(1, 60))])
            pnl = None if side == "buy" else D(rnd.randrange(-500, 300))
            events.append(AuditEvent(
                "order.fill", account_id=account, symbol=symbol, side=side, last_qty=D(part),
                last_px=None if rnd.random() < 0.05 else mid + D(rnd.randrange(-10, 11)) / 100,
                realized_pnl=pnl, order_id=order_id, exec_id=f"X{n}-{left}", occurred_at=at + later,
                hops={"filled": at + later} if rnd.random() < 0.5 else {}))
    # a symbol whose only order is never filled: its row's sums are over no fills (NULL, not 0)
    events.append(AuditEvent("order.accepted", account_id="A1", symbol="MSFT", side="buy", ord_type="stop",
                             qty=D(10), order_id="unfilled", occurred_at=T0 + timedelta(days=50)))
    rnd.shuffle(events)
    return events


def rows(
    sink: ChdbSink, sql: str, name: str, start: str, end: str, account: str = "", symbol: str = "",
) -> list[tuple[Any, ...]]:
    params = ReportRequest.parse(name, start, end, symbol=symbol or None).params(account)
    return sink.query(sql, params).rows


# the whole trail, and a period cut mid-day whose 30-day tail ends before some orders' late fills
PERIODS = [("2026-01-01", "2027-01-01"), ("2026-04-15 06:30", "2026-05-01")]


def test_reports_equal_the_reference_over_audit_events(chdb_sink: ChdbSink) -> None:
    rnd = random.Random(1)
    events = random_trail(rnd, 400)
    # in several inserts (an order's events in different blocks), and one batch shipped twice
    heads = write_events(chdb_sink, events[:300])
    write_events(chdb_sink, events[250:300], first_seq=251)
    write_events(chdb_sink, events[300:], heads, first_seq=301)
    for name in ("wash-sales", "best-execution"):
        reference = (REFERENCE / f"{name}.sql").read_text()
        for start, end in PERIODS:
            for account, symbol in (("", ""), ("A1", "MSFT")):
                expected = rows(chdb_sink, reference, name, start, end, account, symbol)
                assert rows(chdb_sink, report_sql(name), name, start, end, account, symbol) == expected
                assert expected  # the case is not empty by accident
    assert report_table_mismatch(chdb_sink) is None


def test_upgrade_back_fills_and_verify_catches_a_row_not_from_the_trail(chdb_sink: ChdbSink) -> None:
    events = random_trail(random.Random(3), 200)
    for table in report_tables():  # a trail written before the report tables existed
        chdb_sink.query(f"DROP TABLE {table.view}")
        chdb_sink.query(f"DROP TABLE {table.table}")
    write_events(chdb_sink, events)
    chdb_sink.ensure_schema(RetentionPolicy())
    assert chdb_sink.query("SELECT count() FROM audit_fills").rows[0][0] == sum(
        e.event_type == "order.fill" and (e.last_qty or 0) > 0 for e in events)
    assert verify_trail(chdb_sink) == (len(events), None)
    name = "best-execution"
    assert rows(chdb_sink, report_sql(name), name, *PERIODS[0]) == rows(
        chdb_sink, (REFERENCE / f"{name}.sql").read_text(), name, *PERIODS[0])

    chdb_sink.query("ALTER TABLE audit_fills UPDATE last_qty = last_qty + 1 WHERE event_id IN "
                    "(SELECT event_id FROM audit_fills LIMIT 1) SETTINGS mutations_sync = 1")
    broken = report_table_mismatch(chdb_sink)
    assert broken is not None and broken.stream == "audit_fills"
    rebuild_report_tables(chdb_sink)
    assert report_table_mismatch(chdb_sink) is None

    chdb_sink.query("INSERT INTO audit_orders (order_id, account, first_at) VALUES ('forged', 'A1', now64(6))")
    broken = report_table_mismatch(chdb_sink)
    assert broken is not None and broken.stream == "audit_orders" and "not derived" in broken.problem


def test_both_views_are_found_in_the_ddl() -> None:
    assert [(t.view, t.table) for t in report_tables()] == [("audit_fills_mv", "audit_fills"),
                                                            ("audit_orders_mv", "audit_orders")]
    assert all("FROM audit_events FINAL" in t.over_final() for t in report_tables())


def test_retention_covers_the_report_tables(chdb_sink: ChdbSink) -> None:
    chdb_sink.ensure_schema(RetentionPolicy(retention_days=400))
    for table, column in (("audit_fills", "occurred_at"), ("audit_orders", "first_at")):
        ddl = chdb_sink.query(f"SHOW CREATE TABLE {table}").rows[0][0]
        assert f"TTL toDateTime({column}) + toIntervalDay(400)" in ddl
