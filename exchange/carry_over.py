"""Session orders carried over a clean restart (pure: to and from JSON-ready dicts).

At a graceful shutdown the server writes the sessions' open orders; at the next start it re-enters
them, with their OrderIDs, ClOrdIDs and filled quantities, into the new books (they lose time
priority, and may trade at once against the new market). The file is consumed at start so a later
crash can never bring back orders that have since traded: after a crash open orders are lost and the
exchange answers OrderStatusRequest for them with "unknown order".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.client_orders import ClientOrder, ClientOrders, OrderRequest
from exchange.events import OrderRejected
from exchange.reports import DONE, ExecType, OrdStatus, Outbound

FORMAT = 1


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _undec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def open_orders(orders: ClientOrders) -> dict[str, Any]:
    aliases: dict[int, list[str]] = {}
    for (_, cl_ord_id), order in orders.by_clordid.items():
        aliases.setdefault(order.order_id, []).append(cl_ord_id)
    records = []
    for order in orders.by_id.values():
        engine = orders.sim.venue.engines.get(order.request.symbol)
        live = engine.order(order.order_id) if engine is not None else None
        if order.status in DONE or live is None:
            continue
        req = order.request
        records.append({
            "session": order.session, "order_id": order.order_id, "cl_ord_id": order.cl_ord_id,
            "orig_cl_ord_id": order.orig_cl_ord_id, "aliases": aliases.get(order.order_id, []),
            "request": {"cl_ord_id": req.cl_ord_id, "symbol": req.symbol, "side": req.side, "ord_type": req.ord_type,
                        "time_in_force": req.time_in_force, "qty": _dec(req.qty), "price": _dec(req.price),
                        "stop_px": _dec(req.stop_px), "account": req.account, "exec_inst": req.exec_inst,
                        "peg_offset": _dec(req.peg_offset), "stp": req.stp},
            "qty": _dec(order.qty), "price": _dec(order.price), "stop_px": _dec(order.stop_px),
            "cum": _dec(order.cum), "avg_px": _dec(order.avg_px), "status": order.status,
            "engine": {"side": live.side, "ord_type": live.ord_type, "tif": live.tif, "qty": live.qty,
                       "cum": live.cum, "notional": live.notional, "price": live.price, "stop_px": live.stop_px,
                       "owner": live.owner, "stp": live.stp, "trail": live.trail},
        })
    return {"format": FORMAT, "next_order_id": orders.sim.venue.next_order_id, "orders": records}


def restore(orders: ClientOrders, data: dict[str, Any]) -> list[Outbound]:
    """Re-enter carried-over orders; returns the reports of anything that happened to them on re-entry."""
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown carry-over format {data.get('format')!r}")
    venue = orders.sim.venue
    venue.next_order_id = max(venue.next_order_id, int(data["next_order_id"]))
    out: list[Outbound] = []
    for rec in data["orders"]:
        r = rec["request"]
        request = OrderRequest(r["cl_ord_id"], r["symbol"], r["side"], r["ord_type"], r["time_in_force"],
                               Decimal(r["qty"]), _undec(r["price"]), _undec(r["stop_px"]), r["account"],
                               r.get("exec_inst"), _undec(r.get("peg_offset")), r.get("stp"))
        order = ClientOrder(rec["session"], request, int(rec["order_id"]), rec["cl_ord_id"], rec["orig_cl_ord_id"],
                            Decimal(rec["qty"]), _undec(rec["price"]), _undec(rec["stop_px"]),
                            Decimal(rec["qty"]) - Decimal(rec["cum"]), Decimal(rec["cum"]), Decimal(rec["avg_px"]),
                            rec["status"])
        orders.by_id[order.order_id] = order
        for alias in rec["aliases"]:
            orders.by_clordid[(order.session, alias)] = order
        e = rec["engine"]
        engine = venue.engines.get(request.symbol)
        if engine is None:  # the symbol is no longer listed
            order.status, order.leaves = OrdStatus.CANCELED, Decimal(0)
            out.append(orders.report(order, ExecType.CANCELED, text="symbol no longer listed after restart"))
            continue
        events = engine.restore(order.order_id, e["side"], e["ord_type"], e["tif"], e["qty"], e["cum"],
                                e["notional"], e["price"], e["stop_px"], owner=e.get("owner"), stp=e.get("stp", 1),
                                trail=e.get("trail", 0))
        orders.sim.desk.observe(events)
        if events and isinstance(events[0], OrderRejected):
            order.status, order.leaves = OrdStatus.CANCELED, Decimal(0)
            out.append(orders.report(order, ExecType.CANCELED, text="order could not be restored after restart"))
            continue
        out += orders.reports(events)
    return out
