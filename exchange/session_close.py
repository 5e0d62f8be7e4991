"""When the exchange's trading day ends (Day orders expire): the closes of an exchange calendar, or a fixed
daily wall-clock time in a time zone (24-hour trading). The calendar is read through ``exchange_calendars``
(XNYS: 16:00 America/New_York, early closes included, no weekends or holidays).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class CloseSchedule:
    calendar: str | None = "XNYS"  # None: every day at ``daily`` in ``tz``
    daily: time = time(16, 0)
    tz: str = "America/New_York"

    @classmethod
    def daily_at(cls, at: time, tz: str = "UTC") -> CloseSchedule:
        return cls(None, at, tz)

    def describe(self) -> str:
        return f"{self.calendar} session closes" if self.calendar else f"daily at {self.daily.isoformat()} {self.tz}"

    def _calendar(self) -> Any:
        import exchange_calendars

        return exchange_calendars.get_calendar(self.calendar)

    def next_after(self, at: datetime) -> datetime | None:
        """The first close strictly after ``at`` (None: beyond the calendar's range)."""
        if self.calendar is None:
            zone = ZoneInfo(self.tz)
            local = at.astimezone(zone)
            candidate = datetime.combine(local.date(), self.daily, tzinfo=zone)
            while candidate <= at:
                candidate = datetime.combine(candidate.date() + timedelta(days=1), self.daily, tzinfo=zone)
            return candidate.astimezone(UTC)
        import pandas as pd

        try:
            close = self._calendar().next_close(pd.Timestamp(at).tz_convert(UTC).floor("min"))
        except Exception:  # outside the calendar's range
            return None
        stamp: datetime = close.to_pydatetime().astimezone(UTC)
        return stamp if stamp > at else self.next_after(stamp)

    def last_at_or_before(self, at: datetime) -> datetime | None:
        """The latest close at or before ``at`` (None: none known)."""
        if self.calendar is None:
            zone = ZoneInfo(self.tz)
            local = at.astimezone(zone)
            candidate = datetime.combine(local.date(), self.daily, tzinfo=zone)
            while candidate > at:
                candidate = datetime.combine(candidate.date() - timedelta(days=1), self.daily, tzinfo=zone)
            return candidate.astimezone(UTC)
        import pandas as pd

        try:
            close = self._calendar().previous_close(pd.Timestamp(at).tz_convert(UTC).ceil("min"))
        except Exception:
            return None
        stamp: datetime = close.to_pydatetime().astimezone(UTC)
        return stamp if stamp <= at else None
