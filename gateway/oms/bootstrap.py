"""The order path's one assembly point: wires the OMS into the gateway's FIX side.

    path = OrderPath(settings)
    fix_side = await GatewayFix.start(settings, configure=path.configure)   # handlers before engines start
    await path.started(fix_side)                                            # recovery, background tasks
    ...
    await path.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import structlog
from redis.asyncio import Redis

from brokerage.settings import Settings
from gateway.oms.audit_spool import AuditSpool, watch_rejects
from gateway.oms.config import breaker_rules, maintenance_policy, rate_limit, risk_limits
from gateway.oms.context import RiskInputs
from gateway.oms.controls import KillSwitchWatcher
from gateway.oms.drop_copy import DropCopy
from gateway.oms.halts import HaltMonitor, calendar_close, index_constituents
from gateway.oms.inbound_marks import load_inbound_marks
from gateway.oms.links import ClientLink, VenueLink
from gateway.oms.margin_monitor import MarginMonitor
from gateway.oms.reconciliation import Reconciler
from gateway.oms.recovery import resend_client_reports, rewind_inbound
from gateway.oms.service import OrderService
from gateway.oms.session_days import StoreClock, stamp_session_start, store_directory
from gateway.oms.store import SERVER_SETTINGS, StoredOrder
from gateway.oms.trade_capture import TradeCapture
from gateway.oms.venue import VenueReports
from gateway.shards import Placement, Shard
from marketdata.quotes import CHANNEL_PREFIX
from marketdata.redis_quotes import QuoteReader
from refdata.instruments import universe_by_symbol

if TYPE_CHECKING:
    from gateway.fix.service import GatewayFix

log = structlog.get_logger(__name__)

VENUE_LINK = "venue"


async def every(name: str, interval: float, check: Callable[[], Awaitable[object]]) -> None:
    """Run ``check`` every ``interval`` seconds; a failure is logged and tried again next time."""
    failures = 0
    while True:
        try:
            await check()
            failures = 0
        except Exception as error:
            failures += 1
            if failures == 1:
                log.exception("oms.periodic_failed", task=name)
            elif failures % 60 == 0:  # a dependency that stays down: a reminder, not a flood
                log.warning("oms.periodic_still_failing", task=name, failures=failures, error=str(error))
        await asyncio.sleep(interval)


async def load_session_accounts(pool: asyncpg.Pool) -> dict[str, tuple[str, frozenset[str]]]:
    rows = await pool.fetch("SELECT sender_comp_id, account_id, is_default FROM fix_session_accounts "
                            "JOIN fix_sessions USING (sender_comp_id) WHERE kind = 'client' "  # ADR 027: no drop copy
                            "ORDER BY sender_comp_id, is_default DESC, account_id")
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for row in rows:
        default, allowed = out.get(row["sender_comp_id"], (row["account_id"], frozenset()))
        out[row["sender_comp_id"]] = (default, allowed | {row["account_id"]})
    return out


async def on_quote_moves(redis: Redis, check: Callable[[], Awaitable[object]],  # type: ignore[type-arg,unused-ignore]
                         min_interval: float = 0.5) -> None:
    """Run ``check`` when quotes move (the ingestor's pub/sub batches), at most every ``min_interval`` s."""
    last = 0.0
    while True:
        try:
            pubsub = redis.pubsub()
            await pubsub.psubscribe(f"{CHANNEL_PREFIX}shard:*")
            async for message in pubsub.listen():
                now = asyncio.get_running_loop().time()
                if message.get("type") == "pmessage" and now - last >= min_interval:
                    last = now
                    await check()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # Redis away: try again shortly; the periodic check still runs
            log.warning("oms.quote_moves_unavailable", error=str(error))
            await asyncio.sleep(5)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's reset query (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL: one more
    round trip per transaction, ADR 020). asyncpg still rolls back an open transaction first; the order path
    keeps no session state (transaction-level advisory locks only, no LISTEN, no SET, no cursors)."""


class OrderPath:
    def __init__(self, settings: Settings, shard: Shard | None = None) -> None:
        self.settings = settings
        # N gateway shards share the ledger; each owns the orders of its sessions (docs/adr/015)
        self.shard = shard or Shard()
        self.placement = Placement(max(1, len(settings.gateway_shard_backends)), settings.gateway_shard_pins) \
            if self.shard.sharded else Placement()
        self.venue_link = self.shard.suffix(VENUE_LINK)  # inbound-mark key of this shard's exchange link
        self.pool: asyncpg.Pool | None = None
        self.redis: Redis | None = None  # type: ignore[type-arg,unused-ignore]
        self.service: OrderService | None = None
        self.venue_reports: VenueReports | None = None
        self.spool = AuditSpool(settings.resolved_data_dir / self.shard.suffix("audit-spool"))
        self.reconciler: Reconciler | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def configure(self, side: GatewayFix) -> None:
        """Called by ``GatewayFix.start`` once the applications exist and before any engine runs."""
        s = self.settings
        self.pool = await asyncpg.create_pool(s.effective_database_url, min_size=2, max_size=40,
                                              command_timeout=10, reset=_keep_session,
                                              server_settings=SERVER_SETTINGS)
        self.redis = Redis.from_url(s.effective_redis_url, decode_responses=True, socket_timeout=1,
                                    socket_connect_timeout=1)
        clients = ClientLink(side.clients.send, s.fix_target_comp_id)
        if side.exchange is None:
            raise RuntimeError("the order path needs the exchange link")
        venue = VenueLink(side.exchange.send_to_exchange)
        inputs = RiskInputs(s, QuoteReader(self.redis))
        self.service = OrderService(self.pool, inputs, clients, venue, universe_by_symbol(),
                                    await load_session_accounts(self.pool), rate_limit(s))
        side.session_accounts = self.service.session_accounts  # h12: kept current as links change (ADR 017)
        self.service.lanes.batch_max = s.order_batch_max
        self.venue_reports = VenueReports(self.pool, clients, risk_limits(s), self.venue_link,
                                          batch_max=s.venue_report_batch_max)
        self.service.cl_ord_id_scope = s.cl_ord_id_unique_within
        # events with no transaction to carry them: rejects before the order transaction, 35=3/35=j, logons
        self.service.audit = self.spool.append
        side.audit.spool = self.spool.append
        watch_rejects(side.clients, self.spool.append)
        self.service.known_accounts = self.venue_reports.accounts
        self.service.routed_at = self.venue_reports.routed_at
        side.clients.handlers.update(self.service.handlers())  # type: ignore[arg-type]
        # ADR 027: drop copy of every client 35=8, and 35=AD answered from the ledger's fills
        drop_copy = clients.drop_copy = DropCopy(side.clients.send, s.fix_target_comp_id)
        await drop_copy.refresh(self.pool)
        pool = self.pool
        side.poll_hooks.append(lambda: drop_copy.refresh(pool))
        side.clients.handlers["AD"] = TradeCapture(pool, side.clients.send, self.service.session_accounts,
                                                   drop_copy).on_request
        self.reconciler = Reconciler(self.pool, venue, self.venue_reports,
                                     scope=self.own_working_orders if self.shard.sharded else None)
        side.exchange.handlers.update({"8": self.reconciler.on_execution_report,
                                       "9": self.venue_reports.on_cancel_reject})
        # every inbound message carries the start of the store (session day) that accepted it
        client_store, link_store = StoreClock(store_directory(side.client_engine)), StoreClock(
            store_directory(side.exchange_engine) if side.exchange_engine is not None else s.data_dir)
        stamp_session_start(side.clients, client_store)
        stamp_session_start(side.exchange, link_store)
        marks = await load_inbound_marks(self.pool)
        rewind_inbound("FIX.4.4", s.gateway_exchange_comp_id, s.exchange_comp_id, marks.get(self.venue_link, {}),
                       link_store)
        for sid in side.client_engine.session_ids():
            comp_id = str(sid.getTargetCompID().getValue())
            days = marks.get(f"client:{comp_id}", {})
            for start, last in days.items():
                self.service.handled[(comp_id, start)] = self.service._handled_saved[(comp_id, start)] = last
            if days:  # a session that never had an order handled (market data only) is left alone
                rewind_inbound("FIX.4.4", s.fix_target_comp_id, comp_id, days, client_store)

    async def started(self, side: GatewayFix, link_timeout: float = 15.0) -> None:
        assert self.pool is not None and self.service is not None and self.venue_reports is not None
        s, clients = self.settings, self.service.clients
        self._tasks.append(asyncio.create_task(clients.run_marks(self.pool), name="oms-client-marks"))
        self._tasks.append(asyncio.create_task(self.spool.run(self.pool), name="oms-audit-spool"))
        self._tasks.append(asyncio.create_task(self.service.self_trade.run(self.pool), name="oms-stp-modes"))
        self._tasks.append(asyncio.create_task(every("client-inbound-marks", 0.2, self.service.save_handled),
                                               name="oms-client-inbound-marks"))
        self._tasks.append(asyncio.create_task(every("venue-inbound-mark", 0.2, self.venue_reports.save_mark),
                                               name="oms-venue-inbound-mark"))
        assert self.redis is not None
        quotes = QuoteReader(self.redis)
        watcher = KillSwitchWatcher(self.pool, self.service, owns=self.owns_order)
        offset = timedelta(seconds=s.circuit_breaker_clock_offset_seconds)
        halts = HaltMonitor(self.pool, quotes, index_constituents(self.service.instruments.values()),
                            s.circuit_breaker_index_symbol,
                            rules=breaker_rules(s), close_of=calendar_close(s.trading_24h),
                            clock=lambda: datetime.now(UTC) + offset)
        margin = MarginMonitor(self.pool, self.service, maintenance_policy(s),
                               quote_max_age=s.margin_quote_max_age_seconds,
                               retry_after=s.margin_liquidation_retry_seconds)
        periodic: list[tuple[str, float, Callable[[], Awaitable[object]]]] = [("kill-switch", 0.25, watcher.check)]
        if self.shard.system_wide:  # once per system: shard 0 (the others would only repeat its decisions)
            periodic += [("circuit-breaker", 1.0, halts.check), ("margin", s.margin_monitor_interval_seconds,
                                                                 margin.check)]
            self._tasks.append(asyncio.create_task(on_quote_moves(self.redis, margin.check),
                                                   name="oms-margin-quotes"))
        for name, interval, check in periodic:
            self._tasks.append(asyncio.create_task(every(name, interval, check), name=f"oms-{name}"))
        await resend_client_reports(self.pool, clients)
        if side.exchange is not None and self.reconciler is not None:
            # every later logon of the exchange link (the exchange restarted, the link dropped) reconciles too
            loop, reconciler = asyncio.get_running_loop(), self.reconciler
            side.exchange.logon_listeners.append(
                lambda: loop.call_soon_threadsafe(reconciler.trigger, "exchange link logon"))
            up = await asyncio.to_thread(side.exchange.connected.wait, link_timeout)
            if not up:
                log.warning("oms.recovery_link_down", waited=link_timeout)
            await reconciler.run("gateway start-up", startup=True)
        gc.freeze()  # start-up's long-lived objects (universe, reference data, modules) out of the GC's full sweeps

    def owns_order(self, stored: StoredOrder) -> bool:
        return self.shard.owns_order(stored.session_id, self.placement)

    async def own_working_orders(self) -> set[str]:
        """This shard's working orders: those of its sessions, and system orders (liquidations, entered
        by shard 0's margin monitor over shard 0's exchange link) on shard 0."""
        assert self.pool is not None
        rows = await self.pool.fetch(
            "SELECT order_id, session_id, origin FROM orders WHERE status IN "
            "('pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace')")
        return {r["order_id"] for r in rows
                if (self.shard.system_wide if r["origin"] == "system"
                    else self.shard.owns_order(r["session_id"], self.placement))}

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self.pool is not None and self.service is not None:
            # what the lanes hold is finished first, within a bound: a lane waiting for the database (or retrying
            # a batch a fault cut short) is then cancelled, and a cancelled batch leaves the inbound marks before
            # it, so its messages come again after the restart (ADR 055)
            await _within(self.service.lanes.join(), "client new orders")
            await self.service.lanes.stop()
            if self.venue_reports is not None:
                await _within(self.venue_reports.drain(), "exchange reports")
                await self.venue_reports.stop()
            with contextlib.suppress(Exception):
                await self.service.clients.save_marks(self.pool)
                await self.service.save_handled()
                if self.venue_reports is not None:
                    await self.venue_reports.save_mark()
            with contextlib.suppress(Exception):
                await self.spool.replay(self.pool)
            await self.pool.close()
        if self.redis is not None:
            await self.redis.aclose()  # type: ignore[attr-defined,unused-ignore]


DRAIN_SECONDS = 10.0


async def _within(drained: Awaitable[None], what: str) -> None:
    try:
        await asyncio.wait_for(drained, DRAIN_SECONDS)
    except TimeoutError:
        log.warning("oms.stop_without_drain", lanes=what, seconds=DRAIN_SECONDS)
