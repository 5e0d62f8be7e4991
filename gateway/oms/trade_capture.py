"""Trade capture: TradeCaptureReportRequest (35=AD) answered from the ledger's fills (ADR 027,
fix_specs/drop-copy.md).

A client session sees the trades of the accounts it may trade for; a drop-copy session those of the
accounts it is linked to (or all). The answer is one TradeCaptureReport (35=AE) per fill, oldest first,
each carrying the request's TradeRequestID (568), TotNumTradeReports (748) and LastRptRequested (912=Y on
the last); no matching fill, or a request that cannot be served, is answered with one
TradeCaptureReportRequestAck (35=AQ) that says so (FIX 4.4: the Ack "indicates that no trades were found
that matched the selection criteria" or that the request was invalid).

The decisions (:func:`decide`, :func:`trade_reports`, :func:`request_ack`) are pure; :class:`TradeCapture`
is the shell: it reads the fills and sends the answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import asyncpg
import quickfix as fix
import structlog

from fixsession.messages import session_key
from gateway.oms.drop_copy import DropCopy
from gateway.oms.fix_codec import (
    BadField,
    Fields,
    TradeCaptureRequest,
    build_group_message,
    build_message,
    field_list,
    parse_trade_capture_request,
    transact_time,
)
from gateway.oms.model import Side, UnknownCode

__all__ = ["MAX_REPORTS", "Refusal", "Trade", "TradeCapture", "TradeQuery", "decide", "request_ack", "trade_reports"]

log = structlog.get_logger(__name__)

ALL_TRADES = "0"  # TradeRequestType (569): the only one served
SNAPSHOT = "0"  # SubscriptionRequestType (263): snapshot only (the drop copy is the live stream)
MAX_REPORTS = 1_000  # more matching fills: refused, narrow the request (dates, symbol, account): an answer
# costs the event loop ~0.1 ms of CPU per report, so one request may not monopolise it

# TradeRequestResult (749)
SUCCESSFUL, INVALID_INSTRUMENT, TYPE_NOT_SUPPORTED, UNAUTHORIZED, OTHER = "0", "1", "8", "9", "99"
# TradeRequestStatus (750)
COMPLETED, REJECTED = "1", "2"


@dataclass(frozen=True, slots=True)
class TradeQuery:
    """What the fills are filtered by (``accounts`` None: every account)."""

    accounts: frozenset[str] | None
    symbol: str | None = None
    side: str | None = None  # ledger word
    order_id: str | None = None
    exec_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class Refusal:
    result: str  # TradeRequestResult (749)
    text: str


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill as the ledger holds it (``executions`` with exec_type 'trade', and its order)."""

    exec_id: str
    order_id: str
    cl_ord_id: str
    account_id: str
    symbol: str
    side: str  # ledger word
    last_qty: Decimal
    last_px: Decimal
    transact_time: datetime


def _day(text: str) -> date:
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        raise ValueError(f"TradeDate (75) {text!r} is not YYYYMMDD")
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def _time(text: str) -> datetime:
    for layout in ("%Y%m%d-%H:%M:%S.%f", "%Y%m%d-%H:%M:%S"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"TransactTime (60) {text!r} is not a UTCTimestamp")


def _bounds(dates: Sequence[tuple[str | None, str | None]]) -> tuple[datetime | None, datetime | None]:
    """NoDates (580): one entry = that TradeDate (UTC day), or from that TransactTime on; two = from the
    first to the second (a TradeDate bound includes its whole day). TransactTime wins over TradeDate."""
    if len(dates) > 2:
        raise ValueError("NoDates (580): at most 2 entries (from, to)")
    if not dates:
        return None, None

    def start(entry: tuple[str | None, str | None]) -> datetime:
        trade_date, at = entry
        if at:
            return _time(at)
        if trade_date:
            return datetime.combine(_day(trade_date), time(), UTC)
        raise ValueError("a NoDates (580) entry needs TradeDate (75) or TransactTime (60)")

    def end(entry: tuple[str | None, str | None]) -> datetime:
        at = entry[1]
        if at:
            return _time(at) + timedelta(microseconds=1)
        return start(entry) + timedelta(days=1)

    if len(dates) == 1:
        return start(dates[0]), (end(dates[0]) if not dates[0][1] else None)
    return start(dates[0]), end(dates[1])


def decide(request: TradeCaptureRequest, visible: frozenset[str] | None) -> TradeQuery | Refusal:
    """What a request asks for, or why it is refused. ``visible``: the accounts the session may see (None:
    all, a drop-copy session linked to every account)."""
    if request.trade_request_type != ALL_TRADES:
        return Refusal(TYPE_NOT_SUPPORTED, f"TradeRequestType (569) {request.trade_request_type!r} not supported: "
                                           "only 0 (all trades)")
    if request.subscription not in (None, SNAPSHOT):
        return Refusal(OTHER, "SubscriptionRequestType (263): only 0 (snapshot); a drop-copy session streams "
                              "every execution report")
    if visible is not None and not visible:
        return Refusal(UNAUTHORIZED, "this session has no accounts")
    asked = frozenset(request.accounts)
    if asked and visible is not None and not asked <= visible:
        unknown = ", ".join(sorted(asked - visible))
        return Refusal(UNAUTHORIZED, f"not an account of this session: {unknown}")
    side = None
    if request.side is not None:
        try:
            side = Side.from_fix(request.side).ledger
        except UnknownCode:
            return Refusal(OTHER, f"Side (54) {request.side!r} not supported")
    try:
        since, until = _bounds(request.dates)
    except ValueError as error:
        return Refusal(OTHER, str(error))
    return TradeQuery(asked or visible, request.symbol, side, request.order_id, request.exec_id, since, until)


