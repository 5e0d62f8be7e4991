"""Hash chains: intact chains verify; any modification, deletion, insertion or reorder is the first break."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.chain import GENESIS, Head, link, link_columns, verify
from audit.events import AuditEvent
from audit.rows import HASHED_COLUMNS, canonical, scrub_payload, ship_row

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def events_for(accounts: list[str]) -> list[AuditEvent]:
    return [
        AuditEvent("order.fill", account_id=account, symbol="AAPL", side="buy", last_qty=Decimal(i + 1),
                   last_px=Decimal("50.5"), occurred_at=T0 + timedelta(seconds=i))
        for i, account in enumerate(accounts)
    ]


def rows_for(accounts: list[str], events: list[AuditEvent] | None = None) -> list[dict[str, Any]]:
    return [
        ship_row(str(e.event_id), e.event_type, e.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f"), e.account_id or "",
                 orjson.dumps(e.to_payload()).decode())
        for e in events or events_for(accounts)
    ]


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["stream"], r["stream_seq"]))


def test_link_numbers_each_stream_and_verify_accepts() -> None:
    rows = rows_for(["A", "B", "A", "", "A"])
    heads = link(rows, {})
    assert [r["stream_seq"] for r in rows] == [1, 1, 2, 1, 3]
    assert rows[0]["prev_hash"] == GENESIS and rows[2]["prev_hash"] == rows[0]["hash"]
    assert rows[3]["stream"] == "global"
    assert heads["A"] == Head(3, rows[4]["hash"])
    assert verify(ordered(rows)) == (5, None)


def test_continuing_from_heads_equals_one_batch() -> None:
    events = events_for(["A", "A", "B", "A"])
    one = rows_for([], events)
    link(one, {})
    two = rows_for([], events)
    heads = link(two[:2], {})
    link(two[2:], heads)
    assert [r["hash"] for r in one] == [r["hash"] for r in two]


def test_link_columns_equals_link_on_rows() -> None:
    """The shipper's columnar link gives the same chain fields and heads as ``link`` (which verify checks)."""
    rows = rows_for(["A", "B", "A", "", "A", "B"])
    start = {"A": Head(7, "a" * 64)}
    cols = {c: [r[c] for r in rows] for c in ("stream", "event_id", "event_type", "occurred_at", "account", "payload")}
    seqs, prevs, hashes, heads = link_columns(cols["stream"], cols["event_id"], cols["event_type"],
                                              cols["occurred_at"], cols["account"], cols["payload"], start)
    assert heads == link(rows, start) and start == {"A": Head(7, "a" * 64)}
    assert (seqs, prevs, hashes) == ([r["stream_seq"] for r in rows], [r["prev_hash"] for r in rows],
                                     [r["hash"] for r in rows])
    assert seqs == [8, 1, 9, 1, 10, 2]


def test_link_leaves_input_heads_untouched() -> None:
    heads = {"A": Head(7, "f" * 64)}
    link(rows_for(["A"]), heads)
    assert heads == {"A": Head(7, "f" * 64)}


def test_modified_row_is_the_first_break() -> None:
    rows = rows_for(["A"] * 5)
    link(rows, {})
    rows[2]["payload"] = rows[2]["payload"].replace("50.5", "51.5")
    checked, broken = verify(rows)
    assert checked == 2 and broken is not None
    assert (broken.stream, broken.stream_seq, broken.event_id) == ("A", 3, rows[2]["event_id"])
    assert "modified" in broken.problem


def test_deleted_row_and_duplicate_row_break() -> None:
    rows = rows_for(["A"] * 4)
    link(rows, {})
    assert "missing" in str(verify([rows[0], rows[2], rows[3]])[1])
    assert "duplicated" in str(verify([rows[0], rows[1], rows[1], rows[2]])[1])


def test_rehashed_forgery_is_caught_by_the_next_row() -> None:
    rows = rows_for(["A"] * 3)
    link(rows, {})
    forged = dict(rows[1], payload=rows[1]["payload"].replace('"2"', '"999"'))
    link([forged], {"A": Head(1, rows[0]["hash"])})  # the forger recomputes this row's hash...
    checked, broken = verify([rows[0], forged, rows[2]])
    assert checked == 2 and broken is not None and broken.stream_seq == 3  # ...but the next row still points back


def tamper(column: str, value: Any) -> Any:
    """A different value of the same kind (what an attacker with write access could store)."""
    if column == "occurred_at":
        return value.replace("2026", "2025")
    if column == "event_id":
        return str(uuid4())
    if isinstance(value, int):
        return value + 1
    return value + "x"


@settings(max_examples=150)
@given(index=st.integers(0, 5), column=st.sampled_from([c for c in HASHED_COLUMNS if c != "stream"]))
def test_any_single_column_change_is_detected(index: int, column: str) -> None:
    rows = rows_for(["A"] * 6)
    link(rows, {})
    tampered = [dict(r) for r in rows]
    tampered[index][column] = tamper(column, tampered[index][column])
    checked, broken = verify(tampered)
    assert broken is not None and checked <= index


def test_canonical_forms_of_values_read_back() -> None:
    assert canonical("occurred_at", datetime(2026, 3, 2, 14, 30, tzinfo=UTC)) == "2026-03-02 14:30:00.000000"
    assert canonical("occurred_at", datetime(2026, 3, 2, 14, 30)) == "2026-03-02 14:30:00.000000"  # naive = UTC
    assert canonical("event_id", "6F1E2D7C-1B3A-4C5D-9E8F-0A1B2C3D4E5F") == "6f1e2d7c-1b3a-4c5d-9e8f-0a1b2c3d4e5f"
    assert canonical("stream_seq", "12") == 12 and canonical("payload", None) == ""


def test_identifying_payload_keys_are_dropped() -> None:
    assert scrub_payload('{"symbol": "AAPL"}') == '{"symbol": "AAPL"}'  # untouched: nothing to drop
    assert orjson.loads(scrub_payload('{"a": 1, "account_id": "X", "email": "x@y"}')) == {"a": 1}
    assert scrub_payload('["account_id"]') == '["account_id"]'
    row = ship_row("6f1e2d7c-1b3a-4c5d-9e8f-0a1b2c3d4e5f", "session.logon", "2026-03-02 14:30:00.000000", "",
                   '{"owner_name": "Jane Doe"}')
    assert row["payload"] == "{}" and row["stream"] == "global"
