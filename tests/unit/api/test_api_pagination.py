from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.api.pagination import Cursor, InvalidCursor, KeyCursor

ids = st.text(st.characters(categories=("L", "N", "P", "S"), include_characters=" "), min_size=1, max_size=64)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@settings(max_examples=150)
@given(moment=moments, row_id=ids)
def test_cursor_round_trips(moment: datetime, row_id: str) -> None:
    token = Cursor(moment, row_id).encode()
    assert token.isascii() and "=" not in token
    assert Cursor.decode(token) == Cursor(moment, row_id)


@settings(max_examples=100)
@given(key=ids)
def test_key_cursor_round_trips(key: str) -> None:
    assert KeyCursor.decode(KeyCursor(key).encode()) == KeyCursor(key)


def test_cursor_keeps_offset_as_the_same_instant() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-5)))
    assert Cursor.decode(Cursor(moment, "O1").encode()).created_at == moment


@pytest.mark.parametrize("token", ["", "!!!", "bm90IGpzb24", "e30", "eyJ0IjoxLCJpZCI6IngifQ",
                                   "eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMCIsImlkIjoiQSJ9", "é"])
def test_garbage_is_an_invalid_cursor(token: str) -> None:
    with pytest.raises(InvalidCursor):
        Cursor.decode(token)


def test_naive_timestamp_cursor_is_refused() -> None:
    import base64
    import json

    raw = base64.urlsafe_b64encode(json.dumps({"t": "2026-01-01T00:00:00", "id": "A"}).encode()).decode()
    with pytest.raises(InvalidCursor):
        Cursor.decode(raw)


@pytest.mark.parametrize("token", ["", "@@", "e30", "eyJrIjoxfQ"])
def test_garbage_is_an_invalid_key_cursor(token: str) -> None:
    with pytest.raises(InvalidCursor):
        KeyCursor.decode(token)


@pytest.mark.parametrize("row_id", ["", "A\x00B", "x" * 65, "line\nbreak"])
def test_cursor_ids_the_ledger_cannot_hold_are_refused(row_id: str) -> None:
    import base64
    import json

    raw = json.dumps({"t": "2026-01-01T00:00:00+00:00", "id": row_id}).encode()
    with pytest.raises(InvalidCursor):
        Cursor.decode(base64.urlsafe_b64encode(raw).decode())
    with pytest.raises(InvalidCursor):
        KeyCursor.decode(base64.urlsafe_b64encode(json.dumps({"k": row_id}).encode()).decode())
