"""Wash sales against a plain-Python reading of the rule, on random histories with many edge cases.

The report finds each loss sale's replacement shares from running totals over the (account, symbol) history
(ADR 035). These tests pin the rule itself, independently of how the SQL computes it: fills land on a coarse
grid (whole days, some at the same instant) so window edges (exactly 30 days), ties with the sale and several
loss sales per history come up often.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest

from audit.chdb_sink import ChdbSink
from audit.events import AuditEvent
from audit.reports import ReportRequest, report_sql
from tests.integration.audit.conftest import write_events

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Fill:
    account: str
    symbol: str
    side: str
    qty: Decimal
    px: Decimal
    at: datetime
    exec_id: str
    pnl: Decimal | None


def event(f: Fill) -> AuditEvent:
    return AuditEvent(
        "order.fill", account_id=f.account, symbol=f.symbol, side=f.side, last_qty=f.qty, last_px=f.px,
        realized_pnl=f.pnl, order_id=f"O-{f.exec_id}", exec_id=f.exec_id, status="filled", occurred_at=f.at,
    )


def cut(value: Decimal, places: int) -> Decimal:
    """ClickHouse's decimal division and narrowing drop the extra digits (toward zero)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def expected(fills: list[Fill], start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """The rule as the report's header states it, one loss sale at a time, by brute force."""
    out = []
    for sale in fills:
        if sale.side != "sell" or sale.pnl is None or sale.pnl >= 0 or not start <= sale.at < end:
            continue
        same = [f for f in fills if (f.account, f.symbol) == (sale.account, sale.symbol)]
        buys_after = [f for f in same if f.side == "buy" and sale.at < f.at <= sale.at + WINDOW]
        buys_before = [f for f in same if f.side == "buy" and sale.at - WINDOW <= f.at < sale.at]
        position = sum((f.qty if f.side == "buy" else -f.qty for f in same
                        if (f.at, f.exec_id) <= (sale.at, sale.exec_id)), Decimal(0))
        bought_after = sum((f.qty for f in buys_after), Decimal(0))
        bought_before = sum((f.qty for f in buys_before), Decimal(0))
        from_after = min(sale.qty, bought_after)
        from_before = min(sale.qty - from_after, max(position, Decimal(0)), bought_before)
        replaced = from_after + from_before
        if replaced <= 0:
            continue
        loss = -sale.pnl
        disallowed = cut(loss * replaced / sale.qty, 2)
        basis = disallowed
        if from_after > 0:
            basis += cut(sum((f.qty * f.px for f in buys_after), Decimal(0)) * from_after / bought_after, 4)
        if from_before > 0:
            basis += cut(sum((f.qty * f.px for f in buys_before), Decimal(0)) * from_before / bought_before, 4)
        out.append((sale.at, sale.account, sale.symbol, sale.exec_id, sale.qty, loss, replaced, disallowed,
                    cut(basis, 2)))
    return sorted(out, key=lambda row: (row[0], row[1], row[2]))


def random_history(seed: int) -> list[Fill]:
    rnd = random.Random(seed)
    fills = []
    for n in range(160):
        side = rnd.choice(("buy", "buy", "sell"))
        # whole days (so +/- 30 days lands exactly on the edges) plus, now and then, the same instant again
        at = T0 + timedelta(days=rnd.randrange(0, 120), hours=rnd.choice((0, 0, 0, 5)))
        pnl = Decimal(rnd.randrange(-900, 300)) if side == "sell" and rnd.random() < 0.8 else None
        fills.append(Fill(rnd.choice(("ACC1", "ACC2")), rnd.choice(("AAPL", "MSFT")), side,
                          Decimal(rnd.randrange(1, 30) * 10), Decimal(rnd.randrange(1000, 9000)) / 100, at,
                          f"X{n:04d}", pnl))
    return fills


def report_rows(sink: ChdbSink, start: str, end: str) -> list[tuple[Any, ...]]:
    params = ReportRequest.parse("wash-sales", start, end).params("")
    rows = sink.query(report_sql("wash-sales"), params).as_dicts()
    return [(r["sale_at"], r["account"], r["symbol"], r["sale_exec_id"], r["sold_qty"], r["loss"],
             r["replacement_qty"], r["disallowed_loss"], r["adjusted_basis"]) for r in rows]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_wash_sales_match_the_rule_on_random_histories(chdb_sink: ChdbSink, seed: int) -> None:
    fills = random_history(seed)
    write_events(chdb_sink, [event(f) for f in fills])
    start, end = T0 + timedelta(days=20), T0 + timedelta(days=90)  # buys outside the period still count
    want = expected(fills, start, end)
    assert len(want) > 10  # the seed really exercises the rule
    got = report_rows(chdb_sink, start.isoformat(), end.isoformat())
    key = lambda row: (row[0], row[1], row[2], row[3])  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)


def test_window_edges_and_a_buy_at_the_instant_of_the_sale(chdb_sink: ChdbSink) -> None:
    sale_at = T0 + timedelta(days=40)
    fills = [
        Fill("ACC1", "AAPL", "buy", Decimal(100), Decimal(50), T0, "X1", None),  # 40 days before: outside
        Fill("ACC1", "AAPL", "buy", Decimal(10), Decimal(48), sale_at - WINDOW, "X2", None),  # exactly 30 days
        Fill("ACC1", "AAPL", "buy", Decimal(5), Decimal(47), sale_at, "X3", None),  # same instant: neither side
        Fill("ACC1", "AAPL", "sell", Decimal(100), Decimal(40), sale_at, "X4", Decimal(-1000)),
        Fill("ACC1", "AAPL", "buy", Decimal(20), Decimal(42), sale_at + WINDOW, "X5", None),  # exactly 30 days
        Fill("ACC1", "AAPL", "buy", Decimal(30), Decimal(41), sale_at + WINDOW + timedelta(microseconds=1), "X6",
             None),  # just outside
    ]
    write_events(chdb_sink, [event(f) for f in fills])
    [row] = report_rows(chdb_sink, "2026-01-01", "2027-01-01")
    # after: 20 (X5); before: X2's 10, capped by the 15 still held after the sale (115 bought, 100 sold)
    assert row[6] == Decimal(30)
    assert row == expected(fills, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))[0]
    assert row[7] == Decimal("300.00") and row[8] == Decimal("1620.00")  # 20×42 + 10×48 + 300
