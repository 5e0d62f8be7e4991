"""The little command language of `brokerage fix-client`, and how reports read on a terminal (pure).

    buy 100 AAPL                      market order, day
    buy 100 AAPL limit 190.50 ioc     (or: buy 100 AAPL @ 190.50)
    sell 10 MSFT stop 300 limit 299   stop-limit; "stop 300" alone is a stop order
    short 10 TSLA @ 250 gtc account ACC-1
    buy 10 IBM @ 150 id MY-1          choose the ClOrdID (scripts can then cancel MY-1)
    cancel CLORDID | replace CLORDID [qty N] [price P] | status CLORDID
    md AAPL MSFT                      subscribe to market data
    help | quit
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from fixclient import events as ev
from fixclient.messages import TIFS, ExecutionReport, InboundMessage, OrderCancelReject

__all__ = [
    "CancelOrder",
    "Command",
    "CommandError",
    "Help",
    "MarketData",
    "PlaceOrder",
    "Quit",
    "ReplaceOrder",
    "StatusRequest",
    "describe_event",
    "describe_message",
    "parse_command",
]

HELP = __doc__.split("\n\n", 1)[1].rstrip() if __doc__ else ""

EXEC_TYPES = {"0": "New", "1": "PartialFill", "2": "Fill", "3": "DoneForDay", "4": "Canceled", "5": "Replaced",
              "6": "PendingCancel", "7": "Stopped", "8": "Rejected", "9": "Suspended", "A": "PendingNew",
              "C": "Expired", "E": "PendingReplace", "F": "Trade", "I": "OrderStatus"}
ORD_STATUSES = {"0": "New", "1": "PartiallyFilled", "2": "Filled", "3": "DoneForDay", "4": "Canceled",
                "6": "PendingCancel", "8": "Rejected", "9": "Suspended", "A": "PendingNew", "C": "Expired",
                "E": "PendingReplace"}


class CommandError(ValueError):
    """A line that is not a command; the message says what would be."""


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    side: str  # buy | sell | short
    qty: Decimal
    symbol: str
    ord_type: str  # market | limit | stop | stop_limit
    price: Decimal | None = None
    stop_px: Decimal | None = None
    tif: str = "day"
    account: str | None = None
    cl_ord_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelOrder:
    cl_ord_id: str


@dataclass(frozen=True, slots=True)
class ReplaceOrder:
    cl_ord_id: str
    qty: Decimal | None
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class StatusRequest:
    cl_ord_id: str


@dataclass(frozen=True, slots=True)
class MarketData:
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


Command = PlaceOrder | CancelOrder | ReplaceOrder | StatusRequest | MarketData | Help | Quit


def _number(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CommandError(f"{what} must be a number, got {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise CommandError(f"{what} must be positive, got {text!r}")
    return value


def parse_command(line: str) -> Command | None:
    """One line to a command; None for blank lines and # comments; CommandError otherwise."""
    words = line.split("#", 1)[0].split()
    if not words:
        return None
    verb, args = words[0].lower(), words[1:]
    if verb in ("quit", "exit", "q"):
        return Quit()
    if verb in ("help", "?"):
        return Help()
    if verb in ("buy", "sell", "short"):
        return _parse_order(verb, args)
    if verb in ("cancel", "status"):
        if len(args) != 1:
            raise CommandError(f"usage: {verb} CLORDID")
        return CancelOrder(args[0]) if verb == "cancel" else StatusRequest(args[0])
    if verb == "replace":
        return _parse_replace(args)
    if verb == "md":
        if not args:
            raise CommandError("usage: md SYMBOL [SYMBOL...]")
        return MarketData(tuple(a.upper() for a in args))
    raise CommandError(f"unknown command {verb!r}; try: help")


def _parse_order(side: str, args: list[str]) -> PlaceOrder:
    usage = f"usage: {side} QTY SYMBOL [limit PRICE | @ PRICE | stop PRICE [limit PRICE]] [day|gtc|ioc|fok|opg] " \
            "[account ACCOUNT] [id CLORDID]"
    if len(args) < 2:
        raise CommandError(usage)
    qty = _number(args[0], "quantity")
    symbol = args[1].upper()
    price: Decimal | None = None
    stop_px: Decimal | None = None
    tif = "day"
    account: str | None = None
    cl_ord_id: str | None = None
    rest = [a.lower() for a in args[2:]]
    originals = args[2:]
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in ("limit", "@", "stop", "account", "id"):
            if i + 1 >= len(rest):
                raise CommandError(f"{word!r} needs a value; {usage}")
            if word == "account":
                account = originals[i + 1]
            elif word == "id":
                cl_ord_id = originals[i + 1]
            elif word == "stop":
                stop_px = _number(rest[i + 1], "stop price")
            else:
                price = _number(rest[i + 1], "price")
            i += 2
        elif word in TIFS:
            tif = word
            i += 1
        elif word == "market":
            i += 1
        else:
            raise CommandError(f"unexpected {originals[i]!r}; {usage}")
    ord_type = {(False, False): "market", (True, False): "limit", (False, True): "stop",
                (True, True): "stop_limit"}[(price is not None, stop_px is not None)]
    return PlaceOrder(side, qty, symbol, ord_type, price, stop_px, tif, account, cl_ord_id)


