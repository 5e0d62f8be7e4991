"""FIX messages ⇄ order-entry commands and reports (the only module of the order path touching quickfix).

Reading never raises into QuickFIX: an inbound message is cracked once (``crack``: its wire form in one call
into the binding, split into tag → value; ADR 020) instead of a checked ``getField`` per field, and a missing
or malformed field becomes a ``BadField`` the service answers with a reject.
Quantities and prices travel as Decimal; a client report is kept as its (tag, value) list so the same
report can be stored (``executions.fix_fields``) and re-sent after a crash.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import quickfix as fix
import quickfix44 as fix44  # the generated FIX 4.4 groups (their field order) for 35=AD's groups

from fixsession.messages import body_value, carried, header_value, wire_text
from gateway.oms.model import ClOrdID, OrdType, Side, TimeInForce, UnknownCode
from gateway.oms.session_days import SESSION_START_TAG, parse_session_start

__all__ = [
    "BadField",
    "CancelCommand",
    "MassCancelCommand",
    "MassStatusCommand",
    "NewOrderCommand",
    "ReplaceCommand",
    "StatusCommand",
    "TradeCaptureRequest",
    "VenueCancelReject",
    "VenueReport",
    "build_group_message",
    "build_message",
    "crack",
    "parse_cancel",
    "parse_mass_cancel",
    "parse_mass_status",
    "parse_new_order",
    "parse_replace",
    "parse_status",
    "parse_trade_capture_request",
    "parse_venue_cancel_reject",
    "parse_venue_report",
    "wire",
]

Fields = list[tuple[int, str]]


class BadField(ValueError):
    def __init__(self, tag: int, reason: str) -> None:
        self.tag, self.reason = tag, reason
        super().__init__(f"tag {tag}: {reason}")


def wire(value: Decimal) -> str:
    """Decimal as FIX text: no exponent, no trailing zeros."""
    text = f"{value.normalize():f}"
    return text


_second: tuple[int, str] = (-1, "")  # the last second, formatted


def transact_time(at: datetime | None = None) -> str:
    """``at`` (default now) as a FIX UTCTimestamp with milliseconds."""
    global _second
    if at is not None:
        return at.strftime("%Y%m%d-%H:%M:%S.%f")[:-3]
    second, nanos = divmod(time.time_ns(), 1_000_000_000)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{nanos // 1_000_000:03d}"


# Cracking: one call into the binding per inbound message -------------------------------------------------

Cracked = Mapping[str, str]  # tag (as text) -> value, header and body, as on the wire

# Length-prefixed data fields (RawData, EncodedText, XmlData, Signature...) may hold SOH bytes: a message with
# one is read field by field through the binding instead of split.
_DATA_TAGS = frozenset({"89", "91", "96", "213", "349", "351", "353", "355", "357", "359", "361", "363", "365",
                        "446", "619", "622"})
# what the order path reads of an inbound message (the slow path reads exactly these)
_HEADER_TAGS = (34, 35, 43, 97, SESSION_START_TAG)
_BODY_TAGS = (1, 11, 17, 31, 32, 37, 38, 39, 40, 41, 44, 54, 55, 58, 59, 99, 102, 103, 150, 434,
              18, 211, 835, 836, 378)  # ExecInst and peg instructions (trailing stops), ExecRestatementReason


def crack(msg: fix.Message) -> Cracked:
    """The message's fields, tag → value (the first occurrence of a tag: header before body, a body field
    before any repeating group of the same tag), from its wire form: one call into QuickFIX instead of an
    ``isSetField`` + ``getField`` pair per field."""
    out: dict[str, str] = {}
    for part in wire_text(msg).split("\x01"):
        tag, _, value = part.partition("=")
        if tag not in out:
            out[tag] = value
    if not _DATA_TAGS.isdisjoint(out):
        out = {str(tag): v for tag in _HEADER_TAGS if (v := header_value(msg, tag)) is not None}
        out.update((str(tag), v) for tag in _BODY_TAGS if (v := body_value(msg, tag)) is not None)
    for number, value in carried(msg).items():  # the session start the engine thread attached (session_days)
        out.setdefault(str(number), value)
    return out


def _fields(msg: fix.Message | Cracked) -> Cracked:
    return msg if isinstance(msg, Mapping) else crack(msg)


def seq_num_of(fields: Cracked) -> int | None:
    """MsgSeqNum (34)."""
    value = fields.get("34")
    return int(value) if value is not None and value.isdigit() else None


@functools.lru_cache(maxsize=64)
def _session_start(value: str) -> datetime:
    return parse_session_start(value)


def session_start_of(fields: Cracked) -> datetime:
    """The session start stamped on the message (``session_days.message_session_start``)."""
    return _session_start(fields.get(str(SESSION_START_TAG), ""))


def _text(msg: Cracked, tag: int, required: bool = True) -> str | None:
    value = msg.get(str(tag))
    if value is None or value == "":
        if required:
            raise BadField(tag, "required field missing")
        return None
    return value


def _decimal(msg: Cracked, tag: int, required: bool = False) -> Decimal | None:
    raw = _text(msg, tag, required)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BadField(tag, f"not a number: {raw!r}") from None
    if not value.is_finite():
        raise BadField(tag, f"not a finite number: {raw!r}")
    return value


def _coded(msg: Cracked, tag: int, kind: type[Side] | type[OrdType] | type[TimeInForce],
           default: str | None = None) -> Side | OrdType | TimeInForce:
    raw = _text(msg, tag, required=default is None) or default
    try:
        return kind.from_fix(raw)
    except UnknownCode:
        raise BadField(tag, f"unsupported value {raw!r}") from None


def _integer(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) < 19  # str.isdigit alone takes '²', which int() refuses


def _poss_resend(msg: Cracked) -> bool:
    return msg.get("97") == "Y" or msg.get("43") == "Y"


@dataclass(frozen=True, slots=True)
class NewOrderCommand:
    cl_ord_id: ClOrdID
    account: str | None
    symbol: str
    side: Side
    ord_type: OrdType
    time_in_force: TimeInForce
    qty: Decimal
    price: Decimal | None
    stop_px: Decimal | None
    poss_resend: bool


@dataclass(frozen=True, slots=True)
class CancelCommand:
    cl_ord_id: ClOrdID
    orig_cl_ord_id: ClOrdID
    symbol: str | None
    side: Side | None
    poss_resend: bool


@dataclass(frozen=True, slots=True)
class ReplaceCommand:
    cl_ord_id: ClOrdID
    orig_cl_ord_id: ClOrdID
    symbol: str | None
    side: Side | None
    qty: Decimal
    price: Decimal | None
    poss_resend: bool


@dataclass(frozen=True, slots=True)
class StatusCommand:
    cl_ord_id: ClOrdID
    order_id: str | None


def parse_new_order(message: fix.Message | Cracked) -> NewOrderCommand:
    msg = _fields(message)
    side = _coded(msg, 54, Side)
    ord_type = _coded(msg, 40, OrdType)
    tif = _coded(msg, 59, TimeInForce, default="0")
    qty = _positive_qty(_decimal(msg, 38, required=True))
    assert isinstance(side, Side) and isinstance(ord_type, OrdType) and isinstance(tif, TimeInForce)
    stop_px = trail_distance(msg) if ord_type.is_trailing_stop else _decimal(msg, 99)
    return NewOrderCommand(ClOrdID(_text(msg, 11) or ""), _text(msg, 1, required=False), _text(msg, 55) or "",
                           side, ord_type, tif, qty, _decimal(msg, 44), stop_px, _poss_resend(msg))


def trail_distance(msg: Cracked) -> Decimal:
    """A pegged order (40=P) is taken as a trailing stop only (fix_specs/order-types.md): ExecInst (18) holds
    ``a`` (trailing stop peg), PegOffsetValue (211) the trail in price units (either sign; its magnitude),
    PegMoveType (835) and PegOffsetType (836), when sent, 0 (floating, price); no StopPx (99)."""
    if "a" not in (_text(msg, 18, required=False) or "").split():
        raise BadField(18, "a pegged order (40=P) is supported as a trailing stop only: ExecInst must include a")
    for tag, name in ((835, "PegMoveType 0 (floating)"), (836, "PegOffsetType 0 (price)")):
        if _text(msg, tag, required=False) not in (None, "0"):
            raise BadField(tag, f"a trailing stop supports {name} only")
    if _text(msg, 99, required=False) is not None:
        raise BadField(99, "a trailing stop takes its trail in PegOffsetValue (211), not StopPx")
    trail = _decimal(msg, 211, required=True)
    if trail is None or trail == 0:
        raise BadField(211, "PegOffsetValue must be a non-zero trail distance")
    return abs(trail)


def _side_or_none(msg: Cracked) -> Side | None:
    if msg.get("54") is None:
        return None
    side = _coded(msg, 54, Side)
    assert isinstance(side, Side)
    return side


def parse_cancel(message: fix.Message | Cracked) -> CancelCommand:
    msg = _fields(message)
    return CancelCommand(ClOrdID(_text(msg, 11) or ""), ClOrdID(_text(msg, 41) or ""),
                         _text(msg, 55, required=False), _side_or_none(msg), _poss_resend(msg))


def _positive_qty(qty: Decimal | None) -> Decimal:
    if qty is None or qty <= 0:  # None cannot happen (required=True raises first)
        raise BadField(38, f"OrderQty must be positive, got {qty}")
    return qty


def parse_replace(message: fix.Message | Cracked) -> ReplaceCommand:
    msg = _fields(message)
    qty = _positive_qty(_decimal(msg, 38, required=True))
    return ReplaceCommand(ClOrdID(_text(msg, 11) or ""), ClOrdID(_text(msg, 41) or ""),
                          _text(msg, 55, required=False), _side_or_none(msg), qty, _decimal(msg, 44),
                          _poss_resend(msg))


def parse_status(message: fix.Message | Cracked) -> StatusCommand:
    msg = _fields(message)
    return StatusCommand(ClOrdID(_text(msg, 11) or ""), _text(msg, 37, required=False))



@dataclass(frozen=True, slots=True)
class MassCancelCommand:
    """OrderMassCancelRequest (35=q): which of the session's orders to cancel (fix_specs/mass-actions.md)."""

    cl_ord_id: ClOrdID
    request_type: str  # MassCancelRequestType (530), as sent
    symbol: str | None
    side: Side | None
    account: str | None  # Account (1): one of the session's accounts only


