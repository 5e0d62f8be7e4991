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

The shipper stores the payload as it is; ClickHouse derives the typed report columns from these keys
(``audit/ddl.sql``). A malformed value (``"qty": "ten"``) never stops the pipeline: its column is NULL and
the original text stays in the stored payload. Decimals may be JSON strings (preferred: exact) or numbers.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, SafeUUID

EVENT_TYPE = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
HOPS = ("received", "risk_checked", "committed", "routed", "acknowledged", "filled")
_HOP_SET = frozenset(HOPS)
_VALID_TYPES: set[str] = set()  # event types already checked against EVENT_TYPE (a handful in practice)
QUOTE_KEYS = ("bid", "ask", "last")
STRING_KEYS = ("actor", "symbol", "side", "ord_type", "status", "cl_ord_id", "order_id", "exec_id", "reason", "rule")
QTY_KEYS = ("qty", "last_qty")
PRICE_KEYS = ("price", "last_px")
MONEY_KEYS = ("realized_pnl",)
_DECIMAL_KEYS = (*QTY_KEYS, *PRICE_KEYS, *MONEY_KEYS)


class InvalidEvent(ValueError):
    """An event a producer built wrongly (the caller's mistake, raised before anything is written)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class _EventIds:
    """UUIDv7 event ids (RFC 9562) without a random draw per id: the Unix time in ms (48 bits), then in the 74
    bits version 7 leaves to the producer a random prefix drawn once per process (40 bits, ``os.urandom``: 12 in
    rand_a, 28 at the end of rand_b) and a counter (34 bits, in rand_b). Unique without coordination: two ids of
    one process differ in the counter (it wraps after 2^34 ids, never within one ms), two processes (restarts,
    shards, producers) in their prefixes (2^-40 for a pair alive in the same ms at the same count). A forked
    child draws its own prefix. Time-ordered within a process: the outbox's primary key index grows at its
    right edge instead of at random pages."""

    def __init__(self) -> None:
        self._reseed()
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        prefix = int.from_bytes(os.urandom(5), "big")
        # version 7, the prefix's top 12 bits (rand_a), variant 0b10, the prefix's low 28 bits
        self._fixed = 0x7 << 76 | (prefix >> 28) << 64 | 0b10 << 62 | prefix & 0xFFF_FFFF
        self._count = itertools.count(int.from_bytes(os.urandom(4), "big"))  # next() is atomic under the GIL

    def __call__(self) -> UUID:
        value = (time.time_ns() // 1_000_000 << 80 | (next(self._count) & 0x3_FFFF_FFFF) << 28 | self._fixed)
        # UUID(int=...) only re-checks the range: set the two slots directly
        uid = object.__new__(UUID)
        object.__setattr__(uid, "int", value)
        object.__setattr__(uid, "is_safe", SafeUUID.unknown)
        return uid


new_event_id = _EventIds()


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
    event_id: UUID = field(default_factory=new_event_id)
    occurred_at: datetime = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if self.event_type not in _VALID_TYPES:
            if not isinstance(self.event_type, str) or not EVENT_TYPE.match(self.event_type):
                raise InvalidEvent(f"event_type {self.event_type!r} is not of the form 'noun.verb' (lower case)")
            if len(_VALID_TYPES) < 1024:
                _VALID_TYPES.add(self.event_type)
        if self.occurred_at.tzinfo is None:
            raise InvalidEvent("occurred_at must be timezone-aware (UTC)")
        if self.hops:
            if not self.hops.keys() <= _HOP_SET:
                raise InvalidEvent(f"unknown hop(s) {sorted(set(self.hops) - _HOP_SET)}; expected {HOPS}")
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
        for key in _DECIMAL_KEYS:
            value = getattr(self, key)
            if value is not None:
                payload[key] = str(value)
        quote = {k: str(getattr(self, k)) for k in QUOTE_KEYS if getattr(self, k) is not None}
        if quote:
            payload["quote"] = quote
        if self.hops:
            payload["ts"] = {
                hop: ts.astimezone(UTC).isoformat(timespec="microseconds") for hop, ts in self.hops.items()
            }
        return payload

