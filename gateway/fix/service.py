"""Wires the gateway's FIX side: the front door (plain and/or TLS port), the client acceptor behind
it on an internal loopback-only port, and the exchange link.

    fix_side = await GatewayFix.start(settings)      # reads fix_sessions with asyncpg
    ...
    await fix_side.stop()
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import structlog

from brokerage.secrets import exchange_password
from brokerage.services import free_port
from brokerage.settings import Settings
from fixsession.engine import Engine
from fixsession.loopback_guard import guard_acceptor
from fixsession.settings import Endpoint, SessionSpec
from gateway.fix.acceptor import ClientAcceptorApplication, apply_client_limits
from gateway.fix.audit import SessionAudit
from gateway.fix.exchange_link import ExchangeLinkApplication
from gateway.fix.live_sessions import LiveSessions, SessionAccounts
from gateway.fix.sessions import ClientSession, load_client_sessions
from gateway.fix.tls import server_context
from gateway.frontdoor.credentials import PostgresCredentials
from gateway.frontdoor.logon import LogonRequest
from gateway.frontdoor.policy import Limits
from gateway.frontdoor.router import single_shard
from gateway.frontdoor.server import FrontDoor, FrontDoorConfig
from gateway.md import fanout
from gateway.shards import Placement, Shard

log = structlog.get_logger(__name__)


class NoSessionsProvisioned(RuntimeError):
    """fix_sessions holds no session toward our CompID."""


def shard_placement(settings: Settings) -> Placement:
    """How sessions are spread over the gateway shards (``gateway_shard_backends``; one shard if empty)."""
    return Placement(max(1, len(settings.gateway_shard_backends)), settings.gateway_shard_pins)


def client_endpoint(settings: Settings, backend_port: int, shard: Shard | None = None) -> Endpoint:
    """The QuickFIX acceptor behind the front door: loopback only, on ``backend_port``."""
    return Endpoint(name=(shard or Shard()).suffix("gateway"), role="acceptor", data_dir=settings.data_dir,
                    port=backend_port, host="127.0.0.1", heartbeat_seconds=settings.fix_heartbeat_seconds)


def front_door_limits(settings: Settings) -> Limits:
    return Limits(
        max_connections=settings.fix_max_connections, max_connections_per_ip=settings.fix_max_connections_per_ip,
        max_logon_bytes=settings.fix_max_logon_bytes, max_message_bytes=settings.fix_max_message_bytes,
        first_byte_timeout=settings.fix_first_byte_timeout_seconds, logon_timeout=settings.fix_logon_timeout_seconds,
        heartbeat_max=settings.fix_heartbeat_max_seconds,
        failures_free_per_comp_id=settings.fix_logon_failures_per_comp_id,
        failures_free_per_ip=settings.fix_logon_failures_per_ip,
        slow_consumer_seconds=settings.fix_slow_consumer_seconds)


def exchange_endpoint(settings: Settings, shard: Shard | None = None) -> Endpoint:
    return Endpoint(name=(shard or Shard()).suffix("gateway-exchange"), role="initiator", data_dir=settings.data_dir,
                    host=settings.exchange_host, port=settings.exchange_port,
                    heartbeat_seconds=settings.fix_heartbeat_seconds,
                    reconnect_seconds=settings.exchange_reconnect_seconds)


def exchange_session(settings: Settings) -> SessionSpec:
    return SessionSpec(sender_comp_id=settings.gateway_exchange_comp_id, target_comp_id=settings.exchange_comp_id)


@dataclass
class GatewayFix:
    pool: asyncpg.Pool
    audit: SessionAudit
    clients: ClientAcceptorApplication
    client_engine: Engine
    exchange: ExchangeLinkApplication | None = None
    exchange_engine: Engine | None = None
    front_door: FrontDoor | None = None
    market_data: fanout.ClientMarketData | None = None
    # h12-provisioning: sessions added/disabled/relinked at run time (docs/adr/017); the order path's
    # SenderCompID -> accounts map, kept current by ``live`` (set by the order path's configure)
    live: LiveSessions | None = None
    session_accounts: SessionAccounts | None = None
    # ADR 027: run after each poll of fix_sessions (the drop copy reloads its links there)
    poll_hooks: list[Callable[[], Awaitable[object]]] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings, *, exchange_link: bool = True,
                    configure: Callable[[GatewayFix], Awaitable[None]] | None = None,
                    shard: Shard | None = None) -> GatewayFix:
        """``configure`` (e.g. the order path) runs once the applications exist, before any engine starts.

        ``shard`` (K of N > 1): only the sessions placed on shard K, QuickFIX on ``fix_backend_port``
        (the shard's entry in ``gateway_shard_backends``) and no front door of its own: `brokerage
        frontdoor` owns the public ports and routes each Logon here (docs/adr/015-gateway-shards.md)."""
        shard = shard or Shard()
        loop = asyncio.get_running_loop()
        pool = await asyncpg.create_pool(settings.effective_database_url, min_size=1, max_size=4)
        side: GatewayFix | None = None
        try:
            sessions = await load_client_sessions(pool, settings.fix_target_comp_id)
            if not sessions:
                raise NoSessionsProvisioned(
                    f"no FIX session toward {settings.fix_target_comp_id} in fix_sessions "
                    "(provision clients first, e.g. `brokerage demo seed`)")
            if shard.sharded:
                placement = shard_placement(settings)
                sessions = [s for s in sessions if shard.owns(s.sender_comp_id, placement)]
                if not sessions:
                    raise NoSessionsProvisioned(f"shard {shard.index}/{shard.count} owns none of the provisioned "
                                                "sessions (more shards than sessions?)")
            if not settings.fix_plain_enabled and settings.fix_tls_port is None:
                raise ValueError("fix_plain_enabled is off and no fix_tls_port: no way in for FIX clients")
            tls_context = None
            if settings.fix_tls_port is not None:
                if settings.fix_tls_certificate is None or settings.fix_tls_private_key is None:
                    raise ValueError("fix_tls_port needs fix_tls_certificate and fix_tls_private_key")
                tls_context = server_context(settings.fix_tls_certificate, settings.fix_tls_private_key)
            audit = SessionAudit(loop, pool)
            clients = ClientAcceptorApplication(loop, sessions, audit)
            apply_client_limits(clients, settings)  # throttle, resend cap, MD never resent (ADR 007)
            backend_port = settings.fix_backend_port or free_port()
            client_engine = Engine(client_endpoint(settings, backend_port, shard), [s.spec() for s in sessions],
                                   clients)
            side = cls(pool, audit, clients, client_engine)
            side.market_data = fanout.attach(clients, settings)  # 35=V: quotes from Redis
            if exchange_link:
                spec = exchange_session(settings)
                side.exchange = ExchangeLinkApplication(loop, spec)
                side.exchange.logon_password = exchange_password(settings, spec.sender_comp_id)
                side.exchange_engine = Engine(exchange_endpoint(settings, shard), [spec], side.exchange)
            if not shard.sharded:
                side.front_door = FrontDoor(
                    FrontDoorConfig(settings.fix_target_comp_id, front_door_limits(settings)),
                    PostgresCredentials(pool), single_shard("127.0.0.1", backend_port), audit,
                    on_accepted=side._logon_passed_front_door)
            if configure is not None:
                await configure(side)
            client_engine.start()
            guard_acceptor(backend_port)  # QuickFIX binds every interface: only 127.0.0.1 gets through
            if side.exchange_engine is not None:
                side.exchange_engine.start()
            if side.front_door is not None and settings.fix_plain_enabled:
                await side.front_door.listen(settings.fix_host, settings.fix_port)
            if side.front_door is not None and settings.fix_tls_port is not None:
                await side.front_door.listen(settings.fix_host, settings.fix_tls_port, tls_context)
            # provisioning without restarts (ADR 017); a shard only picks up the sessions placed on it
            placement = shard_placement(settings)
            side.live = LiveSessions(side, settings.fix_target_comp_id,
                                     owns=lambda comp_id: not shard.sharded or shard.owns(comp_id, placement))
            side.live.start()
        except BaseException:
            if side is not None:
                await side.stop()  # closes the pool too
            else:
                await pool.close()
            raise
        log.info("fix.gateway_ready", sessions=len(sessions), shard=f"{shard.index}/{shard.count}",
                 port=settings.fix_port if settings.fix_plain_enabled and side.front_door is not None else None,
                 tls_port=settings.fix_tls_port, backend_port=backend_port, exchange_link=exchange_link)
        return side

    def _logon_passed_front_door(self, session: ClientSession | None, request: LogonRequest) -> None:
        """The front door read this session's row afresh and verified the password: the acceptor's
        own check (engine thread) then sees the same row and needs no second scrypt."""
        if session is None:
            return
        self.clients.sessions[session.key] = session
        if request.password:
            self.clients.credentials.remember(session, request.password)

    async def stop(self) -> None:
        if self.front_door is not None:
            await self.front_door.close()
        if self.live is not None:  # h12: its task and the acceptors it added
            await self.live.stop()
        for engine in (self.exchange_engine, self.client_engine):
            if engine is not None:
                await asyncio.to_thread(engine.stop)
        if self.clients.bridge is not None:
            await self.clients.bridge.join()
        await self.audit.flush()
        if self.market_data is not None:
            await self.market_data.close()
        await self.pool.close()
