"""A QuickFIX ``Application`` base that is safe to subclass from Python.

QuickFIX calls back on its own threads. In the 1.15.1 Python bindings an exception escaping a
callback -- including QuickFIX's own ``RejectLogon``/``UnsupportedMessageType``, which the C++
engine would catch -- aborts the whole process ("terminate called after throwing an instance of
'FIX::RejectLogon'", verified). So every callback here is wrapped: exceptions are logged and
swallowed; rejects are built and sent explicitly (``fixsession.rejects``).

The same holds for C++ exceptions thrown by calls INTO QuickFIX: ``Session.sendToTarget`` to an
unknown session, ``Message.getField`` of a missing field, ``Dictionary.getString`` of a missing
key, an invalid setting, a port already in use -- each aborts instead of raising. ``send`` below
looks the session up first, ``fixsession.messages`` checks ``isSetField`` before reading, and
``fixsession.settings``/``fixsession.engine`` validate in Python before handing anything over.

Subclasses override the ``on_*`` hooks (engine thread, keep them quick) and usually
``handle_app_message`` (event loop). Inbound application messages are copied and handed to the
asyncio loop through :class:`fixsession.bridge.InboundBridge`, which keeps each session's order.

Refusing a Logon (``check_logon`` returns a reason) sends a Logout carrying the reason in Text (58)
and drops the connection, without the session ever counting as logged on for the application:
the engine's own Logon reply is rewritten into that Logout in ``toAdmin`` and the connection is
closed as soon as the engine has finished the Logon, and the refused Logon does not consume the
client's sequence number (what the C++ engine does for ``RejectLogon``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import quickfix as fix
import structlog

from fixsession.bridge import InboundBridge
from fixsession.messages import msg_type, session_key

log = structlog.get_logger(__name__)

_LOGON_REPLY_FIELDS = (98, 108, 141, 789, 464, 553, 554)


class SafeApplication(fix.Application):  # type: ignore[misc]
    """QuickFIX callbacks that never raise, a logon gate, and an asyncio hand-off."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__()
        self.name = name
        # session key -> (reason, next expected inbound MsgSeqNum before that Logon), while a refused
        # Logon is being completed by the engine
        self._refusals: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()
        self.bridge: InboundBridge | None = None
        if loop is not None:
            self.attach(loop)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver inbound application messages to ``handle_app_message`` on ``loop``."""
        self.bridge = InboundBridge(loop, self.handle_app_message, name=self.name)

    # --- hooks for subclasses ------------------------------------------------------------------
    def check_logon(self, logon: fix.Message, session_id: fix.SessionID) -> str | None:
        """Engine thread. Return a reason to refuse this Logon, or None to accept it."""
        return None

    def on_create(self, session_id: fix.SessionID) -> None:
        """Engine thread: a session object was created (at engine start)."""

    def on_logon(self, session_id: fix.SessionID) -> None:
        """Engine thread: the session is logged on (Logon exchanged)."""

    def on_logout(self, session_id: fix.SessionID) -> None:
        """Engine thread: the session ended (Logout exchanged or connection lost)."""

    def on_logon_refused(self, session_id: fix.SessionID, reason: str) -> None:
        """Engine thread: a Logon was refused and the connection dropped."""

    def on_admin_in(self, message: fix.Message, session_id: fix.SessionID) -> None:
        """Engine thread: an inbound admin message passed session validation."""

    def on_admin_out(self, message: fix.Message, session_id: fix.SessionID) -> None:
        """Engine thread: an outbound admin message may still be amended here."""

    def on_app_out(self, message: fix.Message, session_id: fix.SessionID) -> None:
        """Engine thread: an outbound application message may still be amended here."""

    def on_app_in(self, message: fix.Message, session_id: fix.SessionID) -> None:
        """Engine thread: an inbound application message passed session validation.
        Default: copy it to the event loop (``handle_app_message``), keeping session order."""
        if self.bridge is None:
            log.warning("fix.app_message_dropped", app=self.name, session=session_key(session_id),
                        reason="no event loop attached", msg_type=msg_type(message))
            return
        self.bridge.submit(session_id, message)

    async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
        """Event loop: one inbound application message (a private copy). Override."""

    # --- sending (thread-safe, usable from the event loop) --------------------------------------
    @staticmethod
    def send(session_id: fix.SessionID, message: fix.Message) -> bool:
        """Send on a session; False if the session does not exist or the engine refused it.
        A message sent while the peer is disconnected is stored and goes out by resend."""
        # Not Session.sendToTarget: its SessionNotFound (a C++ exception) would abort the process.
        session = fix.Session.lookupSession(session_id)
        if session is None:
            log.warning("fix.send_no_session", session=session_key(session_id), msg_type=msg_type(message))
            return False
        return bool(session.send(message))

    # --- QuickFIX callbacks: each one guarded ---------------------------------------------------
    def _guard(self, callback: str, session_id: fix.SessionID, action: Callable[[], Any]) -> None:
        try:
            action()
        except BaseException:  # nothing may cross into C++: it would abort the process
            with contextlib.suppress(BaseException):
                log.exception("fix.callback_failed", app=self.name, callback=callback,
                              session=session_key(session_id))

    def onCreate(self, sessionID: fix.SessionID) -> None:
        self._guard("onCreate", sessionID, lambda: self.on_create(sessionID))

    def onLogon(self, sessionID: fix.SessionID) -> None:
        self._guard("onLogon", sessionID, lambda: self._logged_on(sessionID))

    def onLogout(self, sessionID: fix.SessionID) -> None:
        self._guard("onLogout", sessionID, lambda: self._logged_out(sessionID))

    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self._guard("toAdmin", sessionID, lambda: self._outbound_admin(message, sessionID))

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self._guard("fromAdmin", sessionID, lambda: self._inbound_admin(message, sessionID))

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self._guard("toApp", sessionID, lambda: self.on_app_out(message, sessionID))

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        self._guard("fromApp", sessionID, lambda: self._inbound_app(message, sessionID))

    # --- logon gate -----------------------------------------------------------------------------
    def _refusal(self, session_id: fix.SessionID) -> str | None:
        with self._lock:
            refusal = self._refusals.get(session_key(session_id))
        return refusal[0] if refusal else None

    def _inbound_admin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        if msg_type(message) == "A":
            reason = self.check_logon(message, session_id)
            session = fix.Session.lookupSession(session_id) if reason is not None else None
            with self._lock:
                if reason is None:
                    self._refusals.pop(session_key(session_id), None)
                else:
                    expected = session.getExpectedTargetNum() if session is not None else 0
                    self._refusals[session_key(session_id)] = (reason, expected)
            if reason is not None:
                return
        self.on_admin_in(message, session_id)

    def _outbound_admin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        reason = self._refusal(session_id)
        if reason is not None and msg_type(message) == "A":
            # The engine is answering a Logon we refused: turn its reply into a Logout with the reason.
            message.getHeader().setField(fix.MsgType("5"))
            for tag in _LOGON_REPLY_FIELDS:
                message.removeField(tag)
            message.setField(fix.Text(reason))
            return
        self.on_admin_out(message, session_id)

    def _inbound_app(self, message: fix.Message, session_id: fix.SessionID) -> None:
        if self._refusal(session_id) is not None:
            return  # cannot happen once disconnected; belt and braces
        self.on_app_in(message, session_id)

    def _logged_on(self, session_id: fix.SessionID) -> None:
        with self._lock:
            refusal = self._refusals.get(session_key(session_id))
        if refusal is None:
            self.on_logon(session_id)
            return
        reason, expected = refusal
        session = fix.Session.lookupSession(session_id)
        if session is not None:
            if expected > 0:  # the refused Logon must not consume the client's sequence number
                session.setNextTargetMsgSeqNum(expected)
            session.disconnect()
        with self._lock:
            self._refusals.pop(session_key(session_id), None)
        log.info("fix.logon_refused", app=self.name, session=session_key(session_id), reason=reason)
        self.on_logon_refused(session_id, reason)

    def _logged_out(self, session_id: fix.SessionID) -> None:
        if self._refusal(session_id) is not None:
            return  # the refused logon's disconnect: not a session of the application's
        self.on_logout(session_id)