@dataclass(frozen=True, slots=True)
class MassStatusCommand:
    """OrderMassStatusRequest (35=AF)."""

    req_id: str  # MassStatusReqID (584)
    request_type: str  # MassStatusReqType (585), as sent
    symbol: str | None
    side: Side | None
    account: str | None


def parse_mass_cancel(message: fix.Message | Cracked) -> MassCancelCommand:
    msg = _fields(message)
    return MassCancelCommand(ClOrdID(_text(msg, 11) or ""), _text(msg, 530) or "", _text(msg, 55, required=False),
                             _side_or_none(msg), _text(msg, 1, required=False))


def parse_mass_status(message: fix.Message | Cracked) -> MassStatusCommand:
    msg = _fields(message)
    return MassStatusCommand(_text(msg, 584) or "", _text(msg, 585) or "", _text(msg, 55, required=False),
                             _side_or_none(msg), _text(msg, 1, required=False))

# Exchange → gateway ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VenueReport:
    """An exchange ExecutionReport: what the venue says happened to our order."""

    venue_cl_ord_id: str
    venue_order_id: str | None
    exec_id: str
    exec_type: str  # FIX 150 code
    ord_status: str
    qty: Decimal | None
    price: Decimal | None
    last_qty: Decimal
    last_px: Decimal
    reject_reason: int | None
    text: str
    restatement_reason: int | None = None  # 378 on an unsolicited cancel (self-trade prevention: 99 Other)


