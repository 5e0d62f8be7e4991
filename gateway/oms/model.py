"""Order-entry vocabulary: typed identifiers and FIX 4.4 enumerations (pure: no I/O).

Every enumeration's value is its FIX code (the wire form); ``.ledger`` gives the lower-case word stored
in ``ledger.tables`` (orders.side/ord_type/time_in_force/status, executions.exec_type) and
``from_fix``/``from_ledger`` parse either form with a clear ``UnknownCode`` on anything else.
Only the codes this gateway supports are members: an unsupported FIX value is refused at the edge,
never mapped to something close.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import Enum
from operator import attrgetter
from typing import Any, NewType, Self, TypeVar

__all__ = [
    "AccountID",
    "BusinessRejectReason",
    "ClOrdID",
    "CxlRejReason",
    "CxlRejResponseTo",
    "ExecID",
    "ExecType",
    "OrdRejReason",
    "OrdStatus",
    "OrdType",
    "OrderID",
    "SessionID",
    "Side",
    "TimeInForce",
    "UnknownCode",
    "evolve",
]

ClOrdID = NewType("ClOrdID", str)  # tag 11, chosen by the client, unique per session
OrderID = NewType("OrderID", str)  # tag 37, ours
ExecID = NewType("ExecID", str)  # tag 17, ours
AccountID = NewType("AccountID", str)  # tag 1
SessionID = NewType("SessionID", str)  # the client's SenderCompID, or "api:<token>"


class UnknownCode(ValueError):
    """A FIX or ledger code this gateway does not support."""

    def __init__(self, enum_name: str, value: object) -> None:
        self.enum_name, self.value = enum_name, value
        super().__init__(f"unsupported {enum_name} value {value!r}")


class _Coded(Enum):
    """An enumeration whose value is the FIX code; the ledger word is the member name in lower case.

    ``ledger`` (the ledger word) and ``code`` (the FIX code as text) are plain attributes set once per member:
    the order path reads them several times per order, and ``Enum.name``/``.value`` are Python-level
    descriptors in this Python (ADR 030)."""

    def __init__(self, *_: object) -> None:
        self.ledger: str = self._name_.lower()
        self.code: str = str(self._value_)

    @classmethod
    def from_fix(cls, code: object) -> Self:
        if isinstance(code, bool):  # True == 1 in Python: never a FIX code
            raise UnknownCode(cls.__name__, code)
        by_value, by_text = _codes(cls)
        try:
            member = by_value.get(code)
        except TypeError:  # unhashable: equal to no member
            member = None
        if member is None and isinstance(code, str):
            member = by_text.get(code)
        if member is None:
            raise UnknownCode(cls.__name__, code)
        return member  # type: ignore[return-value]

    @classmethod
    def from_ledger(cls, word: object) -> Self:
        if isinstance(word, str):
            member = cls.__members__.get(word.upper())
            if member is not None:
                return member
        raise UnknownCode(cls.__name__, word)


_CODES: dict[type, tuple[dict[object, _Coded], dict[str, _Coded]]] = {}


def _codes(kind: type[_Coded]) -> tuple[dict[object, _Coded], dict[str, _Coded]]:
    """A coded enumeration's members by value and by the value's text (``from_fix``: a member whose value
    equals the code, or whose value's text is the code), built on first use."""
    codes = _CODES.get(kind)
    if codes is None:
        by_value: dict[object, _Coded] = {}
        by_text: dict[str, _Coded] = {}
        for member in kind:
            by_value.setdefault(member._value_, member)
            by_text.setdefault(str(member._value_), member)
        codes = _CODES[kind] = (by_value, by_text)
    return codes


class Side(_Coded):  # tag 54
    BUY = "1"
    SELL = "2"
    SELL_SHORT = "5"

    @property
    def is_sell(self) -> bool:
        return self is not Side.BUY


class OrdType(_Coded):  # tag 40
    MARKET = "1"
    LIMIT = "2"
    STOP = "3"
    STOP_LIMIT = "4"
    PEGGED = "P"  # only as a trailing stop: ExecInst 18=a, the trail in PegOffsetValue 211 (order-types.md)

    @property
    def has_limit_price(self) -> bool:
        return self in (OrdType.LIMIT, OrdType.STOP_LIMIT)

    @property
    def has_stop_price(self) -> bool:
        return self in (OrdType.STOP, OrdType.STOP_LIMIT)

    @property
    def is_trailing_stop(self) -> bool:
        """A trailing stop (40=P): ``Order.stop_px`` holds its trail distance, the stop itself is the exchange's."""
        return self is OrdType.PEGGED


class TimeInForce(_Coded):  # tag 59
    DAY = "0"
    GTC = "1"
    IOC = "3"
    FOK = "4"
    AT_THE_CLOSE = "7"  # market-on-close (40=1) / limit-on-close (40=2): the exchange's closing auction


class OrdStatus(_Coded):  # tag 39
    NEW = "0"
    PARTIALLY_FILLED = "1"
    FILLED = "2"
    CANCELED = "4"
    PENDING_CANCEL = "6"
    REJECTED = "8"
    PENDING_NEW = "A"
    EXPIRED = "C"
    PENDING_REPLACE = "E"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        """Counts against the open-order limit and holds a reservation (ledger's ix_orders_open)."""
        return self not in _TERMINAL


_TERMINAL = frozenset({OrdStatus.FILLED, OrdStatus.CANCELED, OrdStatus.REJECTED, OrdStatus.EXPIRED})


class ExecType(_Coded):  # tag 150
    NEW = "0"
    CANCELED = "4"
    REPLACED = "5"
    PENDING_CANCEL = "6"
    REJECTED = "8"
    PENDING_NEW = "A"
    EXPIRED = "C"
    PENDING_REPLACE = "E"
    TRADE = "F"
    ORDER_STATUS = "I"
    TRIGGERED = "L"  # a stop or trailing stop triggered at the exchange (FIX 4.4 EP: Triggered or Activated by System)


class OrdRejReason(_Coded):  # tag 103 (INT); the codes of fix_specs/FIX44.xml
    BROKER_CREDIT = 0
    UNKNOWN_SYMBOL = 1
    EXCHANGE_CLOSED = 2
    ORDER_EXCEEDS_LIMIT = 3
    TOO_LATE_TO_ENTER = 4
    UNKNOWN_ORDER = 5
    DUPLICATE_ORDER = 6
    STALE_ORDER = 8
    UNSUPPORTED_ORDER_CHARACTERISTIC = 11
    INCORRECT_QUANTITY = 13
    UNKNOWN_ACCOUNT = 15
    OTHER = 99


class CxlRejReason(_Coded):  # tag 102 (INT)
    TOO_LATE_TO_CANCEL = 0
    UNKNOWN_ORDER = 1
    BROKER_CREDIT = 2
    ORDER_ALREADY_IN_PENDING_STATUS = 3
    DUPLICATE_CL_ORD_ID = 6
    OTHER = 99


class CxlRejResponseTo(_Coded):  # tag 434
    ORDER_CANCEL_REQUEST = "1"
    ORDER_CANCEL_REPLACE_REQUEST = "2"


class BusinessRejectReason(_Coded):  # tag 380 (INT); FIX 4.4 has no "throttle" code, so OTHER + Text
    OTHER = 0
    UNKNOWN_ID = 1
    UNKNOWN_SECURITY = 2
    UNSUPPORTED_MESSAGE_TYPE = 3
    APPLICATION_NOT_AVAILABLE = 4
    CONDITIONALLY_REQUIRED_FIELD_MISSING = 5
    NOT_AUTHORIZED = 6


_T = TypeVar("_T")
# per dataclass: its init fields' values in order, and each field's position (None: use ``dataclasses.replace``)
_SHAPES: dict[type, tuple[Callable[[Any], tuple[Any, ...]], dict[str, int]] | None] = {}


def evolve(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace`` without its per-call introspection (``fields()``, a getattr and a dict entry per
    field): the values read with one ``attrgetter`` and the class called with them in order. Same result,
    ``__post_init__`` included; a class with a non-init field goes through ``replace``. An unknown field
    name raises KeyError."""
    cls = type(obj)
    try:
        shape = _SHAPES[cls]
    except KeyError:
        shape = _SHAPES[cls] = _shape(cls)
    if shape is None:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    values, index = shape
    args = list(values(obj))
    for name, value in changes.items():
        args[index[name]] = value
    return cls(*args)


def _shape(cls: type) -> tuple[Callable[[Any], tuple[Any, ...]], dict[str, int]] | None:
    names = tuple(f.name for f in dataclasses.fields(cls))
    if len(names) < 2 or any(not f.init for f in dataclasses.fields(cls)):
        return None  # attrgetter of one name gives a value, not a tuple; non-init fields are not arguments
    return attrgetter(*names), {name: i for i, name in enumerate(names)}
