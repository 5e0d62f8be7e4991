"""Compliance reports: one SQL file per report in ``audit/reports/``, parameters bound by the engine.

Every report takes the same parameters: ``{from_ts:DateTime64(6, 'UTC')}`` and ``{to_ts:...}`` (the period,
``to`` excluded), ``{account:String}`` (an account PSEUDONYM, '' for all) and ``{symbol:String}`` ('' for
all). The caller names a real account id; it is turned into its pseudonym here, and pseudonyms in the
result are turned back into account ids while the mapping exists (forgotten accounts stay pseudonymous).
"""

from __future__ import annotations

import asyncio
import functools
import re
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from audit.pseudonyms import PseudonymStore
from audit.rows import canonical
from audit.sink import AuditSink, QueryResult

REPORTS_DIR = Path(__file__).with_name("reports")
NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]{0,15}$")
ACCOUNT = re.compile(r"^[A-Za-z0-9_\-:.]{1,32}$")
NO_SUCH_ACCOUNT = "-"  # a pseudonym no account has: an unknown or forgotten account matches nothing


class ReportError(ValueError):
    """A bad report request (unknown name, bad period or filter): the caller's mistake."""


def report_names() -> list[str]:
    return sorted(p.stem for p in REPORTS_DIR.glob("*.sql"))


def report_sql(name: str) -> str:
    if not NAME.match(name) or name not in report_names():
        raise ReportError(f"unknown report {name!r}; available: {', '.join(report_names())}")
    return (REPORTS_DIR / f"{name}.sql").read_text()


RELATIVE_DAYS = re.compile(r"^(\d{1,4})d$")
# What ClickHouse's DateTime64 holds: a period outside it is the caller's mistake (422), not an engine error.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, tzinfo=UTC)


def parse_time(value: str | datetime, what: str, now: datetime | None = None) -> datetime:
    """ISO-8601 date or timestamp (UTC unless it says otherwise), or a word people type at a terminal:
    ``now``, ``today`` / ``yesterday`` (midnight UTC), ``30d`` (30 days before now)."""
    if isinstance(value, datetime):
        ts = value
    else:
        text = value.strip().lower()
        at = (now or datetime.now(UTC)).astimezone(UTC)
        midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
        relative = RELATIVE_DAYS.match(text)
        if text == "now":
            return at
        if text == "today":
            return midnight
        if text == "yesterday":
            return midnight - timedelta(days=1)
        if relative:
            return at - timedelta(days=int(relative.group(1)))
        try:
            ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ReportError(
                f"{what}: expected an ISO-8601 date or timestamp, now, today, yesterday or Nd, got {value!r}"
            ) from None
    try:
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except OverflowError:
        raise ReportError(f"{what}: {value!r} is out of range") from None
    if not EARLIEST <= ts <= LATEST:
        raise ReportError(f"{what}: {ts:%Y-%m-%d} is out of range (the audit trail holds {EARLIEST:%Y} to "
                          f"{LATEST:%Y})")
    return ts


@dataclass(frozen=True, slots=True)
class ReportRequest:
    name: str
    from_ts: datetime
    to_ts: datetime
    account: str | None = None
    symbol: str | None = None

    @classmethod
    def parse(
        cls, name: str, from_: str | datetime, to: str | datetime, account: str | None = None,
        symbol: str | None = None,
    ) -> ReportRequest:
        report_sql(name)
        start, end = parse_time(from_, "from"), parse_time(to, "to")
        if end <= start:
            raise ReportError("the period is empty: 'to' must be after 'from'")
        if account is not None and account != "" and not ACCOUNT.match(account):
            raise ReportError(f"invalid account id {account!r}")
        if symbol:
            symbol = symbol.strip().upper()
            if not SYMBOL.match(symbol):
                raise ReportError(f"invalid symbol {symbol!r}")
        return cls(name, start, end, account or None, symbol or None)

    def params(self, account_ref: str) -> dict[str, str]:
        return {
            "from_ts": canonical("occurred_at", self.from_ts),
            "to_ts": canonical("occurred_at", self.to_ts),
            "account": account_ref,
            "symbol": self.symbol or "",
        }


async def run_report(
    sink: AuditSink, request: ReportRequest, names: PseudonymStore | None, executor: Executor | None = None,
) -> QueryResult:
    """Run the report against ``sink`` (its report connection, in ``executor``'s threads: the shipper gives
    reports a pool of their own so they never take the threads its inserts run in); ``names`` resolves the
    account filter and re-identifies results."""
    account_ref = ""
    if request.account:
        if names is None:
            raise ReportError("an account filter needs PostgreSQL (the pseudonym mapping)")
        account_ref = await names.lookup(request.account) or NO_SUCH_ACCOUNT
    query = functools.partial(sink.report, report_sql(request.name), request.params(account_ref))
    result = await asyncio.get_running_loop().run_in_executor(executor, query)
    if names is None or "account" not in result.columns:
        return result
    at = result.columns.index("account")
    known = await names.reveal(str(row[at]) for row in result.rows)
    rows = [(*row[:at], known.get(str(row[at]), row[at]), *row[at + 1 :]) for row in result.rows]
    return QueryResult(result.columns, rows)


class SinkRunner:
    """Runs reports in this process (the shipper, or anything talking to a ClickHouse server)."""

    def __init__(self, sink: AuditSink, names: PseudonymStore | None) -> None:
        self.sink, self.names = sink, names

    async def run(self, request: ReportRequest) -> QueryResult:
        return await run_report(self.sink, request, self.names)


def json_value(value: Any) -> Any:
    """A result value as JSON: decimals as strings (exact), timestamps ISO-8601 UTC."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def csv_cell(value: Any) -> Any:
    """A result value for a CSV export, safe to open in a spreadsheet (OWASP "CSV injection"): text that starts
    with ``= + - @``, a tab or a carriage return gets a leading ``'`` so it is shown, never evaluated as a
    formula. A plain number (``-1000``, ``+1.5e3``) is left as it is: it cannot be a formula."""
    value = json_value(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def result_to_json(result: QueryResult) -> dict[str, Any]:
    return {"columns": result.columns, "rows": [[json_value(v) for v in row] for row in result.rows]}


def result_from_json(body: dict[str, Any]) -> QueryResult:
    return QueryResult(list(body["columns"]), [tuple(row) for row in body["rows"]])
