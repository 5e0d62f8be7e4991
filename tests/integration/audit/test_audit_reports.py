"""Compliance reports on the embedded ClickHouse engine (chdb), constructed scenarios with exact rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from audit.chdb_sink import ChdbSink
from audit.events import AuditEvent
from audit.reports import ReportRequest, report_sql, run_report
from tests.integration.audit.conftest import write_events

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
_exec = iter(range(1, 10**6))


def fill(side: str, qty: int, px: str, at: datetime, pnl: str | None = None, account: str = "ACC1",
         symbol: str = "AAPL", order_id: str = "O1", hop_filled: datetime | None = None) -> AuditEvent:
    return AuditEvent(
        "order.fill", account_id=account, symbol=symbol, side=side, last_qty=D(qty), last_px=D(px),
        realized_pnl=None if pnl is None else D(pnl), order_id=order_id, exec_id=f"X{next(_exec)}",
        status="filled", occurred_at=at, hops={"filled": hop_filled} if hop_filled else {},
    )


def report(sink: ChdbSink, name: str, **filters: Any) -> list[dict[str, Any]]:
    request = ReportRequest.parse(name, "2026-01-01", "2027-01-01", filters.get("account"), filters.get("symbol"))
    return sink.query(report_sql(name), request.params(filters.get("account_ref", ""))).as_dicts()


def wash_scenario(repurchase_after: timedelta, qty: int = 100, account: str = "ACC1") -> list[AuditEvent]:
    return [
        fill("buy", 100, "50", T0, order_id="B1"),
        fill("sell", 100, "40", T0 + timedelta(hours=1), pnl="-1000", order_id="S1"),
        fill("buy", qty, "42", T0 + timedelta(hours=1) + repurchase_after, order_id="B2", account=account),
    ]


def test_wash_sale_repurchase_ten_days_later(chdb_sink: ChdbSink) -> None:
    write_events(chdb_sink, wash_scenario(timedelta(days=10)))
    rows = report(chdb_sink, "wash-sales")
    assert len(rows) == 1
    row = rows[0]
    assert (row["account"], row["symbol"], row["sale_at"]) == ("ACC1", "AAPL", T0 + timedelta(hours=1))
    assert (row["sold_qty"], row["sale_px"], row["loss"]) == (D("100"), D("40"), D("1000"))
    assert row["replacement_qty"] == D("100")
    assert row["disallowed_loss"] == D("1000.00")
    assert row["adjusted_basis"] == D("5200.00")  # 100 × 42 + the disallowed 1,000


def test_no_wash_sale_when_repurchase_is_31_days_later(chdb_sink: ChdbSink) -> None:
    write_events(chdb_sink, wash_scenario(timedelta(days=31)))
    assert report(chdb_sink, "wash-sales") == []


def test_partial_replacement_disallows_a_proportional_loss(chdb_sink: ChdbSink) -> None:
    write_events(chdb_sink, wash_scenario(timedelta(days=29), qty=40))
    [row] = report(chdb_sink, "wash-sales")
    assert (row["replacement_qty"], row["disallowed_loss"], row["adjusted_basis"]) == (D("40"), D("400"), D("2080"))


def test_other_account_gain_or_other_symbol_is_no_wash_sale(chdb_sink: ChdbSink) -> None:
    write_events(chdb_sink, [
        *wash_scenario(timedelta(days=5), account="ACC2"),  # someone else bought it back
        fill("buy", 10, "10", T0, symbol="MSFT", order_id="M1"),
        fill("sell", 10, "12", T0 + timedelta(days=1), pnl="20", symbol="MSFT", order_id="M2"),  # a gain
        fill("buy", 10, "11", T0 + timedelta(days=2), symbol="MSFT", order_id="M3"),
    ])
    assert report(chdb_sink, "wash-sales") == []


def test_shares_bought_before_the_sale_and_still_held_are_replacements(chdb_sink: ChdbSink) -> None:
    write_events(chdb_sink, [
        fill("buy", 100, "50", T0, order_id="B1"),
        fill("buy", 100, "45", T0 + timedelta(days=5), order_id="B2"),
        fill("sell", 100, "40", T0 + timedelta(days=10), pnl="-750", order_id="S1"),  # avg cost 47.50
    ])
    [row] = report(chdb_sink, "wash-sales")
    # 100 shares are still held after the sale, all bought within 30 days before it (at 47.50 on average)
    assert (row["replacement_qty"], row["disallowed_loss"], row["adjusted_basis"]) == (D("100"), D("750"), D("5500"))


def accepted(order_id: str, side: str, qty: int, at: datetime, ord_type: str = "limit") -> AuditEvent:
    return AuditEvent(
        "order.accepted", account_id="ACC1", symbol="AAPL", side=side, ord_type=ord_type, qty=D(qty),
        price=D("100") if ord_type == "limit" else None, order_id=order_id, cl_ord_id=f"C-{order_id}",
        bid=D("99.90"), ask=D("100.10"), last=D("100"), occurred_at=at, hops={"received": at},
    )


def test_best_execution_on_hand_computed_fills(chdb_sink: ChdbSink) -> None:
    ms = timedelta(milliseconds=1)
    t1 = T0 + 1000 * ms
    write_events(chdb_sink, [
        accepted("O1", "buy", 100, T0),
        fill("buy", 60, "100.10", T0 + 100 * ms, order_id="O1"),  # at the ask
        fill("buy", 40, "100.05", T0 + 300 * ms, order_id="O1"),  # inside
        accepted("O2", "sell", 200, t1),
        fill("sell", 200, "99.80", t1 + 200 * ms, order_id="O2", pnl="0"),  # below the bid: outside
        accepted("O3", "buy", 50, T0, ord_type="market"),
        fill("buy", 50, "100.00", T0 + 50 * ms, order_id="O3"),  # at mid: inside
        accepted("O4", "buy", 300, T0),  # never filled
    ])
    rows = report(chdb_sink, "best-execution")
    assert rows == [
        {"symbol": "AAPL", "ord_type": "limit", "size_bucket": "100-999", "orders": 3, "orders_filled": 2,
         "fills": 3, "fill_rate": 0.5, "time_to_fill_p50_ms": 300.0, "time_to_fill_p95_ms": 300.0,
         # (0.10×60 + 0.05×40 + 0.20×200) / (100×300) × 10,000 = 16 bps
         "slippage_bps": 16.0, "at_quote": 0.3333, "inside_quote": 0.3333, "outside_quote": 0.3333},
        {"symbol": "AAPL", "ord_type": "market", "size_bucket": "1-99", "orders": 1, "orders_filled": 1,
         "fills": 1, "fill_rate": 1.0, "time_to_fill_p50_ms": 50.0, "time_to_fill_p95_ms": 50.0,
         "slippage_bps": 0.0, "at_quote": 0.0, "inside_quote": 1.0, "outside_quote": 0.0},
    ]


def test_lifecycle_latency_percentiles_by_hour_and_hop(chdb_sink: ChdbSink) -> None:
    us = timedelta(microseconds=1)
    events = []
    for i, scale in enumerate((1, 2), start=1):
        t = T0 + timedelta(minutes=i)
        hops = [t + scale * n * us for n in (0, 100, 1000, 1500, 3500, 10000)]
        events += [
            AuditEvent("order.accepted", account_id="ACC1", symbol="AAPL", order_id=f"O{i}", occurred_at=hops[2],
                       hops={"received": hops[0], "risk_checked": hops[1], "committed": hops[2]}),
            AuditEvent("order.acknowledged", account_id="ACC1", symbol="AAPL", order_id=f"O{i}",
                       occurred_at=hops[4], hops={"routed": hops[3], "acknowledged": hops[4]}),
            fill("buy", 1, "1", hops[5], order_id=f"O{i}", hop_filled=hops[5]),
        ]
    write_events(chdb_sink, events)
    rows = report(chdb_sink, "lifecycle-latency")
    hour = T0.replace(minute=0)
    expected_ms = {"received→risk": 0.2, "risk→committed": 1.8, "committed→routed": 1.0, "routed→acked": 4.0,
                   "acked→filled": 13.0, "received→filled": 20.0}  # two orders: the upper one is p50/p95/p99
    assert [(r["hour"], r["hop"], r["orders"]) for r in rows] == [(hour, hop, 2) for hop in expected_ms]
    for row in rows:
        assert row["p50_ms"] == row["p95_ms"] == row["p99_ms"] == row["max_ms"] == expected_ms[row["hop"]]


def test_risk_exceptions_grouped_by_type_and_rule(chdb_sink: ChdbSink) -> None:
    def risk(kind: str, rule: str = "", account: str | None = "ACC1", minutes: int = 0) -> AuditEvent:
        return AuditEvent(kind, account_id=account, symbol="AAPL", rule=rule, reason=f"{kind}:{rule}",
                          occurred_at=T0 + timedelta(minutes=minutes))
    write_events(chdb_sink, [
        risk("order.rejected", "buying_power"), risk("order.rejected", "buying_power", "ACC2", 5),
        risk("order.rejected", "tick", minutes=1), risk("risk.margin_call"), risk("risk.kill_switch"),
        risk("risk.halt", account=None, minutes=2), fill("buy", 1, "1", T0),  # a fill is no exception
    ])
    rows = [(r["event_type"], r["rule"], r["events"], r["accounts"], r["first_at"], r["last_at"])
            for r in report(chdb_sink, "risk-exceptions")]
    assert rows == [
        ("order.rejected", "buying_power", 2, 2, T0, T0 + timedelta(minutes=5)),
        ("order.rejected", "tick", 1, 1, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1)),
        ("risk.halt", "-", 1, 0, T0 + timedelta(minutes=2), T0 + timedelta(minutes=2)),
        ("risk.kill_switch", "-", 1, 1, T0, T0),
        ("risk.margin_call", "-", 1, 1, T0, T0),
    ]


def test_blotter_filters_and_reject_reason(chdb_sink: ChdbSink) -> None:
    write_events(chdb_sink, [
        accepted("O1", "buy", 100, T0),
        fill("buy", 100, "100.10", T0 + timedelta(seconds=1), order_id="O1"),
        AuditEvent("order.rejected", account_id="ACC2", symbol="MSFT", side="buy", qty=D(5), cl_ord_id="C9",
                   rule="buying_power", reason="insufficient buying power", occurred_at=T0 + timedelta(seconds=2)),
        AuditEvent("session.logon", actor="fix:CLIENT1", occurred_at=T0),  # not an order event
    ])
    rows = report(chdb_sink, "blotter")
    assert [(r["event_type"], r["account"], r["order_id"]) for r in rows] == [
        ("order.accepted", "ACC1", "O1"), ("order.fill", "ACC1", "O1"), ("order.rejected", "ACC2", "")]
    assert rows[2]["reject_reason"] == "insufficient buying power" and rows[2]["reject_rule"] == "buying_power"
    assert [r["event_type"] for r in report(chdb_sink, "blotter", symbol="MSFT")] == ["order.rejected"]
    assert len(report(chdb_sink, "blotter", account="ACC1", account_ref="ACC1")) == 2


def test_reports_count_a_reinserted_batch_once(chdb_sink: ChdbSink) -> None:
    events = wash_scenario(timedelta(days=10))
    write_events(chdb_sink, events)
    write_events(chdb_sink, events)  # a crash between insert and mark, without the shipper's own dedupe
    assert len(report(chdb_sink, "wash-sales")) == 1
    assert len(report(chdb_sink, "blotter")) == 3


class FakeNames:
    """The pseudonym store's two read calls, over a dict (the PostgreSQL one is tested with the shipper)."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = mapping

    async def lookup(self, account_id: str) -> str | None:
        return self.mapping.get(account_id)

    async def reveal(self, pseudonyms: Any) -> dict[str, str]:
        back = {v: k for k, v in self.mapping.items()}
        return {p: back[p] for p in pseudonyms if p in back}


