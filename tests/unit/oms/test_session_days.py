"""Session days (ADR 010): the trading day a ClOrdID belongs to, which inbound mark a store's sequence
numbers compare with, and the in-memory marks across a reset."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from gateway.oms.inbound_marks import InboundMarks
from gateway.oms.session_days import (
    NO_SESSION_START,
    cl_ord_id_since,
    parse_session_start,
    rewind_to,
    session_start_tag_value,
    trading_day,
)

DAY1 = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
DAY2 = datetime(2026, 12, 2, 0, 0, 0, tzinfo=UTC)


def test_the_trading_day_is_the_utc_session_day() -> None:
    assert trading_day(datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC)) == date(2026, 12, 1)
    assert trading_day(datetime(2026, 12, 2, 0, 0, tzinfo=UTC)) == date(2026, 12, 2)
    # 19:30 in New York on 1 December is 00:30 UTC on the 2nd: already the next session day
    new_york = timezone(timedelta(hours=-5))
    assert trading_day(datetime(2026, 12, 1, 19, 30, tzinfo=new_york)) == date(2026, 12, 2)


def test_a_session_day_starting_in_the_evening_belongs_to_the_next_date() -> None:
    five_pm = time(17, 0)
    assert trading_day(datetime(2026, 12, 1, 16, 59, tzinfo=UTC), five_pm) == date(2026, 12, 1)
    assert trading_day(datetime(2026, 12, 1, 17, 0, tzinfo=UTC), five_pm) == date(2026, 12, 2)


def test_a_naive_time_has_no_trading_day() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        trading_day(datetime(2026, 12, 1, 12, 0))


def test_cl_ord_id_scope() -> None:
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert cl_ord_id_since("trading_day", at) == date(2026, 12, 2)
    assert cl_ord_id_since("forever", at) == date.min


def test_rewind_compares_with_the_mark_of_the_same_store_only() -> None:
    marks = {DAY1: 900}
    # yesterday's store handled up to 900; today's store (reset) expects 41 and nothing of it is marked:
    # the old rule (expected 41 <= 900 + 1: nothing to do) lost 1..40; now ask again from 1
    assert rewind_to(41, marks, DAY2) == 1
    assert rewind_to(41, {**marks, DAY2: 30}, DAY2) == 31
    assert rewind_to(31, {**marks, DAY2: 30}, DAY2) is None  # all handled
    assert rewind_to(1, {}, DAY2) is None  # a fresh store
    assert rewind_to(950, marks, DAY1) == 901  # the same day as before


def test_session_start_round_trips_through_the_header_tag() -> None:
    assert parse_session_start(session_start_tag_value(DAY1)) == DAY1
    assert parse_session_start(None) == NO_SESSION_START


def test_in_memory_marks_start_again_after_a_reset() -> None:
    marks = InboundMarks()
    for seq in range(1, 501):
        marks.begin(DAY1, seq)
        marks.done(DAY1, seq)
    marks.begin(DAY1, 501)  # still being applied when the reset comes
    assert marks.handled(DAY1) == 500
    marks.begin(DAY2, 1)
    marks.done(DAY2, 1)
    marks.begin(DAY2, 2)
    assert marks.current == DAY2
    assert marks.handled(DAY2) == 1  # never 500: the new store's numbers are its own
    assert sorted(marks.unsaved()) == [(DAY1, 500), (DAY2, 1)]
    marks.mark_saved(DAY2, 1)
    marks.mark_saved(DAY1, 500)
    assert DAY1 in marks.days  # 501 still in flight: kept
    marks.done(DAY1, 501)
    assert marks.unsaved() == [(DAY1, 501)]
    marks.mark_saved(DAY1, 501)
    assert DAY1 not in marks.days  # drained and saved: forgotten
    marks.seen(DAY2, 3)
    marks.done(DAY2, 2)
    assert marks.handled(DAY2) == 3
