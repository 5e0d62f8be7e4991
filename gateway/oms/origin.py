"""Who entered an order: a client, or the system (forced liquidation, ...). Recorded in ``orders.origin``
inside the order's own transaction; never inferred from a ClOrdID, which a client chooses freely.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ledger.journal_store import Conn

__all__ = ["SystemOrigin", "mark_system_order", "system_working_orders"]

_OPEN = ("pending_new", "new", "partially_filled", "pending_cancel", "pending_replace")
# named literally, as ix_orders_system_working's predicate names them: a generic plan (the plan cache's choice
# after five calls, or plan_cache_mode) can use that partial index; with ``status = ANY($2)`` it could not
_SYSTEM_WORKING = ("SELECT order_id FROM orders WHERE account_id = $1 AND origin = 'system' AND status IN ("
                   + ", ".join(f"'{s}'" for s in _OPEN) + ")")


@dataclass(frozen=True, slots=True)
class SystemOrigin:
    reason: str  # e.g. "margin call liquidation"
    margin_call_id: str | None = None


async def mark_system_order(conn: Conn, order_id: str, origin: SystemOrigin) -> None:
    await conn.execute("UPDATE orders SET origin = 'system', origin_reason = $2, margin_call_id = $3 "
                       "WHERE order_id = $1", order_id, origin.reason, origin.margin_call_id)


async def system_working_orders(conn: Conn | asyncpg.Pool, account_id: str) -> list[str]:
    """The account's working system orders (order ids): a liquidation under way."""
    rows = await conn.fetch(_SYSTEM_WORKING, account_id)
    return [r["order_id"] for r in rows]
