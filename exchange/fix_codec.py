"""quickfix messages ⇄ the exchange's plain values. Decoding never raises: a field that cannot be read
becomes a ``Malformed`` with the tag and a reason. Decimals go on the wire as text (never via float).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import quickfix as fix
import quickfix44 as fix44

from exchange.client_orders import ChangeRequest, OrderRequest
from exchange.market_data import MdEntry, MdReject
from exchange.reports import CancelReject, ExecReport
from fixsession.messages import msg_type, wire_text


class Malformed(Exception):
    def __init__(self, tag: int, reason: str) -> None:
        super().__init__(f"tag {tag}: {reason}")
        self.tag = tag
        self.reason = reason


def text(message: fix.FieldMap | _Cracked, tag: int, required: bool = True) -> str | None:
    if type(message) is _Cracked:  # the common case: one dict look-up
        value = message.fields.get(str(tag))
        if value is not None:
            return value
    else:
        try:
            if message.isSetField(tag):
                return str(message.getField(tag))
        except Exception as exc:  # quickfix raises its own types for odd fields
            raise Malformed(tag, str(exc)) from exc
    if required:
        raise Malformed(tag, "required field missing")
    return None


def req_text(message: fix.FieldMap | _Cracked, tag: int) -> str:
    value = text(message, tag)
    assert value is not None
    return value


def decimal(message: fix.FieldMap | _Cracked, tag: int, required: bool = False) -> Decimal | None:
    raw = text(message, tag, required)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise Malformed(tag, f"not a number: {raw!r}") from exc
    if not value.is_finite():
        raise Malformed(tag, f"not a finite number: {raw!r}")
    return value


def wire(value: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros."""
    return format(value.normalize(), "f")


_second: tuple[int, str] = (-1, "")  # the last second, formatted


