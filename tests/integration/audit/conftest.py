"""Audit fixtures: one chdb engine for the session (chdb allows one data directory per process), a fresh
database per test, and a helper that writes events straight into a sink (what the shipper would do)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson
import pytest

from audit.chain import Head, link
from audit.chdb_sink import ChdbSink
from audit.events import AuditEvent
from audit.retention import RetentionPolicy
from audit.rows import ship_row

# <data dir>/audit/chdb, so that CLI tests can point BROKERAGE_DATA_DIR at the engine this process owns
DATA_DIR = Path(tempfile.gettempdir()) / f"brokerage-test-audit-{os.getpid()}"
CHDB_DIR = DATA_DIR / "audit" / "chdb"


@pytest.fixture(scope="session", autouse=True)
def _remove_chdb_dir() -> Iterator[None]:
    yield
    shutil.rmtree(DATA_DIR, ignore_errors=True)


@pytest.fixture
def chdb_sink() -> Iterator[ChdbSink]:
    sink = ChdbSink(CHDB_DIR, f"t_{uuid.uuid4().hex[:12]}")
    sink.ensure_schema(RetentionPolicy())
    try:
        yield sink
    finally:
        sink._run(f"DROP DATABASE IF EXISTS {sink.database}")


def shipped_row(event: AuditEvent, account_ref: str, seq: int) -> dict[str, Any]:
    """The row the shipper makes of ``event`` once it went through the outbox."""
    occurred = event.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    payload = orjson.dumps(event.to_payload()).decode()
    return {**ship_row(str(event.event_id), event.event_type, occurred, account_ref, payload), "seq": seq}


def write_events(sink: Any, events: Iterable[AuditEvent], heads: dict[str, Head] | None = None,
                 first_seq: int = 1) -> dict[str, Head]:
    """Insert ``events`` as shipped rows (account id used as its own pseudonym)."""
    rows = [shipped_row(event, event.account_id or "", seq) for seq, event in enumerate(events, start=first_seq)]
    new_heads = link(rows, heads or {})
    sink.insert(rows)
    return new_heads
