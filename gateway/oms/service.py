"""Client order entry: NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest, OrderStatusRequest.

Each request is decided and recorded in ONE PostgreSQL transaction (account row locked first): admission,
validation and risk (pure cores), the block of buying power or shares, the order row, the ClOrdID claim,
the client ExecutionReport (``executions``) and the outbox event. Only after the commit is the client
answered and the venue asked: a crash before the commit leaves nothing, after it ``recovery`` finishes.
A database that cannot be reached gets a clear reject: nothing is ever accepted unrecorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import cast

import asyncpg
import quickfix as fix
import structlog

from audit.events import AuditEvent
from fixsession.messages import body_value, msg_seq_num, session_key
from fixsession.rejects import CONDITIONALLY_REQUIRED_FIELD_MISSING, business_reject
from gateway.oms import fix_codec as codec
from gateway.oms import metrics as oms_metrics
from gateway.oms import reports
from gateway.oms.admission import DuplicateOrder, ReportStatus
from gateway.oms.audit_trail import DB_DOWN_TEXT, UNAVAILABLE, AuditSink, event, no_audit, now, request_event
from gateway.oms.batch import Batch, group_commit
from gateway.oms.changes import ChangeRequests
from gateway.oms.config import maintenance_policy
from gateway.oms.context import NewOrderBatch, RiskInputs
from gateway.oms.entry import decide_new_order
from gateway.oms.fix_codec import Fields
from gateway.oms.inbound_marks import upsert_marks
from gateway.oms.links import ClientLink, VenueLink
from gateway.oms.market_protection import protection_price
from gateway.oms.mass_actions import MassActions
from gateway.oms.model import ExecType, OrdRejReason
from gateway.oms.order_fsm import InvalidOrder, Order, submit
from gateway.oms.origin import SystemOrigin, mark_system_order
from gateway.oms.rate_limit import RateLimit, TokenBucket, take
from gateway.oms.risk_config import Accepted, Rejected
from gateway.oms.self_trade import SelfTradeModes
from gateway.oms.session_days import NO_SESSION_START, ClOrdIdScope, message_session_start
from gateway.oms.session_lanes import SessionLanes
from gateway.oms.store import StoredOrder, execution_row, find_by_cl_ord_id, new_id
from gateway.oms.whatif import WHAT_IF_TAG, WhatIf, WhatIfRefused, what_if, what_if_report
from ledger.errors import LedgerError
from ledger.fills import Position
from ledger.money import ZERO
from ledger.reservations import OrderReservation
from refdata.instruments import Instrument

log = structlog.get_logger(__name__)

Handler = Callable[[fix.SessionID, fix.Message], Awaitable[None]]


class OrderService(ChangeRequests, MassActions):
    def __init__(self, pool: asyncpg.Pool, inputs: RiskInputs, clients: ClientLink, venue: VenueLink,
                 instruments: dict[str, Instrument], session_accounts: dict[str, tuple[str, frozenset[str]]],
                 rate: RateLimit) -> None:
        self.pool = pool
        self.inputs = inputs
        self.clients = clients
        self.venue = venue
        self.instruments = instruments
        self.session_accounts = session_accounts  # SenderCompID -> (default account, allowed accounts)
        self.rate = rate
        self._buckets: dict[str, TokenBucket] = {}
        self.clock: Callable[[], datetime] = now  # the trading day of a ClOrdID (tests move it)
        self.cl_ord_id_scope: ClOrdIdScope = "trading_day"  # FIX 4.4: unique per session and trading day
        self.audit: AuditSink = no_audit  # events decided outside a transaction (the audit spool)
        self.known_accounts: dict[str, str] | None = None  # shared with VenueReports: order id -> account
        self.routed_at: dict[str, datetime] | None = None  # shared with VenueReports: order id -> routed at
        self.self_trade = SelfTradeModes()  # each account's self-trade prevention mode, sent in tag 7940
        # (session, session start) -> last inbound MsgSeqNum handled; the session start is the QuickFIX
        # store's creation time (a new store each session day and on 141=Y: numbers start again at 1)
        self.handled: dict[tuple[str, datetime], int] = {}
        self.lanes = SessionLanes(self.new_orders, self.mark_handled)
        self._handled_saved: dict[tuple[str, datetime], int] = {}

    # -- FIX entry points (registered on ClientAcceptorApplication.handlers) -------------------------
    def handlers(self) -> dict[str, object]:
        return {"D": self.on_new_order, "F": self._queued(self.on_cancel), "G": self._queued(self.on_replace),
                "H": self._queued(self.on_status), "q": self.on_mass_cancel, "AF": self.on_mass_status}

    def _queued(self, handler: Handler) -> Handler:
        """Run ``handler`` on the session's lane, after the requests that came before it. The order-entry rate
        limit is taken when the message arrives, as for new orders: it measures the client's rate, not how fast
        a busy gateway reaches the message."""
        async def enqueue(sid: fix.SessionID, msg: fix.Message) -> None:
            session_id = self.client_id(sid)
            if self._throttled(sid, msg, session_id, body_value(msg, 11)):
                return
            self.lanes.submit(session_id, lambda: handler(sid, msg), msg_seq_num(msg), message_session_start(msg))
        return enqueue

    def mark_handled(self, session_id: str, seq: int, start: datetime = NO_SESSION_START) -> None:
        """Remember each session's last inbound MsgSeqNum fully handled, per session day (see ``recovery``)."""
        if seq > self.handled.get((session_id, start), 0):
            self.handled[(session_id, start)] = seq

    async def save_handled(self) -> None:
        """Persist the handled marks (``fix_inbound_marks``, key ``client:<CompID>`` and the session start)."""
        changed = [(key, q) for key, q in self.handled.items() if self._handled_saved.get(key) != q]
        if not changed:
            return
        await upsert_marks(self.pool, [(f"client:{s}", start, q) for (s, start), q in changed])
        self._handled_saved.update(changed)
        newest: dict[str, datetime] = {}
        for s, start in self.handled:
            newest[s] = max(start, newest.get(s, start))
        for key in [k for k in self.handled if k[1] < newest[k[0]] and self._handled_saved.get(k) == self.handled[k]]:
            del self.handled[key]  # an earlier session day, saved: forget it
            self._handled_saved.pop(key, None)

    @staticmethod
    def client_id(sid: fix.SessionID) -> str:
        return session_key(sid).rsplit("->", 1)[-1]

    def _throttled(self, sid: fix.SessionID, msg: fix.Message, session_id: str, ref_id: str | None) -> bool:
        at = now()
        bucket = self._buckets.get(session_id) or self.rate.full(at)
        bucket, throttled = take(bucket, at)
        self._buckets[session_id] = bucket
        if throttled is None:
            return False
        self.clients.send(session_id, "j", _fields(business_reject(msg, throttled.reason.value, throttled.text,
                                                                   ref_id)))
        return True

    def _bad_field(self, session_id: str, msg: fix.Message, error: codec.BadField) -> None:
        self.clients.send(session_id, "j", _fields(business_reject(
            msg, CONDITIONALLY_REQUIRED_FIELD_MISSING, f"invalid message: {error}", None)))

    async def on_new_order(self, sid: fix.SessionID, msg: fix.Message) -> None:
        received = now()
        session_id = self.client_id(sid)
        fields = codec.crack(msg)  # once: every field below comes from here
        if self._throttled(sid, msg, session_id, fields.get("11")):
            return
        try:
            cmd = codec.parse_new_order(fields)
        except codec.BadField as error:
            self._bad_field(session_id, msg, error)
            return
        if fields.get(str(WHAT_IF_TAG)) == "Y":  # evaluated in turn, never placed (gateway/oms/whatif.py)
            self.lanes.submit(session_id, lambda: self.on_what_if(session_id, cmd), codec.seq_num_of(fields),
                              codec.session_start_of(fields))
            return
        self.lanes.submit(session_id, (cmd, received), codec.seq_num_of(fields), codec.session_start_of(fields))

    async def on_what_if(self, session_id: str, cmd: codec.NewOrderCommand) -> None:
        """A NewOrderSingle with 9600=Y: the risk decision and figures in an ExecutionReport; nothing placed."""
        account_id = self.account_for(session_id, cmd.account)
        result: WhatIf | WhatIfRefused
        if account_id is None:
            result = WhatIfRefused(OrdRejReason.UNKNOWN_ACCOUNT, f"unknown account: {cmd.account or '(none)'} is "
                                                                 "not an account of this session")
        else:
            try:
                result = await what_if(self.pool, self.inputs, self.instruments,
                                       maintenance_policy(self.inputs.settings), account_id, cmd)
            except WhatIfRefused as refused:
                result = refused
            except UNAVAILABLE:
                result = WhatIfRefused(OrdRejReason.OTHER, DB_DOWN_TEXT)
            except LedgerError as error:  # e.g. the linked account no longer exists
                result = WhatIfRefused(OrdRejReason.UNKNOWN_ACCOUNT, str(error))
        self.clients.send(session_id, "8", what_if_report(cmd, account_id, result))

    async def on_cancel(self, sid: fix.SessionID, msg: fix.Message) -> None:
        session_id = self.client_id(sid)
        try:
            cmd = codec.parse_cancel(msg)
        except codec.BadField as error:
            self._bad_field(session_id, msg, error)
            return
        await self.change(session_id, cmd)

    async def on_replace(self, sid: fix.SessionID, msg: fix.Message) -> None:
        session_id = self.client_id(sid)
        try:
            cmd = codec.parse_replace(msg)
        except codec.BadField as error:
            self._bad_field(session_id, msg, error)
            return
        await self.change(session_id, cmd)

    async def on_status(self, sid: fix.SessionID, msg: fix.Message) -> None:
        session_id = self.client_id(sid)
        try:
            cmd = codec.parse_status(msg)
        except codec.BadField as error:
            self._bad_field(session_id, msg, error)
            return
        try:
            found = await find_by_cl_ord_id(self.pool, session_id, cmd.cl_ord_id)
        except UNAVAILABLE:
            self.clients.send(session_id, "j", _fields(business_reject(msg, 4, DB_DOWN_TEXT, cmd.cl_ord_id)))
            return
        echo = [(790, req_id)] if (req_id := body_value(msg, 790)) else []  # OrdStatusReqID, echoed
        if found is None:
            self.clients.send(session_id, "8", reports.order_reject(
                cl_ord_id=cmd.cl_ord_id, exec_id=new_id("S"), reason=OrdRejReason.UNKNOWN_ORDER,
                text=f"unknown order: no order with ClOrdID {cmd.cl_ord_id}", account=None, symbol=None,
                side=None, qty=None, exec_type=ExecType.ORDER_STATUS) + echo)
            return
        self.clients.send(session_id, "8", reports.execution_report(found[0].order, new_id("S"),
                                                                     ExecType.ORDER_STATUS) + echo)

    # -- NewOrderSingle ----------------------------------------------------------------------------
    def account_for(self, session_id: str, requested: str | None) -> str | None:
        default, allowed = self.session_accounts.get(session_id, ("", frozenset()))
        if requested is None:
            return default or None
        return requested if requested in allowed else None

    def record(self, event: AuditEvent) -> None:
        """An audit event with no transaction to carry it: into the durable spool (never raises)."""
        try:
            self.audit(event)
        except Exception:
            log.exception("oms.audit_spool_failed", event_type=event.event_type, event_id=str(event.event_id))

    def _audit_new(self, session_id: str, cmd: codec.NewOrderCommand, account_id: str | None, rule: str,
                   text: str) -> None:
        self.record(request_event("order.rejected", session_id, cl_ord_id=cmd.cl_ord_id,
                                  account_id=account_id or cmd.account, symbol=cmd.symbol, side=cmd.side.ledger,
                                  ord_type=cmd.ord_type.ledger, qty=cmd.qty, price=cmd.price, rule=rule,
                                  reason=text))

    def _reject_new(self, session_id: str, cmd: codec.NewOrderCommand, reason: OrdRejReason, text: str,
                    account: str | None) -> None:
        oms_metrics.order_rejected(reason)
        self.clients.send(session_id, "8", reports.order_reject(
            cl_ord_id=cmd.cl_ord_id, exec_id=new_id("E"), reason=reason, text=text, account=account or cmd.account,
            symbol=cmd.symbol, side=cmd.side.value, qty=cmd.qty))

    async def new_order(self, session_id: str, cmd: codec.NewOrderCommand, received: datetime,
                        actor: str | None = None, origin: SystemOrigin | None = None) -> Order | None:
        """Decide, record, answer and route one new order; the accepted order, or None. ``origin``: a system
        order (``orders.origin``), recorded in the order's own transaction."""
        return (await self.new_orders(session_id, [(cmd, received)], actor, origin))[0]

    def _prepare(self, session_id: str, cmd: codec.NewOrderCommand) -> tuple[str, Order] | None:
        account_id = self.account_for(session_id, cmd.account)
        if account_id is None:
            text = f"unknown account: {cmd.account or '(none)'} is not an account of this session"
            self._audit_new(session_id, cmd, None, "unknown_account", text)
            self._reject_new(session_id, cmd, OrdRejReason.UNKNOWN_ACCOUNT, text, None)
            return None
        try:
            order = submit(order_id=new_id("O"), cl_ord_id=cmd.cl_ord_id, account_id=account_id,  # type: ignore[arg-type]
                           symbol=cmd.symbol, side=cmd.side, ord_type=cmd.ord_type, time_in_force=cmd.time_in_force,
                           qty=cmd.qty, price=cmd.price, stop_px=cmd.stop_px)
        except InvalidOrder as error:
            self._audit_new(session_id, cmd, account_id, "invalid_order", f"invalid order: {error}")
            self._reject_new(session_id, cmd, OrdRejReason.OTHER, f"invalid order: {error}", account_id)
            return None
        return account_id, order

    async def new_orders(self, session_id: str, items: list[tuple[codec.NewOrderCommand, datetime]],
                         actor: str | None = None, origin: SystemOrigin | None = None) -> list[Order | None]:
        """Several of a session's NewOrderSingles in ONE transaction (group commit), each order still all or
        nothing: should anything fail, the batch is rolled back and every order goes again on its own."""
        actor = actor or f"fix:{session_id}"
        results: list[Order | None] = [None] * len(items)
        prepared = [(index, cmd, received, self._prepare(session_id, cmd))
                    for index, (cmd, received) in enumerate(items)]
        quotes = await self.inputs.quotes_of([cmd.symbol for _, cmd, _, p in prepared if p is not None])
        ready = [(index, cmd, received, p[0], p[1], quotes.get(cmd.symbol))
                 for index, cmd, received, p in prepared if p is not None]
        if not ready:
            return results
        outcomes: list[tuple[str, object] | BaseException] = []
        tx_started = oms_metrics.clock()
        try:
            async with self.pool.acquire(timeout=5) as conn, group_commit(conn):
                batch = Batch(conn)
                # the batch's accounts locked, then everything risk reads for all its orders: two statements
                await batch.lock_accounts([account_id for _, _, _, account_id, _, _ in ready])
                state = await self.inputs.read_batch(
                    conn, batch.locked_accounts(), batch.ledger, session_id, [cmd.cl_ord_id for _, cmd, *_ in ready],
                    min(self.cl_ord_id_since(cmd.poss_resend) for _, cmd, *_ in ready))
                for _, cmd, received, _, order, quote in ready:
                    outcomes.append(await self._enter_unit(batch, state, session_id, order, cmd, quote, received,
                                                           actor, origin))
                await batch.flush()  # orders, claims, reports, cash, holdings, events: one statement
            oms_metrics.new_orders_tx(tx_started, len(ready))
            oms_metrics.account_lock_held("new_orders", batch.locked_at)
            outcomes = [_with_seq(o, batch.seqs) if isinstance(o, tuple) else o for o in outcomes]
        except UNAVAILABLE as error:
            log.warning("oms.db_unavailable", session=session_id, error=str(error))
            outcomes = [error] * len(ready)
        except Exception as error:
            if len(ready) == 1:
                outcomes = [error]
            else:  # one order spoiled the batch: each on its own, so only that one is refused
                for index, cmd, received, *_ in ready:
                    results[index] = (await self.new_orders(session_id, [(cmd, received)], actor, origin))[0]
                return results
        for (index, cmd, received, account_id, _, _), outcome in zip(ready, outcomes, strict=True):
            results[index] = self._finish_new(session_id, cmd, account_id, outcome)
            oms_metrics.order_decided(received, results[index])
        return results

    def _finish_new(self, session_id: str, cmd: codec.NewOrderCommand, account_id: str,
                    outcome: tuple[str, object] | BaseException) -> Order | None:
        if isinstance(outcome, UNAVAILABLE):
            self._audit_new(session_id, cmd, account_id, "database_unavailable", DB_DOWN_TEXT)
            self._reject_new(session_id, cmd, OrdRejReason.OTHER, DB_DOWN_TEXT, account_id)
            return None
        if isinstance(outcome, LedgerError):  # a ledger refusal the risk check did not foresee (figures in the text)
            self._audit_new(session_id, cmd, account_id, "ledger_refused", str(outcome))
            self._reject_new(session_id, cmd, OrdRejReason.BROKER_CREDIT, str(outcome), account_id)
            return None
        if isinstance(outcome, BaseException):
            log.error("oms.new_order_failed", session=session_id, cl_ord_id=cmd.cl_ord_id, error=repr(outcome))
            self._audit_new(session_id, cmd, account_id, "internal_error", f"order could not be processed: "
                            f"{type(outcome).__name__}")
            self._reject_new(session_id, cmd, OrdRejReason.OTHER, "order could not be processed", account_id)
            return None
        kind, payload = outcome
        if kind == "accepted":
            stored, seq, fields = cast(tuple[StoredOrder, int | None, Fields], payload)
            self.clients.send(session_id, "8", fields, seq)
            self.route(stored.order, stored.reservation)
            return stored.order
        if kind == "status":
            self.clients.send(session_id, "8", payload)  # type: ignore[arg-type]
        else:
            reason, text = cast(tuple[OrdRejReason, str], payload)
            self._reject_new(session_id, cmd, reason, text, account_id)
        return None

    async def _enter_unit(self, batch: Batch, state: NewOrderBatch, session_id: str, order: Order,
                          cmd: codec.NewOrderCommand, quote: object, received: datetime, actor: str,
                          origin: SystemOrigin | None = None) -> tuple[str, object]:
        """Decide one order of a batch against the batch's state as its earlier orders left it; an accepted
        order's writes wait for ``batch.flush`` (its seq: ``_with_seq`` after the commit)."""
        conn = batch.conn
        account = await batch.account(order.account_id)
        if account.status != "active":
            text = f"account {account.account_id} is {account.status}"
            batch.append_event(event("order.rejected", order, session_id, rule="account_inactive", reason=text,
                                     actor=actor))
            return "rejected", (OrdRejReason.UNKNOWN_ACCOUNT, text)
        since = self.cl_ord_id_since(cmd.poss_resend)
        ctx = await self.inputs.context_in_batch(state, account, order.symbol, quote)  # type: ignore[arg-type]
        existing: Order | None = None
        if state.used_since(cmd.cl_ord_id, since):  # entered earlier in this batch, or look it up
            existing = state.entered.get(cmd.cl_ord_id)
            if existing is None:
                found = await find_by_cl_ord_id(conn, session_id, cmd.cl_ord_id, since)
                existing = found[0].order if found else None
        decision = decide_new_order(order, existing=existing,
                                    poss_resend=cmd.poss_resend, instrument=self.instruments.get(order.symbol),
                                    ctx=ctx, limits=self.inputs.limits(account))
        checked = now()
        bid, ask, last = (quote.bid, quote.ask, quote.last) if quote is not None else (None, None, None)  # type: ignore[attr-defined]
        match decision:
            case ReportStatus(order=current):
                return "status", reports.execution_report(current, new_id("S"), ExecType.ORDER_STATUS)
            case DuplicateOrder(text=text):
                batch.append_event(event("order.rejected", order, session_id, rule="duplicate_cl_ord_id",
                                               reason=text, actor=actor))
                return "rejected", (OrdRejReason.DUPLICATE_ORDER, text)
            case Rejected(rule=rule, text=text):
                oms_metrics.RISK_REJECTS.labels(rule.name.lower()).inc()
                batch.append_event(event("order.rejected", order, session_id, rule=rule.name.lower(),
                                               reason=text, bid=bid, ask=ask, last=last, actor=actor,
                                               hops={"received": received, "risk_checked": checked}))
                return "rejected", (rule.reason, text)
            case Accepted(reservation=reservation):
                if reservation.shares:  # a holding the account never had: flat (the block is refused)
                    state.ledger.positions.setdefault((account.account_id, order.symbol), Position(order.symbol))
                state.ledger.block(account, order.symbol, reservation)  # in memory; refused: LedgerError
                stored = StoredOrder(order, session_id, order.cl_ord_id, reservation)
                exec_id = new_id("E")
                fields = reports.execution_report(order, exec_id, ExecType.PENDING_NEW)
                day = self.trading_day()
                batch.enter_order(stored, execution_row(
                    exec_id=exec_id, venue_exec_id=None, stored=stored, exec_type=ExecType.PENDING_NEW.ledger,
                    last_qty=ZERO, last_px=ZERO, fix_fields=fields), day)
                state.accepted(order, day)
                if origin is not None:  # the row must be there to mark it
                    await batch.flush()
                    await mark_system_order(conn, order.order_id, origin)
                batch.append_event(event("order.accepted", order, session_id, bid=bid, ask=ask, last=last,
                                               actor=actor, extra={"reserved_cash": str(reservation.cash),
                                                                   "reserved_qty": str(reservation.shares)},
                                               hops={"received": received, "risk_checked": checked,
                                                     "committed": now()}))
                return "accepted", (stored, exec_id, fields)
        raise AssertionError("unreachable")  # pragma: no cover

    def route(self, order: Order, reservation: OrderReservation) -> None:
        """Send an accepted order to the exchange; a market buy goes with market-order protection (a limit
        at the collar its reservation was computed with: no fill can cost more than the cash blocked)."""
        if self.known_accounts is not None:
            self.known_accounts[order.order_id] = order.account_id
        self.venue.send("D", [*reports.venue_new_order(order, protection_price(order, reservation)),
                              self.self_trade.field(order.account_id)])
        if self.routed_at is not None:
            if len(self.routed_at) > 100_000:  # orders the exchange never acknowledged: forget the oldest
                self.routed_at.clear()
            self.routed_at[order.order_id] = now()


def _with_seq(outcome: tuple[str, object], seqs: dict[str, int]) -> tuple[str, object]:
    """An accepted order's outcome with its PendingNew report's seq (known once the batch is written)."""
    if outcome[0] != "accepted":
        return outcome
    stored, exec_id, fields = cast(tuple[StoredOrder, str, Fields], outcome[1])
    return "accepted", (stored, seqs.get(exec_id), fields)


def _fields(message: fix.Message) -> list[tuple[int, str]]:
    """A built quickfix message's body as (tag, value) pairs, for ClientLink."""
    out: list[tuple[int, str]] = []
    for part in str(message.toString()).split("\x01"):
        tag, sep, value = part.partition("=")
        if sep and tag.isdigit() and int(tag) not in (8, 9, 10, 35, 34, 49, 52, 56):
            out.append((int(tag), value))
    return out