@dataclass(frozen=True, slots=True)
class VenueCancelReject:
    venue_cl_ord_id: str  # our cancel/replace request id
    response_to: str  # 434: 1 cancel, 2 replace
    reason: int | None
    text: str


def parse_venue_report(message: fix.Message | Cracked) -> VenueReport:
    msg = _fields(message)
    reason = _text(msg, 103, required=False)
    return VenueReport(
        venue_cl_ord_id=_text(msg, 11) or "", venue_order_id=_text(msg, 37, required=False),
        exec_id=_text(msg, 17) or "", exec_type=_text(msg, 150) or "", ord_status=_text(msg, 39) or "",
        qty=_decimal(msg, 38), price=_decimal(msg, 44), last_qty=_decimal(msg, 32) or Decimal(0),
        last_px=_decimal(msg, 31) or Decimal(0),
        reject_reason=int(reason) if reason is not None and _integer(reason.lstrip("-")) else None,
        text=_text(msg, 58, required=False) or "",
        restatement_reason=_restatement(msg),
    )


def _restatement(msg: Cracked) -> int | None:
    raw = msg.get("378")
    return int(raw) if raw is not None and _integer(raw) else None


def parse_venue_cancel_reject(message: fix.Message | Cracked) -> VenueCancelReject:
    msg = _fields(message)
    reason = _text(msg, 102, required=False)
    return VenueCancelReject(_text(msg, 11) or "", _text(msg, 434, required=False) or "1",
                             int(reason) if reason is not None and _integer(reason) else None,
                             _text(msg, 58, required=False) or "")


