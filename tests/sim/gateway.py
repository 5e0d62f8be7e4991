"""The order path's shell, step by step as ``gateway/oms`` runs it, on the fake store and link.

Every decision is the production pure code: ``entry.decide_new_order`` (admission, validation, risk),
``admission.admit_cancel/admit_replace``, ``risk.check_replace``, ``order_fsm.apply``,
``market_protection.protection_price``, ``reports.venue_new_order/venue_cancel/venue_replace`` (the tags
routed), ``venue._event_for`` / ``venue._held`` / ``VenueReports._exposure_cash``, and the ledger's
``apply_fill``, ``OrderReservation`` and block/release functions (``ledger_ops``). What is mirrored here
is only the glue between them, in the order ``service.py``, ``changes.py`` and ``venue.py`` run it: one
transaction per decision, the client answered and the venue asked only after the commit.

Everything in this object is memory: a crash drops it. Durable things live in ``FakeStore`` (the
ledger) and ``EngineStore`` (QuickFIX's store of the exchange session).
"""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, cast

from gateway.oms import reports
from gateway.oms.admission import CancelRejected, Proceed, ReportStatus, admit_cancel, admit_replace
from gateway.oms.entry import decide_new_order
from gateway.oms.fix_codec import CancelCommand, NewOrderCommand, ReplaceCommand, VenueCancelReject, VenueReport
from gateway.oms.market_protection import protection_price
from gateway.oms.model import AccountID, ExecType, OrderID, OrdStatus, Side
from gateway.oms.order_events import OrderCancelRejected as CancelRejectedEvent
from gateway.oms.order_events import OrderCancelRequested, OrderFilled, OrderReplaced, OrderReplaceRequested
from gateway.oms.order_events import OrderReplaceRejected as ReplaceRejectedEvent
from gateway.oms.order_fsm import InvalidOrder, InvalidTransition, Order, apply, submit
from gateway.oms.risk import check_replace
from gateway.oms.risk_config import Accepted, Rejected, RiskContext, RiskLimits
from gateway.oms.store import StoredOrder
from gateway.oms.venue import VenueReports, _event_for, _held, order_id_of, venue_request_number
from ledger.errors import LedgerError
from ledger.fills import AccountType, Fill
from ledger.fills import Side as FillSide
from ledger.money import ZERO, ceil_cash
from ledger.reservations import OrderReservation, Release
from refdata.instruments import Instrument
from tests.sim import ledger_ops
from tests.sim.messages import ClientMsg, Ids, Policy
from tests.sim.store import FakeStore, Mark, Txn
from tests.sim.venue_link import ExchangeStream, FakeExchange, InboundSession, VenueItem

VENUE_KEY = "venue"
Command = NewOrderCommand | CancelCommand | ReplaceCommand


@dataclass(frozen=True, slots=True)
class _LimitsOnly:
    limits: RiskLimits


