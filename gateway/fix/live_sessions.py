"""Provisioning without restarts, in the gateway (docs/adr/017-provisioning-without-restarts.md).

QuickFIX 1.15.1 cannot add a session to a running acceptor (its connections only accept the sessions
the acceptor was built with). So the gateway watches ``fix_sessions`` (every ``interval`` seconds):

* a **new session** gets an additional QuickFIX acceptor ``Engine`` (same application, same store and
  log directory, so a later restart finds its sequence numbers where the main acceptor looks) on another
  loopback-only port (``guard_acceptor``), and the front door's router learns SenderCompID -> that port.
  Established sessions are never touched.
* a **disabled session** that is logged on is logged out with ``58=Session disabled``
  (``Session.logout(reason)``, which also disables the QuickFIX session: a Logon that got past the
  front door would still be refused); **enabled** again, the QuickFIX session is re-enabled.
* **links** (``fix_session_accounts``) are reloaded into the order path's SenderCompID -> accounts map
  (client sessions only: a drop-copy session may not enter orders), and the ``poll_hooks`` run (the
  drop copy reloads its links: ADR 027).
* the **state** of every session it serves (logged on, next sequence numbers, last message time) is
  published to ``fix_session_state`` every ``publish_every`` seconds, for `brokerage sessions list` and
  ``/v1/admin/sessions``.

Passwords need nothing here: the front door re-reads the row at every Logon.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import quickfix as fix
import structlog

from brokerage.services import free_port
from fixsession.engine import Engine
from fixsession.loopback_guard import guard_acceptor
from gateway.fix.sessions import DISABLED, ClientSession, load_client_sessions
from gateway.frontdoor.router import Backend, ShardRouter

if TYPE_CHECKING:
    from gateway.fix.service import GatewayFix

log = structlog.get_logger(__name__)

SessionAccounts = dict[str, tuple[str, frozenset[str]]]


@dataclass(frozen=True)
class LearnedRouter(ShardRouter):
    """The front door's router plus the sessions added at run time (SenderCompID -> their acceptor)."""

    learned: dict[str, Backend] = field(default_factory=dict)

    @classmethod
    def wrap(cls, router: ShardRouter) -> LearnedRouter:
        if isinstance(router, LearnedRouter):
            return router
        return cls(router.shards, router.pinned)

    def route(self, sender_comp_id: str) -> Backend:
        backend = self.learned.get(sender_comp_id)
        return backend if backend is not None else super().route(sender_comp_id)


@dataclass(frozen=True, slots=True)
class Changes:
    """What a poll of ``fix_sessions`` asks of the gateway. Pure result of :func:`diff_sessions`."""

    new: tuple[ClientSession, ...]
    disable: tuple[str, ...]  # SenderCompIDs to log out and keep out
    enable: tuple[str, ...]  # SenderCompIDs whose QuickFIX session must accept Logons again


def diff_sessions(rows: Iterable[ClientSession], served: Iterable[str], disabled: Iterable[str],
                  owns: Callable[[str], bool] = lambda _comp_id: True) -> Changes:
    """``served``: the SenderCompIDs some acceptor of ours has; ``disabled``: those we have disabled."""
    served_set, disabled_set = set(served), set(disabled)
    rows = list(rows)
    new = tuple(r for r in rows if r.sender_comp_id not in served_set and owns(r.sender_comp_id))
    disable = tuple(r.sender_comp_id for r in rows
                    if not r.enabled and r.sender_comp_id in served_set and r.sender_comp_id not in disabled_set)
    enable = tuple(r.sender_comp_id for r in rows if r.enabled and r.sender_comp_id in disabled_set)
    return Changes(new, disable, enable)


def merged_accounts(target: SessionAccounts, fresh: SessionAccounts) -> bool:
    """Make ``target`` equal to ``fresh`` in place (the order path holds a reference); True if it changed."""
    if target == fresh:
        return False
    for comp_id in [c for c in target if c not in fresh]:
        del target[comp_id]
    target.update(fresh)
    return True


async def load_trading_accounts(pool: asyncpg.Pool) -> SessionAccounts:
    """SenderCompID -> (default account, allowed accounts) of the sessions that may enter orders: client
    sessions only (a drop-copy session has no trading account, so its orders are rejected)."""
    rows = await pool.fetch(
        "SELECT l.sender_comp_id, l.account_id, l.is_default FROM fix_session_accounts l "
        "JOIN fix_sessions s ON s.sender_comp_id = l.sender_comp_id WHERE s.kind = 'client' "
        "ORDER BY l.sender_comp_id, l.is_default DESC, l.account_id")
    out: SessionAccounts = {}
    for row in rows:
        default, allowed = out.get(row["sender_comp_id"], (row["account_id"], frozenset()))
        out[row["sender_comp_id"]] = (default, allowed | {row["account_id"]})
    return out


