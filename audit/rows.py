"""The ClickHouse row of an outbox event, and the exact values the hash chain covers (pure).

The shipper stores the event as PostgreSQL gave it: ``event_id`` and ``occurred_at`` as text
(``YYYY-MM-DD HH:MM:SS.ffffff``, UTC, formatted by PostgreSQL), the account as its pseudonym and the payload
JSON text. ClickHouse derives every typed column from the payload (see ``audit/ddl.sql``), so the shipper
does no per-field parsing: that is what lets one Python process ship >100,000 events a second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

# What the hash covers, in this order (see audit.chain).
HASHED_COLUMNS = ("prev_hash", "stream", "stream_seq", "event_id", "event_type", "occurred_at", "account", "payload")
# What the shipper inserts (the typed columns are MATERIALIZED by ClickHouse from `payload`).
INSERT_COLUMNS = ("event_id", "seq", "event_type", "occurred_at", "account", "payload", "stream", "stream_seq",
                  "prev_hash", "hash")
GLOBAL_STREAM = "global"
# Payload keys that could identify a person: dropped before anything reaches ClickHouse (the account itself
# travels only as a pseudonym).
IDENTIFYING_KEYS = frozenset({"account_id", "account", "owner_name", "name", "email", "phone", "address"})
_MARKERS = tuple(f'"{key}"' for key in IDENTIFYING_KEYS)


def scrub_payload(payload: str) -> str:
    """The payload without identifying top-level keys (unchanged, and not re-serialised, when it has none)."""
    if not any(marker in payload for marker in _MARKERS):
        return payload
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    if not isinstance(data, dict):
        return payload
    return orjson.dumps({k: v for k, v in data.items() if k not in IDENTIFYING_KEYS}).decode()


def ship_row(event_id: str, event_type: str, occurred_at: str, account_ref: str, payload: str) -> dict[str, Any]:
    """The row without its chain fields (``stream_seq``, ``prev_hash``, ``hash``: see audit.chain)."""
    return {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "account": account_ref,
        "payload": scrub_payload(payload),
        "stream": account_ref or GLOBAL_STREAM,
    }


def canonical(column: str, value: Any) -> Any:
    """A hashed column's value as the shipper hashed it, from what either adapter reads back."""
    if column == "stream_seq":
        return int(value)
    if column == "event_id":
        return str(value if isinstance(value, UUID) else UUID(str(value)))
    if column == "occurred_at" and isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return "" if value is None else str(value)