# Building ---------------------------------------------------------------------------------------------

def field_list(pairs: Iterable[tuple[int, object]]) -> Fields:
    """(tag, value) pairs with None dropped and Decimals in wire form."""
    out: Fields = []
    for tag, value in pairs:
        if value is None:
            continue
        if type(value) is str:
            if value:
                out.append((tag, value))
        elif isinstance(value, Decimal):
            out.append((tag, f"{value.normalize():f}"))
        elif value != "":
            out.append((tag, str(value)))
    return out


# Tags QuickFIX would not keep as plain body fields when parsing a string without a data dictionary:
# header and trailer tags (they go to the header/trailer) and length-prefixed data (their value may
# hold SOH). A message with any of them, a repeated tag, an empty value or a SOH in a value is built
# field by field instead.
_NOT_PLAIN_BODY = frozenset({
    8, 9, 10, 34, 35, 43, 49, 50, 52, 56, 57, 89, 90, 91, 93, 95, 96, 97, 115, 116, 122, 128, 129, 142, 143,
    144, 145, 212, 213, 347, 348, 349, 350, 351, 354, 355, 356, 357, 358, 359, 360, 361, 362, 363, 364, 365,
    369, 445, 446, 618, 619, 620, 621, 627, 628, 629, 630})


def build_message(msg_type: str, fields: Sequence[Sequence[object]]) -> fix.Message:
    """A message from (tag, value) pairs: its wire text parsed by QuickFIX in one call (ADR 020; ~9 µs for an
    18-field report instead of ~37 µs field by field), unvalidated (the session fills in the header, length and
    checksum when it sends it). The binding aborts the process on text it cannot parse, so only plain text
    goes that way: positive integer tags, each once, none of the header/raw-data tags, non-empty values
    without SOH; anything else is set field by field."""
    text = _plain_text(msg_type, fields)
    if text is not None:
        return fix.Message(text, False)
    message = fix.Message()
    message.getHeader().setField(fix.MsgType(msg_type))
    for tag, value in fields:
        message.setField(tag if type(tag) is int else int(str(tag)), value if type(value) is str else str(value))
    return message


# Trade capture (ADR 027): TradeCaptureReportRequest in, TradeCaptureReport / RequestAck out --------------

CUSTOMER_ACCOUNT_ROLE = "24"  # PartyRole: the party is the customer account (how 35=AD names an account)


