from datetime import UTC, datetime, timedelta

import pytest

from audit.reports import ReportError, parse_time

NOW = datetime(2026, 11, 21, 15, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("today", datetime(2026, 11, 21, tzinfo=UTC)),
        ("Yesterday", datetime(2026, 11, 20, tzinfo=UTC)),
        ("30d", NOW - timedelta(days=30)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T10:00:00+01:00", datetime(2026, 11, 1, 9, tzinfo=UTC)),
    ],
)
def test_period_words_and_iso_forms(text: str, expected: datetime) -> None:
    assert parse_time(text, "from", now=NOW) == expected


@pytest.mark.parametrize("text", ["last week", "30", "-3d", "2026-13-01", ""])
def test_unreadable_period_is_a_clear_error(text: str) -> None:
    with pytest.raises(ReportError, match="from: expected"):
        parse_time(text, "from", now=NOW)
