"""The native adapter (clickhouse-driver) against a real, modern ClickHouse server: the same DDL and SQL as
chdb. Runs when BROKERAGE_CLICKHOUSE_URL points at one (e.g. the docker-compose ClickHouse)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal as D
from urllib.parse import urlsplit, urlunsplit

import pytest

from audit.chain import Head
from audit.native_sink import NativeSink
from audit.reports import ReportRequest, report_sql
from audit.retention import RetentionPolicy
from audit.sink import chain_heads, event_ids_since, verify_trail
from tests.integration.audit.conftest import write_events
from tests.integration.audit.test_audit_reports import T0, wash_scenario

URL = os.environ.get("BROKERAGE_CLICKHOUSE_URL")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not URL, reason="BROKERAGE_CLICKHOUSE_URL is not set (no ClickHouse server to test against)"),
]


@pytest.fixture
def native_sink() -> Iterator[NativeSink]:
    assert URL
    database = f"t_{uuid.uuid4().hex[:12]}"
    admin = NativeSink(URL)
    admin.query(f"CREATE DATABASE {database}")
    parts = urlsplit(URL)
    sink = NativeSink(urlunsplit(parts._replace(path=f"/{database}")))
    sink.ensure_schema(RetentionPolicy())
    try:
        yield sink
    finally:
        sink.close()
        admin.query(f"DROP DATABASE IF EXISTS {database}")
        admin.close()


def test_same_ddl_same_sql_same_answers(native_sink: NativeSink) -> None:
    heads = write_events(native_sink, wash_scenario(timedelta(days=10)))
    request = ReportRequest.parse("wash-sales", "2026-01-01", "2027-01-01")
    [row] = native_sink.query(report_sql("wash-sales"), request.params("")).as_dicts()
    assert (row["disallowed_loss"], row["adjusted_basis"]) == (D("1000"), D("5200"))
    assert row["sale_at"] == T0 + timedelta(hours=1)
    assert chain_heads(native_sink) == heads == {"ACC1": Head(3, heads["ACC1"].hash)}
    assert len(event_ids_since(native_sink, 2)) == 2
    for name in ("blotter", "best-execution", "lifecycle-latency", "risk-exceptions"):
        native_sink.query(report_sql(name), ReportRequest.parse(name, "2026-01-01", "2027-01-01").params(""))


def test_verify_on_the_server_detects_a_modified_event(native_sink: NativeSink) -> None:
    write_events(native_sink, wash_scenario(timedelta(days=10)))
    assert verify_trail(native_sink) == (3, None)
    native_sink.query("ALTER TABLE audit_events UPDATE payload = replace(payload, '\"40\"', '\"41\"')"
                    " WHERE side = 'sell' SETTINGS mutations_sync = 1")
    checked, broken = verify_trail(native_sink)
    assert checked == 1 and broken is not None and "modified" in broken.problem
