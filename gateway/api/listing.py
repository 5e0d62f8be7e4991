"""Path and query parameters, and helpers shared by every paginated list (accounts, orders, fills, cash
movements). Identifiers are checked at the edge (length of their column, no control characters) so that
malformed input is a 422 problem, never a database error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query

from gateway.api.pagination import MAX_LIMIT, Cursor, InvalidCursor
from gateway.api.problems import Problem

NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]+$"
SYMBOL_PATTERN = r"^[A-Za-z0-9.\-]+$"

AccountIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=NO_CONTROL_CHARS)]
OrderIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=NO_CONTROL_CHARS)]
SymbolPath = Annotated[str, Path(min_length=1, max_length=16, pattern=SYMBOL_PATTERN)]
OrderIdParam = Annotated[str | None, Query(min_length=1, max_length=32, pattern=NO_CONTROL_CHARS)]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, at most {MAX_LIMIT}.")]
CursorParam = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]
SymbolParam = Annotated[str | None, Query(min_length=1, max_length=16, pattern=SYMBOL_PATTERN)]
FromParam = Annotated[datetime | None, Query(alias="from", description="Created at or after (ISO 8601; UTC if "
                                                                        "no offset).")]
ToParam = Annotated[datetime | None, Query(alias="to", description="Created before (ISO 8601; UTC if no offset).")]


def invalid_cursor(exc: InvalidCursor) -> Problem:
    return Problem(422, "invalid-cursor", "Invalid cursor", str(exc))


def utc(moment: datetime | None, name: str = "from") -> datetime | None:
    """In UTC; an instant that is outside the representable years once in UTC (e.g. 9999-12-31T23:00-05:00)
    is a 422 problem, not an overflow deep in a driver."""
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:
        raise Problem(422, "invalid-time-range", "Invalid time range",
                      f"`{name}` is out of range (years 1 to 9999, UTC).") from exc


def time_range(start: datetime | None, end: datetime | None) -> tuple[datetime | None, datetime | None]:
    """``from``/``to`` in UTC; an empty or inverted range is a 422 problem."""
    start, end = utc(start, "from"), utc(end, "to")
    if start is not None and end is not None and start >= end:
        problem = Problem(422, "invalid-time-range", "Invalid time range", "`from` must be before `to`.")
        problem.extensions.update({"from": start.isoformat(), "to": end.isoformat()})
        raise problem
    return start, end


def decode_cursor(token: str | None) -> Cursor | None:
    try:
        return Cursor.decode(token) if token else None
    except InvalidCursor as exc:
        raise invalid_cursor(exc) from exc


def page(rows: list[Any], limit: int, id_column: str) -> tuple[list[Any], str | None]:
    """The first ``limit`` of ``limit + 1`` fetched rows, and the cursor after the last one if more exist."""
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = Cursor(rows[-1]["created_at"], str(rows[-1][id_column])).encode() if more else None
    return rows, next_cursor