@dataclass(frozen=True, slots=True)
class TradeCaptureRequest:
    """A TradeCaptureReportRequest (35=AD) as read at the edge; ``trade_capture`` decides what it asks."""

    trade_request_id: str  # 568
    trade_request_type: str  # 569
    subscription: str | None  # 263
    symbol: str | None  # 55
    side: str | None  # 54
    order_id: str | None  # 37
    exec_id: str | None  # 17
    accounts: tuple[str, ...]  # Parties (453): PartyID 448 of each PartyRole 452 = 24
    dates: tuple[tuple[str | None, str | None], ...]  # NoDates (580): (TradeDate 75, TransactTime 60)


def _entries(message: fix.Message, count_tag: int, group: fix.Group, tags: Sequence[int]) -> list[list[str | None]]:
    raw = body_value(message, count_tag)
    count = int(raw) if raw is not None and _integer(raw) else 0
    if count > 100:
        raise BadField(count_tag, "at most 100 entries")
    out: list[list[str | None]] = []
    for index in range(1, count + 1):
        if not message.hasGroup(index, group):
            raise BadField(count_tag, f"entry {index} missing")
        message.getGroup(index, group)
        out.append([str(group.getField(tag)) if group.isSetField(tag) else None for tag in tags])
    return out


def parse_trade_capture_request(message: fix.Message) -> TradeCaptureRequest:
    msg = crack(message)
    parties = _entries(message, 453, fix44.TradeCaptureReportRequest.NoPartyIDs(), (448, 452))
    dates = _entries(message, 580, fix44.TradeCaptureReportRequest.NoDates(), (75, 60))
    return TradeCaptureRequest(
        _text(msg, 568) or "", _text(msg, 569) or "", _text(msg, 263, required=False),
        _text(msg, 55, required=False), _text(msg, 54, required=False), _text(msg, 37, required=False),
        _text(msg, 17, required=False),
        tuple(party for party, role in parties if party and role == CUSTOMER_ACCOUNT_ROLE),
        tuple((trade_date, at) for trade_date, at in dates))


def build_group_message(msg_type: str, fields: Sequence[tuple[int, object]], count_tag: int,
                        entries: Sequence[Sequence[tuple[int, object]]]) -> fix.Message:
    """A message with one repeating group (``count_tag``; each entry's first tag is its delimiter), set
    field by field so the group keeps its wire order."""
    message = build_message(msg_type, fields)
    for entry in entries:
        group = fix.Group(count_tag, entry[0][0])
        for tag, value in entry:
            group.setField(tag, str(value))
        message.addGroup(group)
    return message


_PLAIN_SHAPES: dict[tuple[int, ...], bool] = {}  # tag sequence -> plain or not (a few report shapes recur)


def _plain_text(msg_type: str, fields: Sequence[Sequence[object]]) -> str | None:
    """The message's text for ``build_message``'s one-call path, or None when it is not plain (see there).
    Checked on the whole (ADR 030): the tag sequence once per shape (cached: the order path sends a handful of
    shapes), the values by the joined text: exactly one SOH per field (none inside a value) and no ``=`` right
    before a SOH (no empty value; a value that merely ends in ``=`` only loses the one-call path)."""
    if not msg_type or "\x01" in msg_type:
        return None
    try:
        tags = tuple([tag if type(tag) is int else int(str(tag)) for tag, _ in fields])
    except ValueError:
        return None
    plain = _PLAIN_SHAPES.get(tags)
    if plain is None:
        plain = not tags or (min(tags) > 0 and len(set(tags)) == len(tags) and _NOT_PLAIN_BODY.isdisjoint(tags))
        if len(_PLAIN_SHAPES) < 4096:
            _PLAIN_SHAPES[tags] = plain
    if not plain:
        return None
    text = "".join([f"35={msg_type}\x01",
                    *[f"{tag}={value}\x01" for tag, (_, value) in zip(tags, fields, strict=True)]])
    if text.count("\x01") != len(tags) + 1 or "=\x01" in text:
        return None
    return text