def trade_reports(request_id: str, trades: Sequence[Trade]) -> list[tuple[Fields, Fields]]:
    """One TradeCaptureReport (35=AE) per fill: its fields and its one side (NoSides 552)."""
    total = len(trades)
    out: list[tuple[Fields, Fields]] = []
    for index, trade in enumerate(trades, start=1):
        body = field_list((
            (571, trade.exec_id), (568, request_id), (150, "F"), (748, total), (912, "Y" if index == total else "N"),
            (17, trade.exec_id), (570, "N"), (55, trade.symbol), (32, trade.last_qty), (31, trade.last_px),
            (75, trade.transact_time.strftime("%Y%m%d")), (60, transact_time(trade.transact_time)),
        ))
        side = field_list(((54, Side.from_ledger(trade.side).value), (37, trade.order_id), (11, trade.cl_ord_id),
                           (1, trade.account_id)))
        out.append((body, side))
    return out


def request_ack(request: TradeCaptureRequest, refusal: Refusal | None) -> Fields:
    """TradeCaptureReportRequestAck (35=AQ): no fill matched (749=0, 750=1, 748=0), or refused (750=2)."""
    if refusal is None:
        result, status, text = SUCCESSFUL, COMPLETED, "no trades match the request"
    else:
        result, status, text = refusal.result, REJECTED, refusal.text
    return field_list(((568, request.trade_request_id), (569, request.trade_request_type),
                       (263, request.subscription), (748, 0), (749, result), (750, status),
                       (55, request.symbol), (58, text)))


_FILLS = (
    "SELECT e.exec_id, e.order_id, coalesce(o.current_cl_ord_id, o.cl_ord_id) AS cl_ord_id, e.account_id, e.symbol, "
    "e.side, e.last_qty, e.last_px, e.transact_time FROM executions e JOIN orders o ON o.order_id = e.order_id "
    "WHERE e.exec_type = 'trade' AND ($1::text[] IS NULL OR e.account_id = ANY($1)) "
    "AND ($2::text IS NULL OR e.symbol = $2) AND ($3::text IS NULL OR e.side = $3) "
    "AND ($4::text IS NULL OR e.order_id = $4) AND ($5::text IS NULL OR e.exec_id = $5) "
    "AND ($6::timestamptz IS NULL OR e.transact_time >= $6) AND ($7::timestamptz IS NULL OR e.transact_time < $7) "
    "ORDER BY e.seq LIMIT $8")


async def load_trades(conn: asyncpg.Pool | asyncpg.Connection, query: TradeQuery, limit: int) -> list[Trade]:
    accounts = sorted(query.accounts) if query.accounts is not None else None
    rows = await conn.fetch(_FILLS, accounts, query.symbol, query.side, query.order_id, query.exec_id,
                            query.since, query.until, limit)
    return [Trade(**dict(row)) for row in rows]


Sender = Callable[[fix.SessionID, fix.Message], bool]


class TradeCapture:
    """The 35=AD handler of the client acceptor (client and drop-copy sessions alike)."""

    def __init__(self, pool: asyncpg.Pool, send: Sender, session_accounts: dict[str, tuple[str, frozenset[str]]],
                 drop_copy: DropCopy, max_reports: int = MAX_REPORTS) -> None:
        self.pool = pool
        self._send = send
        self.session_accounts = session_accounts  # client sessions: SenderCompID -> (default, allowed)
        self.drop_copy = drop_copy  # drop-copy sessions' links
        self.max_reports = max_reports

    def visible(self, comp_id: str) -> frozenset[str] | None:
        """The accounts a session may see the trades of (None: all)."""
        if comp_id in self.drop_copy.routes.sessions():
            return self.drop_copy.routes.accounts_of(comp_id)
        return self.session_accounts.get(comp_id, ("", frozenset()))[1]

    async def on_request(self, sid: fix.SessionID, message: fix.Message) -> None:
        comp_id = session_key(sid).rsplit("->", 1)[-1]
        try:
            request = parse_trade_capture_request(message)
        except BadField as error:
            self._send(sid, build_message("AQ", field_list((
                (568, "NONE"), (569, ALL_TRADES), (749, OTHER), (750, REJECTED), (58, f"invalid message: {error}")))))
            return
        decided = decide(request, self.visible(comp_id))
        if isinstance(decided, Refusal):
            log.info("oms.trade_capture_refused", session=comp_id, request=request.trade_request_id, text=decided.text)
            self._send(sid, build_message("AQ", request_ack(request, decided)))
            return
        trades = await load_trades(self.pool, decided, self.max_reports + 1)
        if len(trades) > self.max_reports:
            self._send(sid, build_message("AQ", request_ack(request, Refusal(
                OTHER, f"more than {self.max_reports} trades match: narrow the request (NoDates 580, Symbol 55, "
                       "Parties 453)"))))
            return
        if not trades:
            self._send(sid, build_message("AQ", request_ack(request, None)))
            return
        for body, side in trade_reports(request.trade_request_id, trades):
            self._send(sid, build_group_message("AE", body, 552, [side]))
        log.info("oms.trade_capture_answered", session=comp_id, request=request.trade_request_id, trades=len(trades))