def utc_timestamp() -> str:
    """Now as a FIX UTCTimestamp with milliseconds (the date and time of day formatted once a second)."""
    global _second
    second, nanos = divmod(time.time_ns(), 1_000_000_000)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{nanos // 1_000_000:03d}"


# Decoding -----------------------------------------------------------------------------------------
# Length-prefixed data fields may hold SOH: a message with one is read field by field, not split.
_DATA_TAGS = frozenset({"89", "91", "96", "213", "349", "351", "353", "355", "357", "359", "361", "363", "365",
                        "446", "619", "622"})


class _Cracked:
    """A message's fields from its wire text (one call into the binding, ADR 020), read like a FieldMap:
    ``isSetField``/``getField`` by tag, the first occurrence of a tag winning (a body field before a group's)."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields

    def isSetField(self, tag: int) -> bool:
        return str(tag) in self.fields

    def getField(self, tag: int) -> str:
        return self.fields[str(tag)]


def crack(message: fix.Message | _Cracked) -> fix.Message | _Cracked:
    """``message`` read from its wire text, or ``message`` itself when it carries a data field (or is read
    already)."""
    if isinstance(message, _Cracked):
        return message
    fields: dict[str, str] = {}
    for part in wire_text(message).split("\x01"):
        tag, _, value = part.partition("=")
        if tag not in fields:
            fields[tag] = value
    return message if not _DATA_TAGS.isdisjoint(fields) else _Cracked(fields)


def kind(message: fix.Message | _Cracked) -> str:
    """MsgType (35) of a message read by ``crack``."""
    if type(message) is _Cracked:
        return message.fields.get("35", "")
    return msg_type(message)


def order_request(message: fix.Message | _Cracked) -> OrderRequest:
    message = crack(message)
    return OrderRequest(
        cl_ord_id=req_text(message, 11), symbol=req_text(message, 55), side=req_text(message, 54),
        ord_type=req_text(message, 40), time_in_force=text(message, 59, False) or "0",
        qty=decimal(message, 38, True) or Decimal(0), price=decimal(message, 44), stop_px=decimal(message, 99),
        account=text(message, 1, False),
        # order types (fix_specs/order-types.md): ExecInst, PegOffsetValue, SelfTradePreventionMode
        exec_inst=text(message, 18, False), peg_offset=decimal(message, 211), stp=text(message, 7940, False))


def change_request(message: fix.Message | _Cracked, is_replace: bool) -> ChangeRequest:
    message = crack(message)
    return ChangeRequest(
        cl_ord_id=req_text(message, 11), orig_cl_ord_id=req_text(message, 41),
        symbol=req_text(message, 55), side=req_text(message, 54),
        qty=decimal(message, 38, is_replace), price=decimal(message, 44), stop_px=decimal(message, 99),
        ord_type=text(message, 40, False), time_in_force=text(message, 59, False))


def _count(message: fix.Message, tag: int) -> int:
    raw = text(message, tag, False) or "0"
    if not (raw.isascii() and raw.isdigit() and len(raw) < 19) or int(raw) > 10_000:
        raise Malformed(tag, f"not a group count: {raw!r}")
    return int(raw)


def md_request(message: fix.Message) -> tuple[str, str, int, list[str], list[str]]:
    """(MDReqID, SubscriptionRequestType, MarketDepth, entry types, symbols) of a 35=V."""
    req_id, request_type = req_text(message, 262), req_text(message, 263)
    depth_text = text(message, 264, False) or "0"
    if not (depth_text.isascii() and depth_text.isdigit() and len(depth_text) < 19):
        raise Malformed(264, f"not a depth: {depth_text!r}")
    types, symbols = [], []
    group = fix44.MarketDataRequest.NoMDEntryTypes()
    for i in range(1, _count(message, 267) + 1):
        if not message.hasGroup(i, group):  # getGroup of a missing entry throws in C++: an abort
            raise Malformed(267, "NoMDEntryTypes does not match its entries")
        message.getGroup(i, group)
        types.append(req_text(group, 269))
    related = fix44.MarketDataRequest.NoRelatedSym()
    for i in range(1, _count(message, 146) + 1):
        if not message.hasGroup(i, related):
            raise Malformed(146, "NoRelatedSym does not match its entries")
        message.getGroup(i, related)
        symbols.append(req_text(related, 55))
    return req_id, request_type, int(depth_text), types, symbols


# Encoding -----------------------------------------------------------------------------------------
def _set(fields: fix.FieldMap, tag: int, value: object) -> None:
    if value is None:
        return
    fields.setField(tag, wire(value) if isinstance(value, Decimal) else str(value))


def _from_text(head: str, pairs: Sequence[tuple[int, object]]) -> fix.Message | None:
    """The message parsed by QuickFIX from its text in one call (not a ``setField`` per field), or None when a
    value holds SOH (the binding aborts the process on text it cannot parse: set those field by field)."""
    parts = [f"{tag}={value.normalize():f}\x01" if isinstance(value, Decimal) else f"{tag}={value}\x01"
             for tag, value in pairs if value is not None]
    body = "".join(parts)
    if body.count("\x01") != len(parts):
        return None
    return fix.Message(head + body, False)


_DECIMAL_TEXT: dict[Decimal, str] = {}  # wire text of the Decimals reports carry (prices, quantities): few


def _decimal_text(value: Decimal) -> str:
    text = _DECIMAL_TEXT.get(value)
    if text is None:
        text = f"{value.normalize():f}"
        # equal Decimals (1.10 and 1.1) have the same wire text; zero is left out (-0 would print as 0)
        if value and len(_DECIMAL_TEXT) < 4096:
            _DECIMAL_TEXT[value] = text
    return text


def _report_text(r: ExecReport) -> tuple[str, int]:
    """The body of a report's text and how many fields it holds (in ``execution_report``'s tag order)."""
    parts = [f"37={r.order_id}\x0111={r.cl_ord_id}\x01"]
    fields = 2
    for tag, value in (("41=", r.orig_cl_ord_id), ("17=", r.exec_id), ("150=", r.exec_type), ("39=", r.ord_status),
                       ("103=", r.ord_rej_reason), ("1=", r.account), ("55=", r.symbol), ("54=", r.side),
                       ("38=", r.order_qty), ("40=", r.ord_type), ("44=", r.price), ("99=", r.stop_px),
                       ("59=", r.time_in_force), ("32=", r.last_qty), ("31=", r.last_px), ("151=", r.leaves_qty),
                       ("14=", r.cum_qty), ("6=", r.avg_px), ("60=", utc_timestamp()),
                       ("851=", r.last_liquidity_ind), ("58=", r.text), ("378=", r.exec_restatement_reason)):
        if value is None:
            continue
        fields += 1
        if type(value) is Decimal:
            value = _DECIMAL_TEXT.get(value) or _decimal_text(value)
        parts.append(f"{tag}{value}\x01")
    return "".join(parts), fields


def execution_report(r: ExecReport) -> fix.Message:
    body, fields = _report_text(r)
    if body.count("\x01") == fields:  # no SOH inside a value: QuickFIX parses the text in one call
        return fix.Message(("8=FIX.4.4\x0135=8\x0197=Y\x01" if r.poss_resend else "8=FIX.4.4\x0135=8\x01") + body,
                           False)
    pairs = (
        (37, r.order_id), (11, r.cl_ord_id), (41, r.orig_cl_ord_id), (17, r.exec_id), (150, r.exec_type),
        (39, r.ord_status), (103, r.ord_rej_reason), (1, r.account), (55, r.symbol), (54, r.side),
        (38, r.order_qty), (40, r.ord_type), (44, r.price), (99, r.stop_px), (59, r.time_in_force),
        (32, r.last_qty), (31, r.last_px), (151, r.leaves_qty), (14, r.cum_qty), (6, r.avg_px),
        (60, utc_timestamp()), (851, r.last_liquidity_ind), (58, r.text),
        (378, r.exec_restatement_reason),
    )
    m = fix44.ExecutionReport()
    for tag, value in pairs:
        _set(m, tag, value)
    if r.poss_resend:
        m.getHeader().setField(97, "Y")
    return m


def cancel_reject(r: CancelReject) -> fix.Message:
    pairs = ((37, r.order_id), (11, r.cl_ord_id), (41, r.orig_cl_ord_id), (39, r.ord_status),
             (1, r.account), (60, utc_timestamp()), (434, r.response_to), (102, r.reason), (58, r.text))
    fast = _from_text("8=FIX.4.4\x0135=9\x01", pairs)
    if fast is not None:
        return fast
    m = fix44.OrderCancelReject()
    for tag, value in pairs:
        _set(m, tag, value)
    return m


def md_reject(r: MdReject) -> fix.Message:
    m = fix44.MarketDataRequestReject()
    _set(m, 262, r.req_id)
    _set(m, 281, r.reason)
    _set(m, 58, r.text)
    return m


def snapshot(req_id: str, symbol: str, entries: list[MdEntry]) -> fix.Message:
    m = fix44.MarketDataSnapshotFullRefresh()
    _set(m, 262, req_id)
    _set(m, 55, symbol)
    if not entries:
        m.setField(268, "0")
    for e in entries:
        group = fix44.MarketDataSnapshotFullRefresh.NoMDEntries()
        for tag, value in ((269, e.entry_type), (270, e.price), (271, e.size), (290, e.position)):
            _set(group, tag, value)
        m.addGroup(group)
    return m


def incremental(req_id: str, entries: list[MdEntry]) -> fix.Message:
    m = fix44.MarketDataIncrementalRefresh()
    _set(m, 262, req_id)
    for e in entries:
        group = fix44.MarketDataIncrementalRefresh.NoMDEntries()
        for tag, value in ((279, e.action), (269, e.entry_type), (55, e.symbol), (270, e.price), (271, e.size),
                           (290, e.position)):
            _set(group, tag, value)
        m.addGroup(group)
    return m