class LiveSessions:
    def __init__(self, side: GatewayFix, our_comp_id: str, *, interval: float = 1.0, publish_every: float = 2.0,
                 owns: Callable[[str], bool] = lambda _comp_id: True) -> None:
        self.side = side
        self.our_comp_id = our_comp_id
        self.interval, self.publish_every = interval, publish_every
        self.owns = owns  # gateway shards: only the sessions placed on this shard
        main = side.client_engine
        self.engines: list[Engine] = []  # the acceptors added at run time
        self.served: dict[str, tuple[Engine, fix.SessionID]] = {
            str(sid.getTargetCompID().getValue()): (main, sid) for sid in main.session_ids()}
        self.disabled: set[str] = set()
        self.gateway = f"{socket.gethostname()}:{os.getpid()}"
        self.router: LearnedRouter | None = None
        if side.front_door is not None:
            self.router = LearnedRouter.wrap(side.front_door.router)
            side.front_door.router = self.router
        self._task: asyncio.Task[None] | None = None
        self._last_publish = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fix-live-sessions")

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self.poll()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                if failures == 1 or failures % 60 == 0:
                    log.exception("fix.live_sessions_failed", failures=failures)
            await asyncio.sleep(self.interval)

    async def poll(self) -> None:
        pool = self.side.pool
        rows = await load_client_sessions(pool, self.our_comp_id)
        for row in rows:  # the acceptor's own (defence-in-depth) check sees the current row
            if row.sender_comp_id in self.served or self.owns(row.sender_comp_id):
                self.side.clients.sessions[row.key] = row
        changes = diff_sessions(rows, self.served, self.disabled, self.owns)
        if changes.new:
            await self._add(changes.new)
        for comp_id in changes.disable:
            self._disable(comp_id)
        for comp_id in changes.enable:
            self._enable(comp_id)
        target = self.side.session_accounts
        if target is not None and merged_accounts(target, await load_trading_accounts(pool)):
            log.info("fix.session_accounts_reloaded", sessions=len(target))
        for hook in self.side.poll_hooks:  # e.g. the drop copy's links (ADR 027)
            await hook()
        now = asyncio.get_running_loop().time()
        if now - self._last_publish >= self.publish_every:
            self._last_publish = now
            await self.publish()

    async def _add(self, sessions: Sequence[ClientSession]) -> None:
        port = free_port()
        main = self.side.client_engine
        endpoint = dataclasses.replace(main.endpoint, port=port)

        def build() -> Engine:
            engine = Engine(endpoint, [s.spec() for s in sessions], self.side.clients)
            engine.start()
            guard_acceptor(port)  # QuickFIX binds every interface: only 127.0.0.1 gets through
            return engine

        engine = await asyncio.to_thread(build)
        self.engines.append(engine)
        for session, sid in zip(sessions, engine.session_ids(), strict=True):
            self.served[session.sender_comp_id] = (engine, sid)
            if self.router is not None:
                self.router.learned[session.sender_comp_id] = Backend("127.0.0.1", port)
            if not session.enabled:
                self._disable(session.sender_comp_id)
        log.info("fix.sessions_added", sessions=[s.sender_comp_id for s in sessions], backend_port=port)

    def _disable(self, comp_id: str) -> None:
        self.disabled.add(comp_id)
        session = fix.Session.lookupSession(self.served[comp_id][1])
        if session is None:
            return
        logged_on = bool(session.isLoggedOn())
        session.logout(DISABLED)  # Logout with 58=<reason> if logged on; refuses Logons until logon()
        log.info("fix.session_disabled", session=comp_id, logged_out=logged_on)

    def _enable(self, comp_id: str) -> None:
        self.disabled.discard(comp_id)
        session = fix.Session.lookupSession(self.served[comp_id][1])
        if session is not None:
            session.logon()  # an acceptor session: only re-enables it (it never initiates)
        log.info("fix.session_enabled", session=comp_id)

    def state_rows(self) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        for comp_id, (engine, sid) in self.served.items():
            session = fix.Session.lookupSession(sid)
            if session is None:
                continue
            last: datetime | None = None
            if engine.message_log is not None:
                with contextlib.suppress(OSError):
                    last = datetime.fromtimestamp(engine.message_log.path(sid).stat().st_mtime, UTC)
            rows.append((comp_id, self.gateway, engine.endpoint.port, bool(session.isLoggedOn()),
                         int(session.getExpectedSenderNum()), int(session.getExpectedTargetNum()), last))
        return rows

    async def publish(self) -> None:
        rows = self.state_rows()
        if not rows:
            return
        await self.side.pool.executemany(
            "INSERT INTO fix_session_state (sender_comp_id, gateway, backend_port, logged_on, next_sender_seq, "
            "next_target_seq, last_message_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, now()) "
            "ON CONFLICT (sender_comp_id) DO UPDATE SET gateway = EXCLUDED.gateway, "
            "backend_port = EXCLUDED.backend_port, logged_on = EXCLUDED.logged_on, "
            "next_sender_seq = EXCLUDED.next_sender_seq, next_target_seq = EXCLUDED.next_target_seq, "
            "last_message_at = EXCLUDED.last_message_at, updated_at = now()", rows)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        for engine in self.engines:
            await asyncio.to_thread(engine.stop)
        with contextlib.suppress(Exception):
            await self.side.pool.execute(
                "UPDATE fix_session_state SET logged_on = false, updated_at = now() WHERE gateway = $1",
                self.gateway)
