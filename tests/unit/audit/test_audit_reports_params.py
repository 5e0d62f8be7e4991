"""Report requests and SQL files: validation, and parameters only ever bound by the engine."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from audit.reports import REPORTS_DIR, ReportError, ReportRequest, report_names, report_sql
from audit.retention import RetentionPolicy, ttl_clause

EXPECTED = ["best-execution", "blotter", "lifecycle-latency", "risk-exceptions", "wash-sales"]
PLACEHOLDER = re.compile(r"\{(\w+):([^}]+)\}")


def test_every_report_has_its_file() -> None:
    assert report_names() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_sql_binds_only_the_four_parameters(name: str) -> None:
    sql = report_sql(name)
    assert {p for p, _ in PLACEHOLDER.findall(sql)} <= {"from_ts", "to_ts", "account", "symbol"}
    assert "%(" not in sql and "{}" not in sql and "%s" not in sql  # nothing for Python formatting
    assert "FINAL" in sql  # robust to a re-inserted batch not merged yet


def test_request_parsing_and_params() -> None:
    request = ReportRequest.parse("blotter", "2026-03-01", "2026-03-02T12:00:00+01:00", "ACC1", "aapl")
    assert request.from_ts == datetime(2026, 3, 1, tzinfo=UTC)
    assert request.to_ts == datetime(2026, 3, 2, 11, tzinfo=UTC)
    assert request.symbol == "AAPL"
    assert request.params("p1") == {"from_ts": "2026-03-01 00:00:00.000000", "to_ts": "2026-03-02 11:00:00.000000",
                                    "account": "p1", "symbol": "AAPL"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", "2026-01-01", "2026-01-02"), "unknown report"),
        (("../blotter", "2026-01-01", "2026-01-02"), "unknown report"),
        (("blotter", "last tuesday", "2026-01-02"), "ISO-8601"),
        (("blotter", "2026-01-02", "2026-01-01"), "empty"),
        (("blotter", "2026-01-01", "2026-01-02", "A'; DROP", None), "invalid account"),
        (("blotter", "2026-01-01", "2026-01-02", None, "AA PL"), "invalid symbol"),
    ],
)
def test_bad_requests_are_refused_clearly(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ReportError, match=message):
        ReportRequest.parse(*args)  # type: ignore[arg-type]


def test_retention_clause() -> None:
    assert ttl_clause(RetentionPolicy(365)) == "toDateTime(occurred_at) + INTERVAL 365 DAY DELETE"
    assert ttl_clause(RetentionPolicy(2555, 90, "cold")) == (
        "toDateTime(occurred_at) + INTERVAL 90 DAY TO VOLUME 'cold', "
        "toDateTime(occurred_at) + INTERVAL 2555 DAY DELETE"
    )
    for bad in [dict(retention_days=0), dict(hot_days=10), dict(hot_days=10, cold_volume="x'; DROP"),
                dict(retention_days=30, hot_days=40, cold_volume="cold")]:
        with pytest.raises(ValueError):
            RetentionPolicy(**bad)  # type: ignore[arg-type]


def test_reports_dir_is_the_package_dir() -> None:
    assert REPORTS_DIR.name == "reports" and (REPORTS_DIR / "wash-sales.sql").exists()
