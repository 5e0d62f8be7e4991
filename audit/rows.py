"""The ClickHouse row of an audit event, in one canonical text form (pure).

The canonical form is what gets inserted AND what the hash chain covers: decimals as normalised strings
(``50``, ``49.5``), timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC), empty strings for absent text.
:func:`canonical` turns values read back from either adapter (strings from chdb, Python objects from
clickhouse-driver) into the same form, so ``audit verify`` recomputes exactly what the shipper hashed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from uuid import UUID

import orjson

from audit.events import HOPS, MONEY_SCALE, PRICE_SCALE, QTY_SCALE, AuditEvent

STRING_COLUMNS = (
    "event_type", "actor", "account", "symbol", "side", "ord_type", "status",
    "cl_ord_id", "order_id", "exec_id", "reason", "rule", "extra", "stream", "prev_hash",
)
DECIMAL_COLUMNS = {
    "qty": QTY_SCALE, "price": PRICE_SCALE, "last_qty": QTY_SCALE, "last_px": PRICE_SCALE,
    "realized_pnl": MONEY_SCALE, "bid": PRICE_SCALE, "ask": PRICE_SCALE, "last": PRICE_SCALE,
}
TIMESTAMP_COLUMNS = ("occurred_at", *(f"ts_{hop}" for hop in HOPS))
# Everything the hash covers (all columns but `hash`, the outbox `seq` and `shipped_at`).
HASHED_COLUMNS = ("event_id", "stream_seq", *STRING_COLUMNS, *DECIMAL_COLUMNS, *TIMESTAMP_COLUMNS)
GLOBAL_STREAM = "global"
# Payload keys that could identify a person: never copied to ClickHouse (the account goes as a pseudonym).
IDENTIFYING_KEYS = frozenset({"account_id", "account", "owner_name", "name", "email"})


def canonical_decimal(value: Any, scale: int) -> str | None:
    if value is None:
        return None
    number = Decimal(str(value)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN)
    if number == 0:
        return "0"
    return format(number.normalize(), "f")


def canonical_timestamp(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # ClickHouse DateTime64(6, 'UTC') text has no offset
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))


def canonical(column: str, value: Any) -> Any:
    """One column's value, from whatever an adapter returned, in canonical form."""
    if column in DECIMAL_COLUMNS:
        return canonical_decimal(value, DECIMAL_COLUMNS[column])
    if column in TIMESTAMP_COLUMNS:
        return canonical_timestamp(value)
    if column == "stream_seq":
        return int(value)
    if column == "event_id":
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    return "" if value is None else str(value)


def extra_json(extra: dict[str, Any]) -> str:
    kept = {k: v for k, v in extra.items() if k not in IDENTIFYING_KEYS}
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS, default=str).decode()


def build_row(event: AuditEvent, account_ref: str) -> dict[str, Any]:
    """The event's row without its chain fields (``stream_seq``, ``prev_hash``, ``hash``: see audit.chain)."""
    row: dict[str, Any] = {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "occurred_at": canonical_timestamp(event.occurred_at),
        "actor": event.actor,
        "account": account_ref,
        "symbol": event.symbol,
        "side": event.side,
        "ord_type": event.ord_type,
        "status": event.status,
        "cl_ord_id": event.cl_ord_id,
        "order_id": event.order_id,
        "exec_id": event.exec_id,
        "reason": event.reason,
        "rule": event.rule,
        "extra": extra_json(event.extra),
        "stream": account_ref or GLOBAL_STREAM,
    }
    for column, scale in DECIMAL_COLUMNS.items():
        row[column] = canonical_decimal(getattr(event, column), scale)
    for hop in HOPS:
        row[f"ts_{hop}"] = canonical_timestamp(event.hops.get(hop))
    return row