class SimGateway:
    def __init__(self, store: FakeStore, inbound: InboundSession, exchange: FakeExchange, stream: ExchangeStream,
                 instruments: dict[str, Instrument], sessions: dict[str, tuple[str, frozenset[str]]], ids: Ids,
                 policy: Policy, shortable: frozenset[str] = frozenset(), lanes: int = 3) -> None:
        self.store, self.inbound, self.exchange, self.stream = store, inbound, exchange, stream
        self.instruments, self.sessions, self.ids, self.policy = instruments, sessions, ids, policy
        self.limits = RiskLimits()  # VenueReports' limits (short-sale factor only), as bootstrap passes them
        self.shortable = shortable  # accounts.short_selling_enabled
        self.client_out: deque[ClientMsg] = deque()  # answered after commit, handed to the client later
        self.venue_out: deque[tuple[str, list[tuple[int, str]]]] = deque()  # routed after commit
        self.lanes: list[deque[tuple[int | None, str, VenueItem]]] = [deque() for _ in range(lanes)]
        self.inflight: set[int] = set()
        self.max_seen = 0
        self.saved_mark = 0
        self.sent: dict[str, set[int]] = {}  # client report seqs handed to each session
        self.duplicates = 0

    # -- client requests (service.py, changes.py) -----------------------------------------------------------
    def client_request(self, session_id: str, cmd: Command) -> None:
        if isinstance(cmd, NewOrderCommand):
            self.new_order(session_id, cmd)
        else:
            self.change(session_id, cmd)

    def _reject_new(self, session_id: str, cmd: NewOrderCommand) -> None:
        self.client_out.append(ClientMsg(session_id, "8", "NONE", cmd.cl_ord_id, self.ids.next("E"),
                                         ExecType.REJECTED.value, OrdStatus.REJECTED.value))

    def limits_of(self, account_id: str) -> RiskLimits:
        """``RiskInputs.limits``: the defaults, with the account's short-selling permission."""
        return RiskLimits(short_selling=account_id in self.shortable)

    def _context(self, txn: Txn, account_id: str, symbol: str) -> RiskContext:
        """``RiskInputs.context_for_new``: the account's rows as this transaction reads them."""
        opens = txn.open_orders(account_id)
        positions = txn.positions(account_id)
        account_type = txn.t.account_types[account_id]
        marks: dict[str, Decimal] = {}
        if account_type is AccountType.MARGIN:
            marks = {p.symbol: m for p in positions if p.qty and (m := self.exchange.quote(p.symbol).mark)}
        return RiskContext(
            account_type=account_type, cash=txn.t.cash[account_id], position=txn.position(account_id, symbol),
            quote=self.exchange.quote(symbol), now_us=None, positions=positions, marks=marks,
            open_orders=len(opens),
            open_buy_qty=sum((s.order.leaves_qty for s in opens if s.order.symbol == symbol
                              and s.order.side is Side.BUY), ZERO),
            open_sell_qty=sum((s.order.leaves_qty for s in opens if s.order.symbol == symbol
                               and s.order.side is not Side.BUY), ZERO))

    def new_order(self, session_id: str, cmd: NewOrderCommand) -> None:
        default, allowed = self.sessions[session_id]
        account_id = default if cmd.account is None else (cmd.account if cmd.account in allowed else None)
        if account_id is None:
            self._reject_new(session_id, cmd)
            return
        try:
            order = submit(order_id=OrderID(self.ids.next("O")), cl_ord_id=cmd.cl_ord_id,
                           account_id=AccountID(account_id), symbol=cmd.symbol, side=cmd.side,
                           ord_type=cmd.ord_type, time_in_force=cmd.time_in_force, qty=cmd.qty, price=cmd.price,
                           stop_px=cmd.stop_px)
        except InvalidOrder:
            self._reject_new(session_id, cmd)
            return
        txn = self.store.begin()
        found = txn.find_by_cl_ord_id(session_id, cmd.cl_ord_id)
        decision = decide_new_order(order, existing=found.order if found else None, poss_resend=cmd.poss_resend,
                                    instrument=self.instruments.get(order.symbol),
                                    ctx=self._context(txn, account_id, order.symbol),
                                    limits=self.limits_of(account_id))
        if isinstance(decision, ReportStatus):
            self.client_out.append(self._status(session_id, decision.order))
            return
        if not isinstance(decision, Accepted):
            self._reject_new(session_id, cmd)
            return
        reservation = decision.reservation
        try:
            ledger_ops.block(txn, account_id, order.symbol, reservation)
        except LedgerError:
            self._reject_new(session_id, cmd)
            return
        stored = StoredOrder(order, session_id, order.cl_ord_id, reservation)
        txn.t.orders[order.order_id] = stored
        txn.t.cl_ord_ids[(session_id, cmd.cl_ord_id)] = order.order_id
        txn.t.order_entries.append((session_id, cmd.cl_ord_id, order.order_id))
        exec_id = self.ids.next("E")
        seq = txn.add_report(stored, exec_id, ExecType.PENDING_NEW.value, None)
        self.store.commit(txn)
        self.client_out.append(self._report(stored, exec_id, ExecType.PENDING_NEW, seq))
        self.venue_out.append(("D", reports.venue_new_order(order, protection_price(order, reservation))))

    def _status(self, session_id: str, order: Order) -> ClientMsg:
        return ClientMsg(session_id, "8", order.order_id, order.cl_ord_id, self.ids.next("S"),
                         ExecType.ORDER_STATUS.value, order.status.value)

    @staticmethod
    def _report(stored: StoredOrder, exec_id: str, exec_type: ExecType, seq: int | None) -> ClientMsg:
        order = stored.order
        pending = order.pending
        cl_ord_id = pending.cl_ord_id if pending is not None and exec_type in (
            ExecType.PENDING_CANCEL, ExecType.PENDING_REPLACE) else order.cl_ord_id
        return ClientMsg(stored.session_id, "8", order.order_id, cl_ord_id, exec_id, exec_type.value,
                         order.status.value, seq)

    def change(self, session_id: str, cmd: CancelCommand | ReplaceCommand) -> None:
        txn = self.store.begin()
        stored = txn.find_by_cl_ord_id(session_id, cmd.orig_cl_ord_id)
        in_use = txn.find_by_cl_ord_id(session_id, cmd.cl_ord_id) is not None
        orig = stored.order if stored else None
        admitted: Proceed | ReportStatus | CancelRejected
        if isinstance(cmd, ReplaceCommand):
            admitted = admit_replace(orig, cmd.orig_cl_ord_id, cmd.cl_ord_id, qty=cmd.qty, price=cmd.price,
                                     side=cmd.side, symbol=cmd.symbol, cl_ord_id_in_use=in_use,
                                     poss_resend=cmd.poss_resend,
                                     instrument=self.instruments.get(orig.symbol) if orig else None)
        else:
            admitted = admit_cancel(orig, cmd.orig_cl_ord_id, cmd.cl_ord_id, cl_ord_id_in_use=in_use,
                                    poss_resend=cmd.poss_resend)
        if isinstance(admitted, ReportStatus):
            self.client_out.append(self._status(session_id, admitted.order))
            return
        if isinstance(admitted, CancelRejected):
            self._cancel_reject(session_id, cmd, admitted.order_id, admitted.ord_status)
            return
        assert stored is not None
        try:
            if isinstance(cmd, ReplaceCommand):
                outcome = self._replace(txn, stored, cmd)
                if outcome is None:
                    self._cancel_reject(session_id, cmd, stored.order.order_id, stored.order.status)
                    return
                stored, order, exec_type = outcome
            else:
                order, exec_type = apply(stored.order, OrderCancelRequested(cmd.cl_ord_id)), ExecType.PENDING_CANCEL
        except LedgerError:  # changes.py: the transaction rolls back, the client gets 35=9
            self._cancel_reject(session_id, cmd, "NONE", OrdStatus.REJECTED)
            return
        orig_venue_id = stored.venue_cl_ord_id_in_force
        stored = replace(stored, order=order, venue_requests=stored.venue_requests + 1)
        txn.t.orders[order.order_id] = stored
        txn.t.cl_ord_ids[(session_id, cmd.cl_ord_id)] = order.order_id
        exec_id = self.ids.next("E")
        seq = txn.add_report(stored, exec_id, exec_type.value, None)
        self.store.commit(txn)
        self.client_out.append(self._report(stored, exec_id, exec_type, seq))
        if isinstance(cmd, ReplaceCommand):
            self.venue_out.append(("G", reports.venue_replace(order, stored.venue_cl_ord_id, orig_venue_id, cmd.qty,
                                                              cmd.price)))
        else:
            self.venue_out.append(("F", reports.venue_cancel(order, stored.venue_cl_ord_id, orig_venue_id)))

    def _replace(self, txn: Txn, stored: StoredOrder, cmd: ReplaceCommand,
                 ) -> tuple[StoredOrder, Order, ExecType] | None:
        ctx = self._context(txn, stored.order.account_id, stored.order.symbol)
        decision = check_replace(stored.order, cmd.qty, cmd.price, ctx, self.limits_of(stored.order.account_id),
                                 stored.reservation)
        if isinstance(decision, Rejected):
            return None
        extra_cash, extra_qty = max(decision.extra_cash, ZERO), max(decision.extra_shares, ZERO)
        if extra_cash or extra_qty:
            ledger_ops.block(txn, stored.order.account_id, stored.order.symbol,
                             OrderReservation(ZERO, extra_cash, extra_qty))
        try:
            order = apply(stored.order, OrderReplaceRequested(cmd.cl_ord_id, cmd.qty, cmd.price))
        except InvalidTransition as error:
            raise LedgerError(str(error)) from error
        reservation = stored.reservation.with_pending(extra_cash, extra_qty)
        stored = replace(stored, reservation=reservation, pending_extra_cash=extra_cash, pending_extra_qty=extra_qty)
        return stored, order, ExecType.PENDING_REPLACE

    def _cancel_reject(self, session_id: str, cmd: CancelCommand | ReplaceCommand, order_id: str,
                       status: OrdStatus) -> None:
        self.client_out.append(ClientMsg(session_id, "9", order_id, cmd.cl_ord_id, None, None, status.value))

    # -- exchange reports (venue.py) -------------------------------------------------------------------
    def on_venue_message(self, seq: int, item: VenueItem) -> None:
        """``on_execution_report`` / ``on_cancel_reject`` → ``_dispatch``: in flight before anything else."""
        self.max_seen = max(self.max_seen, seq)
        self.inflight.add(seq)
        stored = self.store.state.orders.get(order_id_of(item.venue_cl_ord_id))
        if stored is None:
            self.inflight.discard(seq)
            return
        account_id = stored.order.account_id
        self.lanes[zlib.crc32(account_id.encode()) % len(self.lanes)].append((seq, account_id, item))

    def work(self, lane: int, batch_max: int = 64) -> str:
        """``_work``: a lane applies what has queued up (at most ``batch_max``) in one transaction; a report
        that fails stays in flight (the mark never passes it), the others leave it."""
        queue = self.lanes[lane]
        batch = [queue.popleft() for _ in range(min(batch_max, len(queue)))]
        failed: set[int] = set()
        outcomes = self.apply_batch([(i, account_id, item) for i, (_, account_id, item) in enumerate(batch)], failed)
        for i, (seq, _, _) in enumerate(batch):
            if seq is not None and i not in failed:
                self.inflight.discard(seq)
        return ", ".join(f"seq {seq}: {outcomes[i]}" for i, (seq, _, _) in enumerate(batch))

    def apply_report(self, account_id: str, item: VenueItem) -> str:
        return self.apply_batch([(0, account_id, item)], set())[0]

    def apply_batch(self, items: list[tuple[int, str, VenueItem]], failed: set[int]) -> dict[int, str]:
        """``apply_batch``: ONE transaction for the batch (accounts in ascending order, one order's reports in
        their order); if anything fails, the batch is redone one report per transaction."""
        items = sorted(items, key=lambda item: item[1])
        txn = self.store.begin()
        msgs: list[tuple[int, ClientMsg | None]] = []
        try:
            for index, account_id, item in items:
                if isinstance(item, VenueReport):
                    msgs.append((index, self._report_unit(txn, account_id, item)))
                else:
                    msgs.append((index, self._cancel_reject_unit(txn, account_id, item)))
        except Exception as error:
            if len(items) == 1:
                self._refused(items[0][2], error)
                failed.add(items[0][0])
                return {items[0][0]: "refused"}
            outcomes: dict[int, str] = {}
            for one in items:
                outcomes.update(self.apply_batch([one], failed))
            return outcomes
        self.store.commit(txn)
        self.client_out.extend(msg for _, msg in msgs if msg is not None)
        return {index: "no-op" if msg is None else "applied" for index, msg in msgs}

    def _refused(self, item: VenueItem, error: Exception) -> None:
        """A report the ledger refused: for a fill, an ``order.fill_unbooked`` event in its own transaction."""
        if isinstance(item, VenueReport) and item.exec_type == "F":
            txn = self.store.begin()
            txn.t.unbooked.append((item.exec_id, f"{type(error).__name__}: {error}"))
            self.store.commit(txn)

    def _report_unit(self, txn: Txn, account_id: str, r: VenueReport) -> ClientMsg | None:
        order_id = order_id_of(r.venue_cl_ord_id)
        stored = txn.t.orders[order_id]
        if r.exec_id in txn.t.venue_exec_ids:
            self.duplicates += 1
            return None
        change = _event_for(stored, r)
        if change is None:
            return None
        try:
            order = apply(stored.order, change)
        except InvalidTransition:
            return None
        exec_type = ExecType.TRADE if isinstance(change, OrderFilled) else ExecType(r.exec_type)
        if isinstance(change, OrderFilled):
            fill = Fill(FillSide(order.side.ledger), r.last_qty, r.last_px, r.exec_id)
            booked = ledger_ops.book_fill(txn, account_id, order.symbol, _held(stored), fill)
            if booked is None:
                self.duplicates += 1
                return None
            reservation = booked.reservation
            if order.is_terminal and not reservation.is_empty:
                ledger_ops.release(txn, account_id, order.symbol, Release(reservation.cash, reservation.shares))
                reservation = OrderReservation(ZERO)
            stored = replace(stored, order=order, reservation=reservation)
        elif order.is_terminal:
            ledger_ops.release(txn, account_id, order.symbol, Release(stored.reservation.cash,
                                                                      stored.reservation.shares))
            stored = replace(stored, order=order, reservation=OrderReservation(ZERO), pending_extra_cash=ZERO,
                             pending_extra_qty=ZERO)
        elif isinstance(change, OrderReplaced):
            stored = self._resize(txn, account_id, replace(stored, order=order,
                                                            venue_in_force=venue_request_number(r.venue_cl_ord_id)))
        else:
            stored = replace(stored, order=order, reservation=replace(stored.reservation, leaves_qty=order.leaves_qty))
        txn.t.orders[order_id] = stored
        exec_id = self.ids.next("E")
        seq = txn.add_report(stored, exec_id, exec_type.value, r.exec_id)
        return self._report(stored, exec_id, exec_type, seq)

    def _exposure_cash(self, order: Order) -> Decimal | None:
        method: Any = VenueReports._exposure_cash  # the production method: it reads only ``self.limits``
        return cast(Decimal | None, method(_LimitsOnly(self.limits), order))

    def _resize(self, txn: Txn, account_id: str, stored: StoredOrder) -> StoredOrder:
        """``VenueReports._resize``: after a confirmed replace the block follows the new leaves and price."""
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
                ledger_ops.block(txn, account_id, order.symbol, OrderReservation(ZERO, more_cash, more_shares))
            except Exception:
                more_cash = more_shares = ZERO
        if less_cash or less_shares:
            ledger_ops.release(txn, account_id, order.symbol, Release(less_cash, less_shares))
        return replace(stored, reservation=OrderReservation(leaves, held.cash + more_cash - less_cash,
                                                            held.shares + more_shares - less_shares),
                       pending_extra_cash=ZERO, pending_extra_qty=ZERO)

    def _cancel_reject_unit(self, txn: Txn, account_id: str, r: VenueCancelReject) -> ClientMsg | None:
        order_id = order_id_of(r.venue_cl_ord_id)
        stored = txn.t.orders[order_id]
        pending = stored.order.pending
        if pending is None or r.venue_cl_ord_id != stored.venue_cl_ord_id:
            return None
        change = ReplaceRejectedEvent(r.text) if pending.is_replace else CancelRejectedEvent(r.text)
        order = apply(stored.order, change)
        reservation, give_back = _held(stored).on_replace_rejected(
            self._exposure_cash(order) if pending.is_replace else None)
        if give_back.cash or give_back.shares:
            ledger_ops.release(txn, account_id, order.symbol, give_back)
        txn.t.orders[order_id] = replace(stored, order=order, reservation=reservation, pending_extra_cash=ZERO,
                                         pending_extra_qty=ZERO)
        return ClientMsg(stored.session_id, "9", order.order_id, pending.cl_ord_id, None, None, order.status.value)

    # -- marks ----------------------------------------------------------------------------------------------
    @property
    def handled_mark(self) -> int:
        return min(self.inflight) - 1 if self.inflight else self.max_seen

    def save_mark(self) -> None:
        mark = self.handled_mark
        if mark <= self.saved_mark:
            return
        txn = self.store.begin()
        old = txn.t.marks.get(VENUE_KEY)
        day = self.inbound.store.day
        if self.policy.marks_per_day:
            seq = max(old.seq, mark) if old is not None and old.day == day else mark
        else:  # production today: greatest(fix_inbound_marks.last_seq, EXCLUDED.last_seq)
            seq = max(old.seq, mark) if old is not None else mark
        txn.t.marks[VENUE_KEY] = Mark(day, seq)
        self.store.commit(txn)
        self.saved_mark = mark

    def save_client_marks(self) -> None:
        """``ClientLink.save_marks``: per session, the highest seq below which every stored report was sent."""
        txn = self.store.begin()
        for session_id, sent in self.sent.items():
            mark = txn.t.client_marks.get(session_id, 0)
            for row in txn.t.reports:
                if row.session_id != session_id or row.seq <= mark:
                    continue
                if row.seq not in sent:
                    break
                mark = row.seq
            txn.t.client_marks[session_id] = mark
        self.store.commit(txn)

    def drain(self) -> None:
        for lane in range(len(self.lanes)):
            while self.lanes[lane]:
                self.work(lane)

    def on_session_reset(self) -> None:
        """The exchange session starts a new day (both sides' numbers restart at 1)."""
        if self.policy.drain_before_reset:
            self.drain()
            self.save_mark()
        self.inbound.ahead.clear()
        self.inbound.asked = 0
        if self.policy.marks_per_day:
            self.max_seen = self.saved_mark = 0
            self.inflight.clear()  # what is left was refused (pinned): yesterday's numbers mean nothing now

