"""Is the market open? Regular sessions of an ``exchange_calendars`` calendar (XNYS by default).

Loading a calendar takes a fraction of a second, so ``load_calendar`` is cached and the pure
``market_status`` takes the calendar object. ``trading_24h`` (a setting, for demos and tests) opens
the market around the clock. An instant outside the calendar's range (it covers about 20 years back
and one year ahead) is reported closed with that reason rather than raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exchange_calendars import ExchangeCalendar

__all__ = ["MarketStatus", "load_calendar", "market_status"]


@dataclass(frozen=True, slots=True)
class MarketStatus:
    open: bool
    reason: str  # for a reject's Text when closed
    session_close: datetime | None = None  # when open: today's close (early closes included)
    next_open: datetime | None = None  # when closed: the next regular open, if known


@lru_cache(maxsize=4)
def load_calendar(name: str = "XNYS") -> ExchangeCalendar:
    import exchange_calendars

    return exchange_calendars.get_calendar(name)


def _utc(value: object) -> datetime:
    stamp: datetime = value.to_pydatetime()  # type: ignore[attr-defined]
    return stamp.astimezone(UTC)


def _label(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def market_status(calendar: ExchangeCalendar, at: datetime, *, trading_24h: bool = False) -> MarketStatus:
    if at.tzinfo is None:
        raise ValueError("market hours need a timezone-aware (UTC) datetime")
    if trading_24h:
        return MarketStatus(True, "24-hour trading is enabled")
    import pandas as pd
    from exchange_calendars.errors import MinuteOutOfBounds

    minute = pd.Timestamp(at).tz_convert(UTC)
    name = calendar.name
    try:
        if calendar.is_open_on_minute(minute):
            close = calendar.session_close(calendar.minute_to_session(minute))
            return MarketStatus(True, f"{name} regular session", session_close=_utc(close))
        next_open = _utc(calendar.next_open(minute))
    except (MinuteOutOfBounds, ValueError):
        return MarketStatus(False, f"{name} calendar does not cover {_label(at.astimezone(UTC))}")
    return MarketStatus(False, f"{name} is closed; next open {_label(next_open)}", next_open=next_open)
