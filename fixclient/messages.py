"""Typed views of inbound application messages and the bodies of the orders we send (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from decimal import Decimal, InvalidOperation

import simplefix

from fixclient.codec import Frame, format_utc_timestamp

__all__ = [
    "ExecutionReport",
    "InboundMessage",
    "OrderCancelReject",
    "OrderTicket",
    "cancel_body",
    "market_data_request_body",
    "new_order_single_body",
    "normalise_ord_type",
    "normalise_side",
    "normalise_tif",
    "replace_body",
    "status_body",
    "ticket",
]

SIDES = {"buy": "1", "sell": "2", "sell_short": "5", "short": "5"}
ORD_TYPES = {"market": "1", "limit": "2", "stop": "3", "stop_limit": "4", "stoplimit": "4"}
TIFS = {"day": "0", "gtc": "1", "opg": "2", "ioc": "3", "fok": "4", "gtd": "6"}


def _normalise(value: str, names: dict[str, str], what: str) -> str:
    code = names.get(value.lower(), value)
    if code not in names.values():
        codes = sorted(set(names.values()))
        raise ValueError(f"unknown {what} {value!r}; use one of {sorted(names)} or a FIX code {codes}")
    return code


def normalise_side(side: str) -> str:
    return _normalise(side, SIDES, "side")


def normalise_ord_type(ord_type: str) -> str:
    return _normalise(ord_type, ORD_TYPES, "order type")


def normalise_tif(tif: str) -> str:
    return _normalise(tif, TIFS, "time in force")


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One inbound message: MsgType, MsgSeqNum, PossDupFlag, and the raw fields."""

    msg_type: str
    seq_num: int
    poss_dup: bool
    message: simplefix.FixMessage = dataclass_field(repr=False)
    raw: bytes = dataclass_field(repr=False)
    fields: dict[int, str] = dataclass_field(repr=False, default_factory=dict)  # first value of each tag

    @classmethod
    def from_frame(cls, frame: Frame) -> InboundMessage:
        seq = frame.get(34) or "0"
        return cls(frame.msg_type, int(seq) if seq.isdigit() else 0, frame.get(43) == "Y",
                   frame.message, frame.raw, frame.fields)

    def get(self, tag: int) -> str | None:
        return self.fields.get(tag)

    def get_all(self, tag: int) -> list[str]:
        """Every value of a repeating tag, in order (repeating groups)."""
        return [bytes(v).decode("latin-1") for t, v in self.message.pairs if int(t) == tag]

    def __str__(self) -> str:
        return str(self.message.to_string("|"))


