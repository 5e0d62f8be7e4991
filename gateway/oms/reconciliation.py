"""Reconciliation with the exchange, at start-up and on every (re)logon of the exchange link.

For each working order of the ledger the gateway sends an OrderStatusRequest (35=H). The exchange answers
with the order's fills repeated (35=8 150=F, PossResend 97=Y, the *original* venue ExecIDs: the venue
journals its executions, so it has them even when its FIX store was lost) and then its status (150=I; an
order it does not know: 39=8 "unknown order"). ``diff`` compares what the ledger holds with what the venue
says and lists the repairs; ``Reconciler`` (the shell) collects the answers, lets the reports already in
flight settle, applies the repairs and audits each one (``order.reconciled`` in the outbox):

* a venue fill the ledger has not booked → booked through the normal exactly-once path (keyed by the venue
  ExecID: a fill that arrives again later, by FIX resend, is a no-op);
* the venue says the order is done (canceled, expired, rejected) and every fill is booked → the order is
  closed with that status and its block released, with the reason;
* the venue does not know the order (its state was lost) → a routed order is canceled and its block released
  with the reason; one never acknowledged (PENDING_NEW) is routed again -- at start-up, or when it is older than
  ``min_age`` (so a request in flight is never sent twice);
* a cancel/replace the venue never saw (its ClOrdID there is still the previous one) is sent again; a
  replace it applied, or an order it accepted, whose report was lost is confirmed;
* the venue's filled quantity disagrees with the fills → a mismatch event for operations, nothing changed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg
import quickfix as fix
import structlog

from gateway.oms import fix_codec as codec
from gateway.oms import reports
from gateway.oms.audit_trail import event
from gateway.oms.links import VenueLink
from gateway.oms.market_protection import protection_price
from gateway.oms.store import StoredOrder, load_order, new_id, venue_cl_ord_id, working_orders
from gateway.oms.venue import VenueReports, order_id_of

log = structlog.get_logger(__name__)

# Views ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueFill:
    exec_id: str
    last_qty: Decimal
    last_px: Decimal


@dataclass(frozen=True, slots=True)
class LedgerOrder:
    order_id: str
    status: str  # ledger status: pending_new, new, partially_filled, pending_cancel, pending_replace
    cum_qty: Decimal
    venue_cl_ord_id: str  # the ClOrdID of our latest request to the venue (a pending one's if any)
    has_pending: bool  # a cancel/replace sent and not answered
    pending_is_replace: bool
    booked: frozenset[str]  # venue ExecIDs of the fills booked
    age_seconds: float  # since the order last changed


@dataclass(frozen=True, slots=True)
class VenueOrder:
    known: bool
    ord_status: str  # FIX 39
    cum_qty: Decimal
    venue_cl_ord_id: str  # the ClOrdID the venue knows the order by now
    fills: tuple[VenueFill, ...] = ()
    qty: Decimal | None = None  # the order's quantity and limit there now
    price: Decimal | None = None
    venue_order_id: str | None = None


# Repairs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Acknowledge:
    """The venue accepted the order but its acknowledgement (150=0) was lost."""

    order_id: str
    venue_order_id: str | None


@dataclass(frozen=True, slots=True)
class BookFill:
    order_id: str
    fill: VenueFill


@dataclass(frozen=True, slots=True)
class CloseOrder:
    order_id: str
    exec_type: str  # "4" canceled or "C" expired
    reason: str


@dataclass(frozen=True, slots=True)
class RouteAgain:
    order_id: str


@dataclass(frozen=True, slots=True)
class ResendRequest:
    order_id: str
    venue_cl_ord_id: str  # the venue's current ClOrdID (the request's OrigClOrdID)


@dataclass(frozen=True, slots=True)
class ConfirmReplace:
    """The venue applied our replace (it knows the order by the request's ClOrdID) but its report was lost."""

    order_id: str
    qty: Decimal | None
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class Recheck:
    """Maybe still in flight (younger than ``min_age``): ask again later."""

    order_id: str


@dataclass(frozen=True, slots=True)
class Mismatch:
    order_id: str
    detail: str


@dataclass(frozen=True, slots=True)
class NoAnswer:
    order_id: str


Repair = (Acknowledge | BookFill | CloseOrder | RouteAgain | ResendRequest | ConfirmReplace | Recheck | Mismatch
          | NoAnswer)

_DONE = {"4": ("4", "canceled"), "C": ("C", "expired"), "8": ("4", "rejected")}
UNKNOWN_REASON = "the exchange no longer knows the order (its state was lost): canceled, block released"


def diff(ledger: LedgerOrder, venue: VenueOrder | None, *, startup: bool, min_age: float = 5.0) -> list[Repair]:
    """The repairs that bring one working order of the ledger in line with the venue (pure)."""
    if venue is None:
        return [NoAnswer(ledger.order_id)]
    if not venue.known:
        if ledger.status == "pending_new":
            young = not startup and ledger.age_seconds < min_age
            return [Recheck(ledger.order_id) if young else RouteAgain(ledger.order_id)]
        return [CloseOrder(ledger.order_id, "4", UNKNOWN_REASON)]
    repairs: list[Repair] = []
    if ledger.status == "pending_new":
        repairs.append(Acknowledge(ledger.order_id, venue.venue_order_id))
    seen: set[str] = set()
    booked_qty = ledger.cum_qty
    for fill in venue.fills:
        if fill.exec_id in ledger.booked or fill.exec_id in seen:
            continue
        seen.add(fill.exec_id)
        repairs.append(BookFill(ledger.order_id, fill))
        booked_qty += fill.last_qty
    if booked_qty != venue.cum_qty:
        repairs.append(Mismatch(ledger.order_id, f"ledger cum {booked_qty} (with the fills booked now) but the "
                                                 f"exchange reports cum {venue.cum_qty}"))
        return repairs
    done = _DONE.get(venue.ord_status)
    if done is not None:
        repairs.append(CloseOrder(ledger.order_id, done[0], f"the exchange reports the order {done[1]}; its report "
                                                            "was missed: closed, block released"))
    elif ledger.has_pending and venue.ord_status != "2":
        if venue.venue_cl_ord_id == ledger.venue_cl_ord_id:
            if ledger.pending_is_replace:
                repairs.append(ConfirmReplace(ledger.order_id, venue.qty, venue.price))
        elif startup or ledger.age_seconds >= min_age:
            repairs.append(ResendRequest(ledger.order_id, venue.venue_cl_ord_id))
        else:
            repairs.append(Recheck(ledger.order_id))
    return repairs


def venue_view(status: codec.VenueReport | None, cum_qty: Decimal, fills: Iterable[codec.VenueReport],
               ) -> VenueOrder | None:
    if status is None:
        return None
    known = status.venue_order_id not in (None, "NONE")
    return VenueOrder(known, status.ord_status, cum_qty, status.venue_cl_ord_id,
                      tuple(VenueFill(f.exec_id, f.last_qty, f.last_px) for f in fills if f.exec_type == "F"),
                      status.qty, status.price, status.venue_order_id)


# Shell ------------------------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    reason: str
    checked: int = 0
    repairs: list[Repair] = field(default_factory=list)
    applied: int = 0


def _cum_qty(msg: fix.Message) -> Decimal:
    try:
        return Decimal(msg.getField(14)) if msg.isSetField(14) else Decimal(0)
    except Exception:
        return Decimal(0)


def _poss_resend(msg: fix.Message) -> bool:
    header = msg.getHeader()
    try:
        return bool(header.isSetField(97) and header.getField(97) == "Y")
    except Exception:
        return False


class Reconciler:
    def __init__(self, pool: asyncpg.Pool, venue: VenueLink, reports_in: VenueReports, *,
                 wait_seconds: float = 5.0, min_age: float = 5.0,
                 scope: Callable[[], Awaitable[set[str]]] | None = None) -> None:
        self.pool = pool
        # gateway shards (ADR 015): only the working orders this shard routed are asked about; another
        # shard's order is unknown on our link, and "unknown" would close an order live at the venue
        self.scope = scope
        self.venue = venue
        self.reports_in = reports_in
        self.wait_seconds = wait_seconds
        self.min_age = min_age
        self.runs = 0
        self._lock = asyncio.Lock()
        self._collecting: dict[str, list[codec.VenueReport]] | None = None
        self._status: dict[str, codec.VenueReport] = {}
        self._cum: dict[str, Decimal] = {}
        self._waiting: set[str] = set()
        self._answered = asyncio.Event()
        self._task: asyncio.Task[ReconcileReport | None] | None = None
        self._again = False

    # Inbound ------------------------------------------------------------------------------------------
    async def on_execution_report(self, sid: fix.SessionID, msg: fix.Message) -> None:
        """The exchange link's 35=8 handler: the venue's answers to a reconciliation are collected here,
        everything else goes to the order path (``VenueReports``)."""
        collecting = self._collecting
        if collecting is not None:
            with contextlib.suppress(codec.BadField):
                report = codec.parse_venue_report(msg)
                if report.exec_type == "F" and _poss_resend(msg):
                    collecting.setdefault(order_id_of(report.venue_cl_ord_id), []).append(report)
                    return  # its MsgSeqNum is covered by the status answer that follows it
                if report.exec_type == "I":
                    self._cum[order_id_of(report.venue_cl_ord_id)] = _cum_qty(msg)
                    self._status[order_id_of(report.venue_cl_ord_id)] = report
                    self._waiting.discard(order_id_of(report.venue_cl_ord_id))
                    if not self._waiting:
                        self._answered.set()
        await self.reports_in.on_execution_report(sid, msg)

    # Runs ---------------------------------------------------------------------------------------------
    def trigger(self, reason: str) -> None:
        """Reconcile in the background (the link logged on); a trigger during a run asks for one more."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._background(reason), name="oms-venue-reconcile")

    async def _background(self, reason: str) -> ReconcileReport | None:
        report = None
        while True:
            self._again = False
            try:
                report = await self.run(reason)
            except Exception:
                log.exception("oms.venue_reconcile_failed", reason=reason)
            if not self._again:
                return report
            reason = "logon again during a reconciliation"

    async def run(self, reason: str, *, startup: bool = False) -> ReconcileReport:
        async with self._lock:
            return await self._run(reason, startup)

    async def _run(self, reason: str, startup: bool) -> ReconcileReport:
        self.runs += 1
        result = ReconcileReport(reason)
        orders = await working_orders(self.pool)
        if self.scope is not None:
            allowed, every = await self.scope(), len(orders)
            orders = [o for o in orders if o.order.order_id in allowed]
            log.info("oms.shard_reconcile_scope", own_working=len(orders), withheld=every - len(orders))
        result.checked = len(orders)
        ids: list[str] = [str(s.order.order_id) for s in orders]
        self._status, self._cum = {}, {}
        self._waiting = set(ids)
        self._answered.clear()
        if not ids:
            self._answered.set()
        self._collecting = {}
        try:
            for stored in orders:
                self.venue.send("H", reports.venue_status(stored.order, stored.order.order_id))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answered.wait(), self.wait_seconds + len(ids) / 200)
            collected, self._collecting = self._collecting, None
        finally:
            self._collecting = None
        await self.reports_in.drain()  # reports that arrived before the answers are applied first
        ledger = await self._ledger_view(ids)
        for order_id in ids:
            view = ledger.get(order_id)
            if view is None:  # finished meanwhile
                continue
            answer = venue_view(self._status.get(order_id), self._cum.get(order_id, Decimal(0)),
                                collected.get(order_id, ()))
            for repair in diff(view, answer, startup=startup, min_age=self.min_age):
                result.repairs.append(repair)
                if await self._apply(repair, collected.get(order_id, ())):
                    result.applied += 1
        if any(isinstance(r, Recheck) for r in result.repairs):  # (no answer: the next logon asks again)
            loop = asyncio.get_running_loop()
            loop.call_later(self.min_age, self.trigger, "recheck of requests that may have been in flight")
        kinds: dict[str, int] = {}
        for repair in result.repairs:
            kinds[type(repair).__name__] = kinds.get(type(repair).__name__, 0) + 1
        # (at start-up under the name the start-up recovery always logged)
        log.info("oms.recovery_reconciled" if startup else "oms.venue_reconciled", reason=reason,
                 checked=result.checked, repairs=kinds,
                 applied=result.applied)
        return result

    async def _ledger_view(self, ids: list[str]) -> dict[str, LedgerOrder]:
        if not ids:
            return {}
        rows = await self.pool.fetch(
            "SELECT o.order_id, o.status, o.cum_qty, o.venue_requests, o.pending_cl_ord_id IS NOT NULL AS pending, "
            "o.pending_qty IS NOT NULL AS pending_replace, "
            "extract(epoch FROM now() - greatest(o.created_at, o.updated_at))::float8 AS age, "
            "coalesce((SELECT array_agg(e.venue_exec_id) FROM executions e WHERE e.order_id = o.order_id "
            "AND e.exec_type = 'trade' AND e.venue_exec_id IS NOT NULL), '{}') AS booked "
            "FROM orders o WHERE o.order_id = ANY($1::text[]) AND o.status = ANY($2::text[])",
            ids, ["pending_new", "new", "partially_filled", "pending_cancel", "pending_replace"])
        out = {}
        for row in rows:
            requests = row["venue_requests"] or 0
            out[row["order_id"]] = LedgerOrder(
                row["order_id"], row["status"], row["cum_qty"],
                venue_cl_ord_id(row["order_id"], requests), row["pending"],
                row["pending_replace"], frozenset(row["booked"]), row["age"])
        return out

    async def _apply(self, repair: Repair, fills: Iterable[codec.VenueReport]) -> bool:
        if isinstance(repair, NoAnswer):
            log.warning("oms.venue_reconcile_no_answer", order_id=repair.order_id)
            return False
        if isinstance(repair, Recheck):
            return False
        stored = await load_order(self.pool, repair.order_id)
        if stored is None:
            return False
        detail: dict[str, object] = {"repair": type(repair).__name__}
        reason: str
        if isinstance(repair, BookFill):
            report = next(f for f in fills if f.exec_id == repair.fill.exec_id)
            if not await self.reports_in.apply_report(report):
                return False  # booked meanwhile (exactly once), or refused (order.fill_unbooked says so)
            detail |= {"venue_exec_id": report.exec_id, "last_qty": str(report.last_qty),
                       "last_px": str(report.last_px)}
            reason = "a fill the exchange executed and the gateway had not booked"
        elif isinstance(repair, CloseOrder):
            report = codec.VenueReport(stored.venue_cl_ord_id, stored.order.venue_order_id, new_id("R"),
                                       repair.exec_type, repair.exec_type, None, None, Decimal(0), Decimal(0), None,
                                       repair.reason)
            if not await self.reports_in.apply_report(report):
                return False
            detail |= {"exec_type": repair.exec_type, "released_cash": str(stored.reservation.cash),
                       "released_qty": str(stored.reservation.shares)}
            reason = repair.reason
        elif isinstance(repair, RouteAgain):
            self.venue.send("D", reports.venue_new_order(stored.order, protection_price(stored.order,
                                                                                        stored.reservation)))
            reason = "the exchange never received the order: routed again"
        elif isinstance(repair, Acknowledge):
            report = codec.VenueReport(stored.venue_cl_ord_id, repair.venue_order_id, new_id("R"), "0", "0", None,
                                       None, Decimal(0), Decimal(0), None, "")
            if not await self.reports_in.apply_report(report):
                return False
            reason = "the exchange accepted the order; its acknowledgement was missed"
        elif isinstance(repair, ConfirmReplace):
            report = codec.VenueReport(stored.venue_cl_ord_id, stored.order.venue_order_id, new_id("R"), "5", "0",
                                       repair.qty, repair.price, Decimal(0), Decimal(0), None,
                                       "replace confirmed by reconciliation")
            if not await self.reports_in.apply_report(report):
                return False
            reason = "the exchange applied the replace; its report was missed: confirmed"
        elif isinstance(repair, ResendRequest):
            self._resend(stored, repair.venue_cl_ord_id)
            reason = "the exchange never received the cancel/replace: sent again"
        else:
            reason = repair.detail
        log.warning("oms.venue_repair", order_id=repair.order_id, reason=reason, **detail)
        await self._audit(stored, reason, detail)
        return True

    def _resend(self, stored: StoredOrder, current: str) -> None:
        pending = stored.order.pending
        if pending is None:
            return
        if pending.qty is not None:
            self.venue.send("G", reports.venue_replace(stored.order, stored.venue_cl_ord_id, current, pending.qty,
                                                       pending.price))
        else:
            self.venue.send("F", reports.venue_cancel(stored.order, stored.venue_cl_ord_id, current))

    async def _audit(self, stored: StoredOrder, reason: str, detail: dict[str, object]) -> None:
        from audit.outbox import append_event

        current = await load_order(self.pool, stored.order.order_id) or stored
        audit = event("order.reconciled", current.order, current.session_id, actor="system:reconciliation",
                      reason=reason, extra=detail)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await append_event(conn, audit)
        except Exception:
            log.exception("oms.venue_repair_audit_failed", order_id=stored.order.order_id)
