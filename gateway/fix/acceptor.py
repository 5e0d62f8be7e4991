"""The client acceptor: one QuickFIX session per provisioned client (``fix_sessions``).

Logon must carry the session's password (554; Username 553 optional). A refused Logon gets a
Logout with the reason in Text (58) and the connection is dropped. Logon, logout and refused logons
are recorded as outbox events (``session.logon``, ``session.logout``, ``session.logon_failed``).

Sequence numbers and sent messages persist in the FileStore under ``<data_dir>/fix/gateway/``:
no reset on logon, so a restarted gateway resumes every session and a reconnecting client gets
what it missed by resend.

Application messages go to the event loop (in session order) and to the handler registered for
their MsgType (``handlers``); a type with no handler -- today every type, until the order path is
wired in -- is answered with a BusinessMessageReject (380=3 Unsupported Message Type).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import quickfix as fix
import structlog

from fixsession.application import SafeApplication
from fixsession.messages import body_value, msg_type, session_key
from fixsession.rejects import APPLICATION_NOT_AVAILABLE, NOT_AUTHORIZED, business_reject, unsupported_message_type
from fixsession.throttle import Decision, Rate, ThrottlePolicy
from gateway.fix.audit import SessionAudit
from gateway.fix.sessions import DROP_COPY, ClientSession, CredentialCache

if TYPE_CHECKING:
    from brokerage.settings import Settings

log = structlog.get_logger(__name__)

AppHandler = Callable[[fix.SessionID, fix.Message], Awaitable[None]]

NEVER_RESENT = frozenset({"W", "X"})  # market data: stale once it would be resent (gap-filled instead)
# a drop-copy session is read-only (ADR 027): it may only ask for its accounts' trades
DROP_COPY_MAY_SEND = frozenset({"AD"})
DROP_COPY_READ_ONLY = "drop-copy session is read-only: only TradeCaptureReportRequest (35=AD) is accepted"


def apply_client_limits(app: ClientAcceptorApplication, settings: Settings) -> None:
    """What one authenticated client may cost the gateway (ADR 007): every message type throttled,
    bounded pending work, capped resends, sane HeartBtInt, market data never resent."""
    app.throttle = ThrottlePolicy(
        app=Rate(settings.fix_app_messages_per_second, settings.fix_app_burst),
        admin=Rate(settings.fix_admin_messages_per_second, settings.fix_admin_burst))
    app.max_pending = settings.fix_max_pending_messages
    app.resend_cap = settings.fix_resend_max_messages
    app.heartbeat_bounds = (settings.fix_heartbeat_min_seconds, settings.fix_heartbeat_max_seconds)
    app.no_resend_types = NEVER_RESENT


class ClientAcceptorApplication(SafeApplication):
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sessions: Sequence[ClientSession],
        audit: SessionAudit,
        handlers: Mapping[str, AppHandler] | None = None,
    ) -> None:
        super().__init__("gateway", loop)
        self.sessions = {session.key: session for session in sessions}
        self.audit = audit
        self.handlers: dict[str, AppHandler] = dict(handlers or {})
        self.credentials = CredentialCache()
        # engine-thread hooks run when a session ends (e.g. market data drops its subscriptions)
        self.logout_listeners: list[Callable[[fix.SessionID], None]] = []

    def _client(self, session_id: fix.SessionID) -> ClientSession | None:
        return self.sessions.get(session_key(session_id))

    def check_logon(self, logon: fix.Message, session_id: fix.SessionID) -> str | None:
        session = self._client(session_id)
        if session is None:  # QuickFIX only accepts configured sessions; keep the check anyway
            return "Unknown session"
        return self.credentials.check(session, body_value(logon, 553), body_value(logon, 554))

    def on_logon(self, session_id: fix.SessionID) -> None:
        log.info("fix.session_logon", session=session_key(session_id))
        self._record("session.logon", session_id)

    def on_logout(self, session_id: fix.SessionID) -> None:
        log.info("fix.session_logout", session=session_key(session_id))
        self._record("session.logout", session_id)
        for listener in self.logout_listeners:
            listener(session_id)

    def on_logon_refused(self, session_id: fix.SessionID, reason: str) -> None:
        self._record("session.logon_failed", session_id, reason)

    def on_throttled(self, session_id: fix.SessionID, message_type: str, decision: Decision) -> None:
        self._record("session.throttled", session_id, f"35={message_type} {decision.verdict.value}: {decision.text}")

    def _record(self, event_type: str, session_id: fix.SessionID, reason: str = "") -> None:
        client = self._client(session_id)
        comp_id = client.sender_comp_id if client else str(session_id.getTargetCompID().getValue())
        self.audit.record(event_type, comp_id, reason)

    async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
        client = self._client(session_id)
        if client is not None and client.kind == DROP_COPY and msg_type(message) not in DROP_COPY_MAY_SEND:
            log.info("fix.drop_copy_refused", session=session_key(session_id), msg_type=msg_type(message))
            self.send(session_id, business_reject(message, NOT_AUTHORIZED, DROP_COPY_READ_ONLY,
                                                  body_value(message, 11)))
            return
        handler = self.handlers.get(msg_type(message))
        if handler is None:
            self.send(session_id, unsupported_message_type(message))
            return
        try:
            await handler(session_id, message)
        except Exception:
            log.exception("fix.handler_failed", session=session_key(session_id), msg_type=msg_type(message))
            self.send(session_id, business_reject(message, APPLICATION_NOT_AVAILABLE,
                                                  "Message could not be processed"))
