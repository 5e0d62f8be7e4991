"""The audit event: one canonical schema and the outbox payload contract every producer follows (pure).

A producer (ledger repository, gateway order path, FIX session layer, risk engine) builds an
:class:`AuditEvent` and appends it to the PostgreSQL ``outbox`` IN THE SAME TRANSACTION as the change it
records, with :func:`audit.outbox.append_event`. The outbox row is::

    outbox(event_id uuid, event_type, occurred_at timestamptz, account_id, payload jsonb, shipped_at)

Payload contract (``payload`` jsonb; every key optional; unknown keys are kept verbatim under ``extra``)
--------------------------------------------------------------------------------------------------------
========================  ==================================================================================
key                       meaning
========================  ==================================================================================
``actor``                 who: ``fix:<SenderCompID>`` for a FIX session, ``api:<token_id>``, ``system:<proc>``
``symbol``                instrument symbol (``AAPL``)
``side``                  ``buy`` | ``sell`` | ``sell_short``
``ord_type``              ``market`` | ``limit`` | ``stop`` | ``stop_limit``
``status``                order status after the event (``new``, ``partially_filled``, ``filled``, ...)
``qty`` / ``price``       order quantity and limit price (decimal strings)
``last_qty``/``last_px``  this fill's quantity and price (decimal strings), fills only
``realized_pnl``          realised P&L of a SELL fill (decimal string; negative = loss). If the producer only
                          knows the average cost per share, send ``avg_cost`` instead and it is derived as
                          ``(last_px - avg_cost) * last_qty``. The wash-sales report needs one of the two.
``cl_ord_id``             the client's ClOrdID; ``order_id`` our OrderID; ``exec_id`` our ExecID
``reason``                free text: reject text, logout reason, halt reason
``rule``                  the risk/validation rule that fired (``buying_power``, ``kill_switch``, ``tick``...)
``quote``                 the arrival quote at receipt: ``{"bid": "..", "ask": "..", "last": ".."}`` (orders)
``ts``                    per-hop UTC timestamps, ISO-8601 with microseconds: ``{"received", "risk_checked",
                          "committed", "routed", "acknowledged", "filled"}`` (each optional)
========================  ==================================================================================

Event types the reports understand (others are stored and chained too):
``order.accepted`` (with ``quote`` and ``ts.received/risk_checked/committed``), ``order.rejected`` (``rule``,
``reason``), ``order.acknowledged`` (``ts.routed/acknowledged``), ``order.fill`` (``last_qty``, ``last_px``,
``status``, ``ts.filled``, sells with ``realized_pnl``), ``order.canceled``, ``order.replaced``,
``order.expired``, ``session.logon``, ``session.logout``, ``session.logon_failed``, ``risk.margin_call``,
``risk.liquidation``, ``risk.kill_switch``, ``risk.halt``, ``cash.deposit``, ``cash.withdrawal``.

Never put personal data (names, addresses) in the payload: only ``account_id`` (the outbox column) identifies a
person, and the shipper replaces it with a pseudonym before anything reaches ClickHouse.

Malformed payload values never stop the pipeline: :func:`from_outbox` keeps what parses, moves the raw bad
values to ``extra["_invalid"]`` with the error, and the event is shipped like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID, uuid4

import orjson

EVENT_TYPE = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
HOPS = ("received", "risk_checked", "committed", "routed", "acknowledged", "filled")
QUOTE_KEYS = ("bid", "ask", "last")
STRING_KEYS = ("actor", "symbol", "side", "ord_type", "status", "cl_ord_id", "order_id", "exec_id", "reason", "rule")
QTY_KEYS = ("qty", "last_qty")
PRICE_KEYS = ("price", "last_px")
MONEY_KEYS = ("realized_pnl",)
QTY_SCALE, PRICE_SCALE, MONEY_SCALE = 4, 6, 4
MAX_STRING = 512
MAX_MAGNITUDE = Decimal(10) ** 14  # fits every Decimal(20, s) column of the ClickHouse table


class InvalidEvent(ValueError):
    """An event a producer built wrongly (the caller's mistake, raised before anything is written)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event_type: str
    account_id: str | None = None
    actor: str = ""
    symbol: str = ""
    side: str = ""
    ord_type: str = ""
    status: str = ""
    qty: Decimal | None = None
    price: Decimal | None = None
    last_qty: Decimal | None = None
    last_px: Decimal | None = None
    realized_pnl: Decimal | None = None
    cl_ord_id: str = ""
    order_id: str = ""
    exec_id: str = ""
    reason: str = ""
    rule: str = ""
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    hops: dict[str, datetime] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    event_id: UUID = field(default_factory=uuid4)
    occurred_at: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if not EVENT_TYPE.match(self.event_type):
            raise InvalidEvent(f"event_type {self.event_type!r} is not of the form 'noun.verb' (lower case)")
        if self.occurred_at.tzinfo is None:
            raise InvalidEvent("occurred_at must be timezone-aware (UTC)")
        unknown = set(self.hops) - set(HOPS)
        if unknown:
            raise InvalidEvent(f"unknown hop(s) {sorted(unknown)}; expected {HOPS}")
        for hop, ts in self.hops.items():
            if ts.tzinfo is None:
                raise InvalidEvent(f"hop timestamp {hop!r} must be timezone-aware (UTC)")

    def to_payload(self) -> dict[str, Any]:
        """The outbox ``payload`` (JSON-ready: decimals and timestamps as strings, empty values omitted)."""
        payload: dict[str, Any] = dict(self.extra)
        for key in STRING_KEYS:
            value = getattr(self, key)
            if value:
                payload[key] = value
        for key in (*QTY_KEYS, *PRICE_KEYS, *MONEY_KEYS):
            value = getattr(self, key)
            if value is not None:
                payload[key] = str(value)
        quote = {k: str(getattr(self, k)) for k in QUOTE_KEYS if getattr(self, k) is not None}
        if quote:
            payload["quote"] = quote
        if self.hops:
            payload["ts"] = {hop: ts.astimezone(UTC).isoformat() for hop, ts in self.hops.items()}
        return payload


def parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"not a number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite() or abs(number) >= MAX_MAGNITUDE:
        raise ValueError(f"not a finite number within ±1e14: {value!r}")
    return number


def parse_timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from None
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without time zone: {value!r}")
    return ts.astimezone(UTC)


def from_outbox(
    event_id: UUID | str, event_type: str, occurred_at: datetime, account_id: str | None, payload: Any
) -> AuditEvent:
    """Rebuild the event from an outbox row; bad values are kept in ``extra['_invalid']``, never raised."""
    if isinstance(payload, str | bytes):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            payload = {"_raw": payload if isinstance(payload, str) else payload.decode("utf-8", "replace")}
    if not isinstance(payload, dict):
        payload = {"_raw": payload}
    rest = dict(payload)
    invalid: dict[str, Any] = {}
    values: dict[str, Any] = {}

    for key in STRING_KEYS:
        if key in rest:
            raw = rest.pop(key)
            if isinstance(raw, str) and len(raw) <= MAX_STRING:
                values[key] = raw
            elif raw is not None:
                invalid[key] = raw
    for key in (*QTY_KEYS, *PRICE_KEYS, *MONEY_KEYS, "avg_cost"):
        if key in rest:
            raw = rest.pop(key)
            try:
                values[key] = parse_decimal(raw)
            except ValueError:
                if raw is not None:
                    invalid[key] = raw
    quote = rest.pop("quote", None)
    if isinstance(quote, dict):
        for key in QUOTE_KEYS:
            if quote.get(key) is not None:
                try:
                    values[key] = parse_decimal(quote[key])
                except ValueError:
                    invalid[f"quote.{key}"] = quote[key]
    elif quote is not None:
        invalid["quote"] = quote
    hops: dict[str, datetime] = {}
    stamps = rest.pop("ts", None)
    if isinstance(stamps, dict):
        for hop, raw in stamps.items():
            try:
                if hop not in HOPS:
                    raise ValueError("unknown hop")
                hops[hop] = parse_timestamp(raw)
            except ValueError:
                invalid[f"ts.{hop}"] = raw
    elif stamps is not None:
        invalid["ts"] = stamps

    avg_cost = values.pop("avg_cost", None)
    if "realized_pnl" not in values and avg_cost is not None and "last_px" in values and "last_qty" in values:
        values["realized_pnl"] = (values["last_px"] - avg_cost) * values["last_qty"]
    if avg_cost is not None:
        rest["avg_cost"] = str(avg_cost)
    if invalid:
        rest["_invalid"] = invalid
    if not EVENT_TYPE.match(event_type or ""):
        rest["_invalid_event_type"] = event_type
        event_type = "unknown.event"
    return AuditEvent(
        event_type=event_type,
        account_id=account_id,
        hops=hops,
        extra=rest,
        event_id=event_id if isinstance(event_id, UUID) else UUID(str(event_id)),
        occurred_at=occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC),
        **values,
    )
