"""Wires the gateway's FIX side: client acceptor (+ optional TLS port) and the exchange link.

    fix_side = await GatewayFix.start(settings)      # reads fix_sessions with asyncpg
    ...
    await fix_side.stop()
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import structlog

from brokerage.secrets import exchange_password
from brokerage.settings import Settings
from fixsession.engine import Engine
from fixsession.settings import Endpoint, SessionSpec
from gateway.fix.acceptor import ClientAcceptorApplication, apply_client_limits
from gateway.fix.audit import SessionAudit
from gateway.fix.exchange_link import ExchangeLinkApplication
from gateway.fix.sessions import load_client_sessions
from gateway.fix.tls import TlsTerminator, server_context
from gateway.md import fanout

log = structlog.get_logger(__name__)


class NoSessionsProvisioned(RuntimeError):
    """fix_sessions holds no session toward our CompID."""


def client_endpoint(settings: Settings) -> Endpoint:
    return Endpoint(name="gateway", role="acceptor", data_dir=settings.data_dir, port=settings.fix_port,
                    host=settings.fix_host, heartbeat_seconds=settings.fix_heartbeat_seconds)


def exchange_endpoint(settings: Settings) -> Endpoint:
    return Endpoint(name="gateway-exchange", role="initiator", data_dir=settings.data_dir,
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
    tls: TlsTerminator | None = None
    market_data: fanout.ClientMarketData | None = None

    @classmethod
    async def start(cls, settings: Settings, *, exchange_link: bool = True,
                    configure: Callable[[GatewayFix], Awaitable[None]] | None = None) -> GatewayFix:
        """``configure`` (e.g. the order path) runs once the applications exist, before any engine starts."""
        loop = asyncio.get_running_loop()
        pool = await asyncpg.create_pool(settings.effective_database_url, min_size=1, max_size=4)
        try:
            sessions = await load_client_sessions(pool, settings.fix_target_comp_id)
            if not sessions:
                raise NoSessionsProvisioned(
                    f"no FIX session toward {settings.fix_target_comp_id} in fix_sessions "
                    "(provision clients first, e.g. `brokerage demo seed`)")
            audit = SessionAudit(loop, pool)
            clients = ClientAcceptorApplication(loop, sessions, audit)
            apply_client_limits(clients, settings)  # throttle, resend cap, MD never resent (ADR 007)
            client_engine = Engine(client_endpoint(settings), [s.spec() for s in sessions], clients)
            side = cls(pool, audit, clients, client_engine)
            side.market_data = fanout.attach(clients, settings)  # 35=V: quotes from Redis
            if exchange_link:
                spec = exchange_session(settings)
                side.exchange = ExchangeLinkApplication(loop, spec)
                side.exchange.logon_password = exchange_password(settings, spec.sender_comp_id)
                side.exchange_engine = Engine(exchange_endpoint(settings), [spec], side.exchange)
            if settings.fix_tls_port is not None:
                if settings.fix_tls_certificate is None or settings.fix_tls_private_key is None:
                    raise ValueError("fix_tls_port needs fix_tls_certificate and fix_tls_private_key")
                side.tls = TlsTerminator(settings.fix_host, settings.fix_tls_port, "127.0.0.1", settings.fix_port,
                                         server_context(settings.fix_tls_certificate, settings.fix_tls_private_key))
            if configure is not None:
                await configure(side)
            client_engine.start()
            if side.exchange_engine is not None:
                side.exchange_engine.start()
            if side.tls is not None:
                await side.tls.start()
        except BaseException:
            await pool.close()
            raise
        log.info("fix.gateway_ready", sessions=len(sessions), port=settings.fix_port,
                 tls_port=settings.fix_tls_port, exchange_link=exchange_link)
        return side

    async def stop(self) -> None:
        if self.tls is not None:
            await self.tls.stop()
        for engine in (self.exchange_engine, self.client_engine):
            if engine is not None:
                await asyncio.to_thread(engine.stop)
        if self.clients.bridge is not None:
            await self.clients.bridge.join()
        await self.audit.flush()
        if self.market_data is not None:
            await self.market_data.close()
        await self.pool.close()