def _decimal(msg: InboundMessage, tag: int) -> Decimal | None:
    value = msg.get(tag)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"tag {tag} is not a decimal: {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"tag {tag} is not a finite decimal: {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """ExecutionReport (35=8) with Decimal quantities and prices; ``raw`` keeps every field."""

    cl_ord_id: str | None
    orig_cl_ord_id: str | None
    order_id: str | None
    exec_id: str | None
    exec_type: str | None
    ord_status: str | None
    symbol: str | None
    side: str | None
    order_qty: Decimal | None
    price: Decimal | None
    last_qty: Decimal | None
    last_px: Decimal | None
    cum_qty: Decimal | None
    leaves_qty: Decimal | None
    avg_px: Decimal | None
    ord_rej_reason: int | None
    text: str | None
    raw: InboundMessage = dataclass_field(repr=False, compare=False)

    @classmethod
    def from_message(cls, msg: InboundMessage) -> ExecutionReport:
        """Raises ValueError when a numeric field is not a number."""
        reason = msg.get(103)
        if reason is not None and not reason.lstrip("-").isdigit():
            raise ValueError(f"OrdRejReason(103) is not an integer: {reason!r}")
        return cls(
            cl_ord_id=msg.get(11), orig_cl_ord_id=msg.get(41), order_id=msg.get(37), exec_id=msg.get(17),
            exec_type=msg.get(150), ord_status=msg.get(39), symbol=msg.get(55), side=msg.get(54),
            order_qty=_decimal(msg, 38), price=_decimal(msg, 44), last_qty=_decimal(msg, 32),
            last_px=_decimal(msg, 31), cum_qty=_decimal(msg, 14), leaves_qty=_decimal(msg, 151),
            avg_px=_decimal(msg, 6), ord_rej_reason=int(reason) if reason is not None else None,
            text=msg.get(58), raw=msg,
        )


@dataclass(frozen=True, slots=True)
class OrderCancelReject:
    """OrderCancelReject (35=9): our cancel/replace request ``cl_ord_id`` was refused."""

    cl_ord_id: str | None
    orig_cl_ord_id: str | None
    order_id: str | None
    ord_status: str | None
    cxl_rej_response_to: str | None  # 1 = cancel, 2 = cancel/replace
    cxl_rej_reason: str | None
    text: str | None
    raw: InboundMessage = dataclass_field(repr=False, compare=False)

    @classmethod
    def from_message(cls, msg: InboundMessage) -> OrderCancelReject:
        return cls(msg.get(11), msg.get(41), msg.get(37), msg.get(39), msg.get(434), msg.get(102),
                   msg.get(58), msg)


@dataclass(frozen=True, slots=True)
class OrderTicket:
    """What we remember of an order we sent, so cancel/replace/status need only the ClOrdID."""

    symbol: str
    side: str
    qty: Decimal
    ord_type: str
    price: Decimal | None
    stop_px: Decimal | None
    tif: str
    account: str | None


def _positive(value: Decimal | int | str, what: str) -> Decimal:
    number = Decimal(str(value))
    if not number.is_finite() or number <= 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return number


def ticket(symbol: str, side: str, qty: Decimal | int | str, ord_type: str, price: Decimal | int | str | None,
           stop_px: Decimal | int | str | None, tif: str, account: str | None) -> OrderTicket:
    """Validate and normalise an order's terms (clear ValueError on nonsense)."""
    if not symbol:
        raise ValueError("symbol is required")
    code = normalise_ord_type(ord_type)
    px = _positive(price, "price") if price is not None else None
    stop = _positive(stop_px, "stop price") if stop_px is not None else None
    if code in ("2", "4") and px is None:
        raise ValueError("a limit order needs a price")
    if code in ("3", "4") and stop is None:
        raise ValueError("a stop order needs a stop price")
    return OrderTicket(symbol, normalise_side(side), _positive(qty, "quantity"), code, px, stop,
                       normalise_tif(tif), account)


def _terms(t: OrderTicket) -> list[tuple[int, object]]:
    body: list[tuple[int, object]] = []
    if t.account:
        body.append((1, t.account))
    body += [(55, t.symbol), (54, t.side)]
    return body


def new_order_single_body(cl_ord_id: str, t: OrderTicket, transact_time: datetime) -> list[tuple[int, object]]:
    body: list[tuple[int, object]] = [(11, cl_ord_id), (21, "1"), *_terms(t),
                                      (60, format_utc_timestamp(transact_time)), (38, t.qty), (40, t.ord_type)]
    if t.price is not None:
        body.append((44, t.price))
    if t.stop_px is not None:
        body.append((99, t.stop_px))
    body.append((59, t.tif))
    return body


def cancel_body(cl_ord_id: str, orig_cl_ord_id: str, symbol: str, side: str, qty: Decimal | None,
                account: str | None, transact_time: datetime) -> list[tuple[int, object]]:
    body: list[tuple[int, object]] = [(41, orig_cl_ord_id), (11, cl_ord_id)]
    if account:
        body.append((1, account))
    body += [(55, symbol), (54, normalise_side(side)), (60, format_utc_timestamp(transact_time))]
    if qty is not None:
        body.append((38, qty))
    return body


def replace_body(cl_ord_id: str, orig_cl_ord_id: str, t: OrderTicket,
                 transact_time: datetime) -> list[tuple[int, object]]:
    return [(41, orig_cl_ord_id), *new_order_single_body(cl_ord_id, t, transact_time)]


def status_body(cl_ord_id: str, symbol: str, side: str, order_id: str | None = None) -> list[tuple[int, object]]:
    body: list[tuple[int, object]] = [(37, order_id)] if order_id else []
    return [*body, (11, cl_ord_id), (55, symbol), (54, normalise_side(side))]


def market_data_request_body(md_req_id: str, symbols: Sequence[str], subscribe: bool, depth: int,
                             entry_types: Sequence[str]) -> list[tuple[int, object]]:
    if not symbols:
        raise ValueError("at least one symbol is required")
    body: list[tuple[int, object]] = [(262, md_req_id), (263, "1" if subscribe else "2"), (264, depth)]
    if subscribe:
        body.append((265, "1"))  # incremental refresh after the snapshot
    body.append((267, len(entry_types)))
    body += [(269, e) for e in entry_types]
    body.append((146, len(symbols)))
    body += [(55, s) for s in symbols]
    return body