async def test_run_report_maps_accounts_to_pseudonyms_and_back(chdb_sink: ChdbSink) -> None:
    events = [fill("buy", 1, "1", T0, account="p-acc1"), fill("buy", 2, "1", T0, account="p-acc2")]
    write_events(chdb_sink, events)
    names = FakeNames({"ACC1": "p-acc1"})  # ACC2 was forgotten
    request = ReportRequest.parse("blotter", "2026-01-01", "2027-01-01")
    result = (await run_report(chdb_sink, request, names)).as_dicts()  # type: ignore[arg-type]
    assert sorted(r["account"] for r in result) == ["ACC1", "p-acc2"]
    only = ReportRequest.parse("blotter", "2026-01-01", "2027-01-01", account="ACC1")
    assert [r["last_qty"] for r in (await run_report(chdb_sink, only, names)).as_dicts()] == [D(1)]  # type: ignore[arg-type]
    unknown = ReportRequest.parse("blotter", "2026-01-01", "2027-01-01", account="ACC2")
    assert (await run_report(chdb_sink, unknown, names)).rows == []  # type: ignore[arg-type]


def test_loss_derived_from_avg_cost_when_realized_pnl_is_absent(chdb_sink: ChdbSink) -> None:
    sale = AuditEvent("order.fill", account_id="ACC1", symbol="AAPL", side="sell", last_qty=D(100), last_px=D(40),
                      order_id="S1", exec_id="XS", occurred_at=T0 + timedelta(hours=1), extra={"avg_cost": "50"})
    write_events(chdb_sink, [fill("buy", 100, "50", T0), sale, fill("buy", 100, "42", T0 + timedelta(days=10))])
    [row] = report(chdb_sink, "wash-sales")
    assert (row["loss"], row["disallowed_loss"]) == (D("1000"), D("1000"))


def test_retention_ttl_is_applied_to_the_table(chdb_sink: ChdbSink) -> None:
    from audit.retention import RetentionPolicy

    chdb_sink.ensure_schema(RetentionPolicy(retention_days=400))
    ddl = chdb_sink.query("SHOW CREATE TABLE audit_events").rows[0][0]
    assert "TTL toDateTime(occurred_at) + toIntervalDay(400)" in ddl
