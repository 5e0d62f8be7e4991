"""Exchange ExecutionReports and OrderCancelRejects applied to our orders, each in ONE transaction.

The venue's ExecID is the exactly-once key (``executions.venue_exec_id`` UNIQUE, and the fill's journal
reference): a report delivered twice (a resend after a crash) finds its row and changes nothing. The
order moves through the Appendix D state machine, the ledger books the fill (cash, holding, average cost,
realized P&L, proportional release of the block, journal, outbox) or releases what the order no longer
needs, and the client gets the report with our OrderID and its own ClOrdID, after the commit.

Venue ClOrdIDs are ours: ``<order_id>`` for the order, ``<order_id>.<n>`` for its n-th cancel/replace,
so every report names its order without a lookup table.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import asyncpg
import quickfix as fix
import structlog

from audit.events import AuditEvent
from audit.outbox import append_event
from gateway.oms import fix_codec as codec
from gateway.oms import metrics as oms_metrics
from gateway.oms import reports
from gateway.oms.audit_trail import UNAVAILABLE, event, now
from gateway.oms.batch import Batch, group_commit
from gateway.oms.inbound_marks import InboundMarks, save_inbound_marks
from gateway.oms.links import ClientLink
from gateway.oms.model import ExecType, OrdRejReason, Side, evolve
from gateway.oms.order_events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderReplaced,
    OrderReplaceRejected,
)
from gateway.oms.order_fsm import InvalidTransition, Order, apply
from gateway.oms.risk_config import RiskLimits
from gateway.oms.session_days import NO_SESSION_START
from gateway.oms.store import StoredOrder, execution_row, new_id
from gateway.oms.unbooked import record_unbooked, unbooked_state
from ledger.fills import Fill
from ledger.fills import Side as FillSide
from ledger.journal_store import LockedAccount
from ledger.money import ZERO, ceil_cash
from ledger.reservations import OrderReservation, Release

log = structlog.get_logger(__name__)

_Queued = tuple[str, object, tuple[int, datetime] | None]  # account, report, (inbound seq, session start)

_EVENT_TYPE = {ExecType.NEW: "order.acknowledged", ExecType.TRADE: "order.fill", ExecType.CANCELED: "order.canceled",
               ExecType.REPLACED: "order.replaced", ExecType.REJECTED: "order.rejected",
               ExecType.EXPIRED: "order.expired"}


_WITH_REASON = (ExecType.CANCELED, ExecType.EXPIRED)  # the venue's (or reconciliation's) reason goes to the client


def _held(stored: StoredOrder) -> OrderReservation:
    """The order's reservation with the part blocked ahead for a pending replace marked as pending (fills
    release from the confirmed part only)."""
    held = stored.reservation
    return evolve(held, pending_cash=min(stored.pending_extra_cash, held.cash),
                   pending_shares=min(stored.pending_extra_qty, held.shares))


def order_id_of(venue_cl_ord_id: str) -> str:
    return venue_cl_ord_id.split(".", 1)[0]


def venue_request_number(venue_cl_ord_id: str) -> int:
    """The request number one of our venue ClOrdIDs carries (``store.venue_cl_ord_id``'s other half)."""
    _, dot, number = venue_cl_ord_id.partition(".")
    return int(number) if dot and number.isdigit() else 0


def _event_for(stored: StoredOrder, r: codec.VenueReport) -> OrderEvent | None:
    pending = stored.order.pending
    match r.exec_type:
        case "0":
            return OrderAccepted(r.venue_order_id)
        case "F":
            return OrderFilled(r.exec_id, r.last_qty, r.last_px)  # type: ignore[arg-type]
        case "4":
            return OrderCanceled()
        case "5":
            if pending is None or pending.qty is None:
                return None
            return OrderReplaced(pending.cl_ord_id, r.qty if r.qty is not None else pending.qty, pending.price)
        case "8":
            try:
                reason = OrdRejReason.from_fix(r.reject_reason if r.reject_reason is not None else 99)
            except ValueError:
                reason = OrdRejReason.OTHER
            return OrderRejected(reason, f"rejected by the exchange: {r.text or 'no reason given'}")
        case "C":
            return OrderExpired()
    return None  # L (stop triggered), I (status), pending states: nothing changes here


class VenueReports:
    def __init__(self, pool: asyncpg.Pool, clients: ClientLink, limits: RiskLimits,
                 link_key: str = "venue", lanes: int = 32, batch_max: int = 64) -> None:
        self.pool = pool
        self.clients = clients
        self.limits = limits
        self.link_key = link_key
        self.applied = 0
        self.duplicates = 0
        self.status_answers: dict[str, codec.VenueReport] = {}  # recovery: venue ClOrdID -> status report
        self.accounts: dict[str, str] = {}  # order id -> account id (the service fills it as it routes)
        self.routed_at: dict[str, datetime] = {}  # order id -> when it was sent to the exchange (audit hop)
        # Reports are applied on a few lanes keyed by account, so one order's reports keep their order while
        # other accounts commit in parallel; a lane applies what has queued up in one transaction (group
        # commit: one WAL flush for many reports, each report still all or nothing).
        self._lanes: list[asyncio.Queue[_Queued]] = [asyncio.Queue() for _ in range(lanes)]
        self.batch_max = batch_max  # bounds how long a batch holds its accounts locked (ADR 048)
        self._workers: list[asyncio.Task[None]] = []
        # inbound marks per session start (the QuickFIX store's creation time, new each session day and on
        # 141=Y): sequence numbers of different stores are never compared
        self.marks = InboundMarks()

    @property
    def handled_mark(self) -> int:
        """Every inbound MsgSeqNum of the current session day up to this one is applied (or was nothing to
        apply)."""
        return self.marks.handled(self.marks.current)

    def _seen(self, seq: int | None, start: datetime) -> None:
        if seq is not None:
            self.marks.seen(start, seq)

    async def _dispatch(self, venue_cl_ord_id: str, item: object, seq: int | None,
                        start: datetime = NO_SESSION_START) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work(q), name=f"oms-venue-lane-{i}")
                             for i, q in enumerate(self._lanes)]
        if seq is not None:  # before any await: the mark must never pass a report not on its lane yet
            self.marks.begin(start, seq)
        order_id = order_id_of(venue_cl_ord_id)
        account_id = self.accounts.get(order_id) or await self.account_of(order_id)  # known: no coroutine
        if account_id is None:
            log.warning("fix.exchange_message_unhandled", reason="unknown order", venue_cl_ord_id=venue_cl_ord_id)
            if seq is not None:
                self.marks.done(start, seq)  # nothing to apply
            return
        lane = zlib.crc32(account_id.encode()) % len(self._lanes)
        self._lanes[lane].put_nowait((account_id, item, (seq, start) if seq is not None else None))

    async def _work(self, queue: asyncio.Queue[_Queued]) -> None:
        while True:
            batch = [await queue.get()]
            self._take_queued(queue, batch)
            taken = oms_metrics.clock()
            failed: list[object] = []
            finished = False
            try:
                await self._apply_until_done(batch, failed, functools.partial(self._top_up, queue, batch))
                finished = True
            finally:
                # a report that failed to apply stays in flight: the mark never passes it, so the exchange
                # resends it after a restart (and the reports after it come again as no-op duplicates); so does
                # every report of a batch cut off (the lane cancelled mid-transaction: applied or not, unknown)
                pinned = {id(item) for item in failed}
                if finished:
                    oms_metrics.venue_batch_done([item for _, item, _ in batch if id(item) not in pinned], taken)
                for _, item, at in batch:
                    if finished and at is not None and id(item) not in pinned:
                        self.marks.done(at[1], at[0])
                    queue.task_done()

    def _take_queued(self, queue: asyncio.Queue[_Queued], batch: list[_Queued]) -> None:
        while len(batch) < self.batch_max and not queue.empty():
            batch.append(queue.get_nowait())

    def _top_up(self, queue: asyncio.Queue[_Queued], batch: list[_Queued]) -> list[tuple[str, object]]:
        """What queued while the batch's BEGIN was on the wire joins its transaction (and counts for the marks
        like the rest of the batch): an IOC order's New and Fill arrive one bridge hand-off apart, and one
        transaction for both saves five round trips and a commit (ADR 055)."""
        start = len(batch)
        self._take_queued(queue, batch)
        return [(account_id, item) for account_id, item, _ in batch[start:]]

    async def _apply_until_done(self, batch: list[_Queued], failed: list[object],
                                top_up: Callable[[], list[tuple[str, object]]]) -> None:
        """Apply a batch; while the database is unreachable, or a fault cuts the batch short, wait and try again
        (the lane waits with it, so later reports stay behind it, in order, and the inbound mark does not pass
        it; what was committed comes round as a no-op duplicate). A retry applies what the batch has grown to
        (its top-ups included)."""
        delay = 0.2
        while True:
            failed.clear()
            try:
                await self.apply_batch([(account_id, item) for account_id, item, _ in batch], failed, top_up)
                return
            except Exception as error:
                if isinstance(error, UNAVAILABLE):
                    log.warning("oms.venue_report_waiting_for_database", error=str(error))
                else:
                    # not the database and not a refused report (that one goes round alone and is pinned): a
                    # bug. Going on to the next batch could apply an order's later report before this one (ADR 055)
                    oms_metrics.VENUE_LANE_FAULTS.inc()
                    log.exception("oms.venue_lane_batch_failed", reports=len(batch), retry_in_seconds=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def drain(self) -> None:
        for queue in self._lanes:
            await queue.join()

    async def save_mark(self) -> None:
        await save_inbound_marks(self.pool, self.link_key, self.marks)

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(BaseException):
                await worker

    async def on_execution_report(self, sid: fix.SessionID, msg: fix.Message) -> None:
        fields = codec.crack(msg)  # once: every field below comes from here
        seq, start = codec.seq_num_of(fields), codec.session_start_of(fields)
        try:
            report = codec.parse_venue_report(fields)
        except codec.BadField as error:
            log.warning("fix.exchange_message_unhandled", reason=f"unreadable ExecutionReport: {error}")
            self._seen(seq, start)
            return
        if report.exec_type == "I":
            self.status_answers[order_id_of(report.venue_cl_ord_id)] = report
            self._seen(seq, start)
            return
        await self._dispatch(report.venue_cl_ord_id, report, seq, start)

    async def account_of(self, order_id: str) -> str | None:
        """The order's account (an order never changes account): remembered, else read once."""
        account = self.accounts.get(order_id)
        if account is None:
            account = await self.pool.fetchval("SELECT account_id FROM orders WHERE order_id = $1", order_id)
            if account is not None:
                if len(self.accounts) > 200_000:
                    self.accounts.clear()
                self.accounts[order_id] = account
        return account

    async def apply_report(self, r: codec.VenueReport) -> bool:
        """Apply one report in its own transaction; True when it changed the order."""
        account_id = await self.account_of(order_id_of(r.venue_cl_ord_id))
        if account_id is None:
            # the link's event for a message nothing handles, with the reason
            log.warning("fix.exchange_message_unhandled", reason="unknown order", venue_cl_ord_id=r.venue_cl_ord_id,
                        exec_id=r.exec_id)
            return False
        return await self.apply_batch([(account_id, r)]) == 1

    async def apply_batch(self, items: list[tuple[str, object]], failed: list[object] | None = None,
                          top_up: Callable[[], list[tuple[str, object]]] | None = None) -> int:
        """Apply several reports in ONE transaction (one commit, one WAL flush), each report all or nothing
        (a failing one sends the batch round again one report per transaction); clients are answered after
        the commit. ``top_up`` gives the reports that queued behind these while BEGIN was on the wire: they
        join the transaction (after the ones given, before anything is locked). Accounts are locked in
        ascending order, so two batches never deadlock."""
        try:
            async with self.pool.acquire() as conn, group_commit(conn):
                if top_up is not None:
                    items = [*items, *top_up()]
                items = sorted(items, key=lambda item: item[0])  # stable: one order's reports keep their order
                batch = Batch(conn)
                await batch.prefetch([account_id for account_id, _ in items],
                                     [order_id_of(item.venue_cl_ord_id) for _, item in items
                                      if isinstance(item, codec.VenueReport | codec.VenueCancelReject)],
                                     [item.exec_id for _, item in items if isinstance(item, codec.VenueReport)])
                sends = [await self._unit(batch, account_id, item) for account_id, item in items]
                await batch.flush()
            oms_metrics.account_lock_held("venue_reports", batch.locked_at)
        except UNAVAILABLE:
            raise
        except Exception as error:
            if len(items) == 1:
                settled = await self._refused(*items[0], error)
                if failed is not None and not settled:
                    failed.append(items[0][1])
                return 0
            return sum([await self.apply_batch([item], failed) for item in items])
        for send in sends:
            if send is not None:
                try:  # committed: one report that cannot go out must not hold back the others
                    send()
                except Exception:  # the report stays unsent: ClientLink.send_overdue sends it after its grace
                    log.exception("oms.client_report_send_failed")
        return sum(send is not None for send in sends)

    async def _refused(self, account_id: str, item: object, error: Exception) -> bool:
        """A report the ledger refused: logged as an error and, for a fill (the exchange traded, we booked
        nothing), an ``unbooked_fills`` row and an ``order.fill_unbooked`` event in their own transaction for
        operations to settle (``brokerage orders settle``), once per venue ExecID. True when an operator
        already settled it (written off): the inbound mark may pass it."""
        log.error("oms.venue_report_failed", item=repr(item)[:300], error=str(error), exc_info=error)
        if not isinstance(item, codec.VenueReport) or item.exec_type != "F":
            return False
        # nothing here may raise out: the fallback that called it must reach the batch's other reports
        try:
            order_id = order_id_of(item.venue_cl_ord_id)
            text = f"{type(error).__name__}: {error}"
            oms_metrics.UNBOOKED_FILLS.inc()
            unbooked = AuditEvent("order.fill_unbooked", account_id=account_id, actor="system:gateway",
                                  order_id=order_id, last_qty=item.last_qty,
                                  last_px=item.last_px, reason=f"the ledger refused the fill: {error}",
                                  extra={"venue_exec_id": item.exec_id, "venue_order_id": item.venue_order_id,
                                         "venue_cl_ord_id": item.venue_cl_ord_id, "error": text})
            async with self.pool.acquire() as conn, conn.transaction():
                if await record_unbooked(conn, item, order_id, account_id, text):
                    await append_event(conn, unbooked)
                    return False
                return await unbooked_state(conn, item.exec_id) not in (None, "open")
        except Exception:  # the log line above still says it; the mark stays pinned either way
            log.exception("oms.fill_unbooked_event_failed", exec_id=item.exec_id)
            return False

    async def _check_reuse(self, batch: Batch, order_id: str, r: codec.VenueReport) -> None:
        """A report dropped as already applied is a resend when its ExecID was recorded for the same order. For
        another order it is a venue ExecID reused (FIX only promises uniqueness per trading day): exactly-once
        still drops it (the ExecID is the key), but a real execution may be missing, so it is flagged for
        operations (error log, counter, alert VenueExecIdReused) rather than dropped silently (ADR 052)."""
        recorded = await batch.recorded_order(r.exec_id)
        if recorded is None or recorded == order_id:
            return
        oms_metrics.VENUE_EXEC_ID_REUSED.inc()
        log.error("oms.venue_exec_id_reused", exec_id=r.exec_id, order_id=order_id, recorded_order_id=recorded,
                  exec_type=r.exec_type, last_qty=str(r.last_qty), last_px=str(r.last_px))

    async def _unit(self, batch: Batch, account_id: str, item: object) -> Callable[[], object] | None:
        if isinstance(item, codec.VenueReport):
            return await self._report_unit(batch, account_id, item)
        if isinstance(item, codec.VenueCancelReject):
            return await self._cancel_reject_unit(batch, account_id, item)
        return None

    async def _report_unit(self, batch: Batch, account_id: str, r: codec.VenueReport) -> Callable[[], object] | None:
        order_id = order_id_of(r.venue_cl_ord_id)
        account = await batch.account(account_id)
        stored, seen = await batch.order_for_report(order_id, r.exec_id)
        assert stored is not None
        if seen:
            self.duplicates += 1
            await self._check_reuse(batch, order_id, r)
            return None
        change = _event_for(stored, r)
        if change is None:
            if r.exec_type == ExecType.TRIGGERED.value:
                return self._triggered_unit(batch, stored, r)
            return None
        try:
            order = apply(stored.order, change)
        except InvalidTransition as error:
            log.error("oms.venue_report_refused", order_id=order_id, exec_id=r.exec_id, error=str(error))
            return None
        exec_type = ExecType.TRADE if isinstance(change, OrderFilled) else ExecType(r.exec_type)
        extra: dict[str, object] = {}
        if isinstance(change, OrderFilled):
            fill = Fill(FillSide(order.side.ledger), r.last_qty, r.last_px, r.exec_id)
            booked = await batch.book_fill(account, order.symbol, _held(stored), fill)
            if booked is None:  # the journal already holds this venue exec id
                self.duplicates += 1
                return None
            reservation = booked.reservation
            if order.is_terminal and not reservation.is_empty:
                await batch.release(account, order.symbol, Release(reservation.cash, reservation.shares))
                reservation = OrderReservation(ZERO)
            stored = evolve(stored, order=order, reservation=reservation)
            extra = {"realized_pnl": booked.realized_pnl} if order.side is not Side.BUY else {}
        elif order.is_terminal:
            await batch.release(account, order.symbol, Release(stored.reservation.cash, stored.reservation.shares))
            stored = evolve(stored, order=order, reservation=OrderReservation(ZERO),
                            pending_extra_cash=ZERO, pending_extra_qty=ZERO)
        elif isinstance(change, OrderReplaced):  # the venue knows the order by this request's ClOrdID now
            stored = await self._resize(batch, account, replace(
                stored, order=order, venue_in_force=venue_request_number(r.venue_cl_ord_id)))
        else:
            stored = evolve(stored, order=order, reservation=evolve(stored.reservation, leaves_qty=order.leaves_qty))
        exec_id = new_id("E")
        fields = reports.execution_report(order, exec_id, exec_type, last_qty=r.last_qty, last_px=r.last_px,
                                          text=(r.text or None) if exec_type in _WITH_REASON else None)
        if r.restatement_reason is not None and exec_type is ExecType.CANCELED:  # self-trade prevention
            fields.append((378, str(r.restatement_reason)))
        batch.add_execution(execution_row(exec_id=exec_id, venue_exec_id=r.exec_id, stored=stored,
                                         exec_type=exec_type.ledger, last_qty=r.last_qty if extra is not None
                                         and exec_type is ExecType.TRADE else ZERO,
                                         last_px=r.last_px if exec_type is ExecType.TRADE else ZERO,
                                         fix_fields=fields))
        batch.save_order(stored)
        hops = {"acknowledged": now()} if exec_type is ExecType.NEW else (
            {"filled": now()} if exec_type is ExecType.TRADE else {})
        routed = self.routed_at.pop(order_id, None) if exec_type is ExecType.NEW else None
        if routed is not None:  # known when this process routed it (not across a restart)
            hops["routed"] = routed
            oms_metrics.venue_acknowledged(routed)
        batch.append_event(event(
            _EVENT_TYPE.get(exec_type, "order.updated"), order, stored.session_id, actor="system:gateway",
            exec_id=exec_id, hops=hops,
            last_qty=r.last_qty if exec_type is ExecType.TRADE else None,
            last_px=r.last_px if exec_type is ExecType.TRADE else None,
            reason=r.text, realized_pnl=extra.get("realized_pnl"),
            extra={"venue_exec_id": r.exec_id, "cum_qty": str(order.cum_qty),
                   "leaves_qty": str(order.leaves_qty), "reserved_cash": str(stored.reservation.cash),
                   "reserved_qty": str(stored.reservation.shares)}))
        self.applied += 1
        session_id = stored.session_id
        return lambda: self.clients.send(session_id, "8", fields, batch.seqs.get(exec_id))

    def _triggered_unit(self, batch: Batch, stored: StoredOrder, r: codec.VenueReport) -> Callable[[], object]:
        """A stop or trailing stop triggered at the exchange (150=L): nothing changes in the order or the ledger
        (its status stays, its block stays until it fills, is canceled or expires); the client is told, with
        the exchange's reason, and the report is stored like any other (its venue ExecID: once only)."""
        order = stored.order
        exec_id = new_id("E")
        fields = reports.execution_report(order, exec_id, ExecType.TRIGGERED, text=r.text or "stop triggered")
        batch.add_execution(execution_row(exec_id=exec_id, venue_exec_id=r.exec_id, stored=stored,
                                          exec_type=ExecType.TRIGGERED.ledger, last_qty=ZERO, last_px=ZERO,
                                          fix_fields=fields))
        batch.append_event(event("order.triggered", order, stored.session_id, actor="system:gateway",
                                 exec_id=exec_id, reason=r.text, extra={"venue_exec_id": r.exec_id}))
        self.applied += 1
        session_id = stored.session_id
        return lambda: self.clients.send(session_id, "8", fields, batch.seqs.get(exec_id))

    def _exposure_cash(self, order: Order) -> Decimal | None:
        """Cash a limit buy or short sale needs for its leaves (None: a sell, or no limit to value it at)."""
        if order.side is Side.SELL or order.price is None:
            return None
        factor = Decimal(1)
        if order.side is Side.SELL_SHORT:
            factor = (self.limits.short_requirement - 1) / self.limits.margin.initial_ratio
        return ceil_cash(order.leaves_qty * order.price * factor)

    async def _resize(self, batch: Batch, account: LockedAccount, stored: StoredOrder) -> StoredOrder:
        """After a confirmed replace: the block follows the new leaves quantity and price."""
        order, held = stored.order, stored.reservation
        leaves = order.leaves_qty
        if order.side is Side.SELL:
            target_cash, target_shares = ZERO, leaves
        elif order.price is not None:
            factor = Decimal(1)
            if order.side is Side.SELL_SHORT:
                factor = (self.limits.short_requirement - 1) / self.limits.margin.initial_ratio
            target_cash, target_shares = ceil_cash(leaves * order.price * factor), ZERO
        else:
            target_cash = ceil_cash(held.cash * leaves / held.leaves_qty) if held.leaves_qty else ZERO
            target_shares = ZERO
        more_cash, more_shares = max(target_cash - held.cash, ZERO), max(target_shares - held.shares, ZERO)
        less_cash, less_shares = max(held.cash - target_cash, ZERO), max(held.shares - target_shares, ZERO)
        if more_cash or more_shares:
            try:
                await batch.block(account, order.symbol, OrderReservation(ZERO, more_cash, more_shares))
            except Exception as error:  # the venue already replaced it; keep what is held and say so
                log.error("oms.replace_block_failed", order_id=order.order_id, error=str(error))
                more_cash = more_shares = ZERO
                target_cash, target_shares = held.cash - less_cash, held.shares - less_shares
        if less_cash or less_shares:
            await batch.release(account, order.symbol, Release(less_cash, less_shares))
        return replace(stored, reservation=OrderReservation(leaves, held.cash + more_cash - less_cash,
                                                            held.shares + more_shares - less_shares),
                       pending_extra_cash=ZERO, pending_extra_qty=ZERO)

    async def on_cancel_reject(self, sid: fix.SessionID, msg: fix.Message) -> None:
        fields = codec.crack(msg)
        seq, start = codec.seq_num_of(fields), codec.session_start_of(fields)
        try:
            r = codec.parse_venue_cancel_reject(fields)
        except codec.BadField as error:
            log.warning("fix.exchange_message_unhandled", reason=f"unreadable OrderCancelReject: {error}")
            self._seen(seq, start)
            return
        await self._dispatch(r.venue_cl_ord_id, r, seq, start)

    async def _cancel_reject_unit(self, batch: Batch, account_id: str, r: codec.VenueCancelReject,
                                  ) -> Callable[[], object] | None:
        order_id = order_id_of(r.venue_cl_ord_id)
        account = await batch.account(account_id)
        stored, _ = await batch.order_for_report(order_id, None)
        assert stored is not None
        pending = stored.order.pending
        if pending is None or r.venue_cl_ord_id != stored.venue_cl_ord_id:
            return None  # a late or repeated answer to a request already settled
        change = OrderReplaceRejected(r.text) if pending.is_replace else OrderCancelRejected(r.text)
        order = apply(stored.order, change)
        # the extra blocked for the refused replace goes back, and anything above the unchanged order's
        # exposure (leaves × limit, as ``_resize`` computes it)
        reservation, give_back = _held(stored).on_replace_rejected(
            self._exposure_cash(order) if pending.is_replace else None)
        if give_back.cash or give_back.shares:
            await batch.release(account, order.symbol, give_back)
        stored = replace(stored, order=order, reservation=reservation, pending_extra_cash=ZERO,
                         pending_extra_qty=ZERO)
        batch.save_order(stored)
        batch.append_event(event("order.cancel_rejected", order, stored.session_id, actor="system:gateway",
                                       reason=r.text, extra={"request_cl_ord_id": pending.cl_ord_id}))
        fields = codec.field_list((
            (37, order.order_id), (11, pending.cl_ord_id), (41, order.cl_ord_id), (39, order.status.value),
            (1, order.account_id), (434, "2" if pending.is_replace else "1"), (102, r.reason if r.reason is not None
                                                                                else 99),
            (60, codec.transact_time()), (58, f"rejected by the exchange: {r.text}")))
        session_id = stored.session_id
        return lambda: self.clients.send(session_id, "9", fields)
