"""Market hours from the real XNYS calendar: regular session, weekend, holiday, early close, 24h override."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.oms.market_hours import load_calendar, market_status

XNYS = load_calendar("XNYS")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc, arg-type]


def test_open_during_the_regular_session_with_its_close() -> None:
    status = market_status(XNYS, utc(2026, 11, 20, 15, 0))  # Friday 10:00 ET
    assert status.open and status.session_close == utc(2026, 11, 20, 21, 0)


def test_session_bounds_open_inclusive_close_exclusive() -> None:
    assert market_status(XNYS, utc(2026, 11, 20, 14, 30)).open
    assert not market_status(XNYS, utc(2026, 11, 20, 14, 29)).open
    assert market_status(XNYS, utc(2026, 11, 20, 20, 59, 59)).open
    assert not market_status(XNYS, utc(2026, 11, 20, 21, 0)).open


def test_weekend_is_closed_with_next_open() -> None:
    status = market_status(XNYS, utc(2026, 11, 21, 19, 0))  # Saturday
    assert not status.open
    assert status.next_open == utc(2026, 11, 23, 14, 30)
    assert status.reason == "XNYS is closed; next open 2026-11-23 14:30 UTC"


def test_thanksgiving_holiday_and_early_close_next_day() -> None:
    assert not market_status(XNYS, utc(2026, 11, 26, 16, 0)).open  # Thanksgiving
    friday = market_status(XNYS, utc(2026, 11, 27, 15, 0))
    assert friday.open and friday.session_close == utc(2026, 11, 27, 18, 0)  # 13:00 ET
    assert not market_status(XNYS, utc(2026, 11, 27, 18, 30)).open


def test_other_timezones_are_converted() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert market_status(XNYS, datetime(2026, 11, 20, 10, 0, tzinfo=eastern)).open


def test_24h_override_and_out_of_range() -> None:
    assert market_status(XNYS, utc(2026, 11, 21, 3, 0), trading_24h=True).open
    far = market_status(XNYS, utc(2090, 1, 2, 15, 0))
    assert not far.open and "does not cover" in far.reason


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        market_status(XNYS, datetime(2026, 11, 20, 15, 0))


def test_calendar_is_loaded_once() -> None:
    assert load_calendar("XNYS") is XNYS