def _parse_replace(args: list[str]) -> ReplaceOrder:
    usage = "usage: replace CLORDID [qty N] [price P]"
    if not args or len(args) % 2 != 1:
        raise CommandError(usage)
    qty = price = None
    for key, value in zip(args[1::2], args[2::2], strict=True):
        if key.lower() == "qty":
            qty = _number(value, "quantity")
        elif key.lower() == "price":
            price = _number(value, "price")
        else:
            raise CommandError(usage)
    if qty is None and price is None:
        raise CommandError("replace changes qty and/or price; " + usage)
    return ReplaceOrder(args[0], qty, price)


def describe_message(msg: InboundMessage) -> str:
    """One readable line per inbound application message."""
    if msg.msg_type == "8":
        try:
            return _describe_report(ExecutionReport.from_message(msg))
        except ValueError as exc:
            return f"ExecutionReport (unreadable: {exc}) {msg}"
    if msg.msg_type == "9":
        r = OrderCancelReject.from_message(msg)
        what = "cancel" if r.cxl_rej_response_to == "1" else "replace"
        return f"OrderCancelReject {r.cl_ord_id}: {what} of {r.orig_cl_ord_id} refused ({r.text or 'no reason'})"
    if msg.msg_type == "3":
        return f"Reject of our MsgSeqNum {msg.get(45)}: {msg.get(58) or 'no text'} (reason {msg.get(373)})"
    if msg.msg_type == "j":
        ref = f" of our {msg.get(372) or '?'} MsgSeqNum {msg.get(45) or '?'}"
        ref += f" (ref {msg.get(379)})" if msg.get(379) else ""
        return f"BusinessMessageReject{ref}: {msg.get(58) or 'no text'} (reason {msg.get(380)})"
    if msg.msg_type in ("W", "X"):
        prices = " ".join(f"{t}={p}" for t, p in zip(msg.get_all(269), msg.get_all(270), strict=False))
        return f"MarketData {msg.get(55) or ''} {prices}".rstrip()
    return f"{msg.msg_type}: {msg}"


def _describe_report(r: ExecutionReport) -> str:
    exec_type = EXEC_TYPES.get(r.exec_type or "", r.exec_type or "?")
    status = ORD_STATUSES.get(r.ord_status or "", r.ord_status or "?")
    parts = [f"ExecutionReport {r.cl_ord_id} {exec_type} status={status}"]
    if r.orig_cl_ord_id:
        parts.append(f"orig={r.orig_cl_ord_id}")
    if r.symbol:
        parts.append(r.symbol)
    if r.last_qty:
        parts.append(f"last={r.last_qty}@{r.last_px}")
    parts.append(f"cum={r.cum_qty} leaves={r.leaves_qty} avg={r.avg_px}")
    if r.order_id:
        parts.append(f"OrderID={r.order_id}")
    if r.ord_rej_reason is not None:
        parts.append(f"OrdRejReason={r.ord_rej_reason}")
    if r.text:
        parts.append(f"({r.text})")
    return " ".join(parts)


def describe_event(event: ev.SessionEvent) -> str | None:
    """A line for session events worth showing; None for those that are not."""
    match event:
        case ev.HeartbeatReceived(test_req_id):
            return "heartbeat received" + (f" (answer to {test_req_id})" if test_req_id else "")
        case ev.HeartbeatSent(test_req_id):
            return "heartbeat sent" + (f" (answer to TestRequest {test_req_id})" if test_req_id else "")
        case ev.TestRequestSent(test_req_id):
            return f"peer quiet: TestRequest {test_req_id} sent"
        case ev.GapDetected(expected, received, _):
            return f"sequence gap: expected {expected}, got {received}; ResendRequest sent"
        case ev.GapFilled(next_expected):
            return f"gap filled; next expected MsgSeqNum {next_expected}"
        case ev.ResendAnswered(begin, end, replayed):
            return f"peer asked to resend {begin}..{end}: replayed {replayed}, gap-filled the rest"
        case ev.SequenceReset(new_seq_no, gap_fill):
            return f"{'gap fill' if gap_fill else 'sequence reset'} to {new_seq_no}"
        case ev.RejectSent(ref, _, text):
            return f"we rejected peer message {ref}: {text}"
        case ev.GarbledIgnored(reason, size):
            return f"ignored {size} garbled bytes: {reason}"
        case ev.ProtocolViolation(text):
            return f"protocol error, logging out: {text}"
        case ev.LoggedOut(text, by_peer):
            return f"logged out{' by the peer' if by_peer else ''}" + (f": {text}" if text else "")
        case _:
            return None
