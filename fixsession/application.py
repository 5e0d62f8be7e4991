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

A Logon carrying ResetSeqNumFlag (141=Y) resets the session's sequence numbers and wipes its store
inside QuickFIX *before* ``fromAdmin`` sees the Logon (Session.cpp 1.15.1, ``nextLogon``: the reset
precedes ``verify``; a ``RejectLogon`` thrown by a C++ application comes too late as well). So when
such a Logon is refused, the sequence numbers the session had when it was created or last logged out
are put back; the stored messages themselves are gone (a later ResendRequest over them is answered
with a gap fill). Only a front door that checks the password before QuickFIX reads the Logon
prevents that entirely (ADR 006/007).

Limits (all optional, set by the subclass's owner; see ``fixsession.throttle``):

* ``throttle``: every inbound message of a session spends a token; an application message over the
  limit is answered with a BusinessMessageReject (380=0) and not delivered; an admin message over
  the limit logs the session out with the reason (Logout 58). ``on_throttled`` is told once per
  episode.
* ``max_pending``: application messages handed to the loop and not yet handled, per session; past it
  a message is refused like a throttled one (the client outruns the gateway).
* ``resend_cap``: a ResendRequest asking for more messages is served for its first ``resend_cap``
  messages only (EndSeqNo is rewritten before QuickFIX reads it), then the session is logged out with
  the reason, so the client resumes from there with a new ResendRequest after logging on again.
* ``no_resend_types``: outbound message types never resent (market data: stale by the time it
  would be resent). QuickFIX's own way, throwing ``DoNotSend`` from ``toApp``, aborts the process in
  these bindings, so the copy being resent is rewritten into a SequenceReset-GapFill (35=4 123=Y)
  over its own MsgSeqNum, which is what QuickFIX would have sent.
* ``heartbeat_bounds``: a Logon whose HeartBtInt (108) is outside (low, high) is refused.

Always on: a SequenceReset arriving while the session is not logged on loses its NewSeqNo before QuickFIX
acts on it (``_defuse_sequence_reset``: otherwise the engine throws outside any handler and the process
aborts); a ResendRequest whose BeginSeqNo or EndSeqNo does not fit a 32-bit int is refused with a session
Reject instead of being served (``_defuse_resend_range``: the engine would wrap it around and walk 2^31
sequence numbers under the session's locks, stalling the whole process).

Peer authentication between our own processes (the exchange link, ADR 007): an initiator with
``logon_password`` puts it in Password (554) of each Logon it sends; an acceptor with
``peer_passwords`` (peer CompID -> password) refuses a Logon without the right one, before
``check_logon`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import quickfix as fix
import structlog
from pydantic import SecretStr

from fixsession.bridge import InboundBridge
from fixsession.messages import body_value, header_value, msg_type, session_key
from fixsession.rejects import BUSINESS_REJECT_OTHER, business_reject
from fixsession.throttle import Decision, SessionThrottle, ThrottlePolicy, Verdict, resend_span

log = structlog.get_logger(__name__)

_LOGON_REPLY_FIELDS = (98, 108, 141, 789, 464, 553, 554)
_GAP_FILL_HEADER = (8, 49, 56, 34, 52, 43, 122, 50, 57, 115, 128)


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
        # limits (None: off); see the module docstring
        self.throttle: ThrottlePolicy | None = None
        self.max_pending: int | None = None
        self.resend_cap: int | None = None
        self.no_resend_types: frozenset[str] = frozenset()
        self.heartbeat_bounds: tuple[int, int] | None = None
        self.logon_password: SecretStr | None = None  # initiator: sent in 554
        self.peer_passwords: Mapping[str, SecretStr] | None = None  # acceptor: peer CompID -> password
        self._throttles: dict[str, SessionThrottle] = {}  # engine thread only
        self._marks: dict[str, tuple[int, int]] = {}  # session key -> (next sender, next target) seq
        self._resets: set[str] = set()  # sessions whose refused Logon carried 141=Y
        self._logging_out: set[str] = set()  # sessions we disabled to log them out with a reason
        # engine thread: fields the loop's copy of an inbound application message carries beside its own
        # (``fixsession.messages.carried``; given the session key, so the hook need not build it again); None: off
        self.inbound_stamp: Callable[[fix.Message, fix.SessionID, str], Mapping[int, str] | None] | None = None
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

    def on_app_out(self, message: fix.Message, session_id: fix.SessionID, kind: str | None = None) -> None:
        """The sending thread: an outbound application message (``kind``: its MsgType when already read). Read it,
        do not change it: the message log has taken its text already."""

    def on_app_in(self, message: fix.Message, session_id: fix.SessionID, key: str | None = None,
                  text: str | None = None) -> None:
        """Engine thread: an inbound application message passed session validation (``key``: its session's
        ``session_key`` when already built; ``text``: its wire text when already read, the message unchanged
        since: hooks here read it, they do not change it). Default: stamp it (``inbound_stamp``) and copy it to
        the event loop (``handle_app_message``), keeping session order; the copy keeps ``text``, so the loop
        reads it without a call into the binding."""
        if self.bridge is None:
            log.warning("fix.app_message_dropped", app=self.name, session=session_key(session_id),
                        reason="no event loop attached", msg_type=msg_type(message))
            return
        key = key or session_key(session_id)
        if self.max_pending is not None and self.bridge.pending(key) >= self.max_pending:
            refusal = f"throttled: more than {self.max_pending} messages waiting to be processed; message not processed"
            self._refuse_app(message, session_id, Decision(Verdict.REJECT, refusal, True))
            return
        extra = self.inbound_stamp(message, session_id, key) if self.inbound_stamp is not None else None
        self.bridge.submit(session_id, message, key, extra, text)

    def on_throttled(self, session_id: fix.SessionID, message_type: str, decision: Decision) -> None:
        """Engine thread: the first message of a throttling episode was refused (audit it here)."""

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
            self._failed(callback, session_id)

    def onCreate(self, sessionID: fix.SessionID) -> None:
        self._guard("onCreate", sessionID, lambda: self._created(sessionID))

    def onLogon(self, sessionID: fix.SessionID) -> None:
        self._guard("onLogon", sessionID, lambda: self._logged_on(sessionID))

    def onLogout(self, sessionID: fix.SessionID) -> None:
        self._guard("onLogout", sessionID, lambda: self._logged_out(sessionID))

    # the per-message callbacks guard inline (no closure and no extra call per message)
    def toAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        try:
            self._outbound_admin(message, sessionID)
        except BaseException:
            self._failed("toAdmin", sessionID)

    def fromAdmin(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        try:
            self._inbound_admin(message, sessionID)
        except BaseException:
            self._failed("fromAdmin", sessionID)

    def toApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        try:
            self._outbound_app(message, sessionID)
        except BaseException:
            self._failed("toApp", sessionID)

    def to_app_typed(self, message: fix.Message, session_id: fix.SessionID, kind: str, raw: str) -> bool:
        """``toApp`` given the message's MsgType and wire text (read by ``fixsession.message_log``'s wrapper);
        True when the message may have changed here, so its text must be read again."""
        try:
            return self._outbound_app(message, session_id, kind, raw)
        except BaseException:
            self._failed("toApp", session_id)
            return True

    def fromApp(self, message: fix.Message, sessionID: fix.SessionID) -> None:
        try:
            self._inbound_app(message, sessionID)
        except BaseException:
            self._failed("fromApp", sessionID)

    def from_app_typed(self, message: fix.Message, session_id: fix.SessionID, kind: str, key: str,
                       text: str | None = None) -> None:
        """``fromApp`` with the message's MsgType, its session's ``session_key`` and (optionally) its wire text
        already read (by ``fixsession.message_log``'s wrapper)."""
        try:
            self._inbound_app(message, session_id, kind, key, text)
        except BaseException:
            self._failed("fromApp", session_id)

    def _failed(self, callback: str, session_id: fix.SessionID) -> None:
        with contextlib.suppress(BaseException):
            log.exception("fix.callback_failed", app=self.name, callback=callback, session=session_key(session_id))

    # --- logon gate -----------------------------------------------------------------------------
    def _refusal(self, session_id: fix.SessionID) -> str | None:
        if not self._refusals:  # the common case: no Logon being refused (no lock, no session key)
            return None
        with self._lock:
            refusal = self._refusals.get(session_key(session_id))
        return refusal[0] if refusal else None

    def _inbound_admin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        kind = msg_type(message)
        if kind == "A":
            reason = (self._password_refusal(message, session_id) or self._heartbeat_refusal(message)
                      or self.check_logon(message, session_id))
            session = fix.Session.lookupSession(session_id) if reason is not None else None
            with self._lock:
                if reason is None:
                    self._refusals.pop(session_key(session_id), None)
                else:
                    expected = session.getExpectedTargetNum() if session is not None else 0
                    self._refusals[session_key(session_id)] = (reason, expected)
                    if body_value(message, 141) == "Y":
                        self._resets.add(session_key(session_id))
            if reason is not None:
                return
        elif not self._admit_admin(kind, message, session_id):
            return
        self.on_admin_in(message, session_id)

    def _password_refusal(self, logon: fix.Message, session_id: fix.SessionID) -> str | None:
        if self.peer_passwords is None:
            return None
        expected = self.peer_passwords.get(str(session_id.getTargetCompID().getValue()))
        given = body_value(logon, 554)
        if expected is None or given is None:
            return "Password (554) required" if expected is not None else "Not authorized"
        if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            return "Invalid password"
        return None

    def _heartbeat_refusal(self, logon: fix.Message) -> str | None:
        if self.heartbeat_bounds is None:
            return None
        low, high = self.heartbeat_bounds
        raw = body_value(logon, 108) or ""
        if not _number(raw) or not low <= int(raw) <= high:
            return f"HeartBtInt (108) must be between {low} and {high} seconds"
        return None

    # --- limits ---------------------------------------------------------------------------------
    def _check(self, kind: str, session_id: fix.SessionID, key: str | None = None) -> Decision | None:
        if self.throttle is None:
            return None
        key = key or session_key(session_id)
        throttle = self._throttles.get(key)
        if throttle is None:
            throttle = self._throttles[key] = SessionThrottle(self.throttle)
        decision = throttle.check(kind, time.monotonic_ns())
        return None if decision.allowed else decision

    def _admit_admin(self, kind: str, message: fix.Message, session_id: fix.SessionID) -> bool:
        decision = self._check(kind, session_id)
        if decision is not None:
            self._throttled(session_id, kind, decision)
            self.log_out(session_id, decision.text)
            return False
        if kind == "2":
            _defuse_resend_range(message, session_id)
            if self.resend_cap is not None:
                self._cap_resend(message, session_id, self.resend_cap)
        if kind == "4":
            _defuse_sequence_reset(message, session_id)
        return True

    def _cap_resend(self, message: fix.Message, session_id: fix.SessionID, cap: int) -> None:
        session = fix.Session.lookupSession(session_id)
        begin_raw, end_raw = body_value(message, 7) or "", body_value(message, 16) or ""
        if session is None or not _number(begin_raw) or not _number(end_raw):
            return  # QuickFIX rejects a malformed ResendRequest itself
        begin, last = resend_span(int(begin_raw), int(end_raw), session.getExpectedSenderNum())
        if last - begin + 1 <= cap:
            return
        # SWIG keeps no const: the engine serves the range we leave in the message it is processing
        message.setField(16, str(begin + cap - 1))
        text = (f"ResendRequest for {last - begin + 1} messages ({begin}..{last}) above the cap of {cap}: "
                f"served {begin}..{begin + cap - 1}; log on again and ask for the rest")
        log.warning("fix.resend_capped", app=self.name, session=session_key(session_id), begin=begin, last=last,
                    cap=cap)
        self._throttled(session_id, "2", Decision(Verdict.DISCONNECT, text, True))
        self.log_out(session_id, text)

    def _refuse_app(self, message: fix.Message, session_id: fix.SessionID, decision: Decision) -> None:
        self._throttled(session_id, msg_type(message), decision)
        self.send(session_id, business_reject(message, BUSINESS_REJECT_OTHER, decision.text))

    def _throttled(self, session_id: fix.SessionID, kind: str, decision: Decision) -> None:
        if decision.first:
            log.warning("fix.throttled", app=self.name, session=session_key(session_id), msg_type=kind,
                        verdict=decision.verdict.value, text=decision.text)
            self.on_throttled(session_id, kind, decision)

    def log_out(self, session_id: fix.SessionID, reason: str) -> None:
        """Engine thread or loop: end a session with a Logout carrying ``reason`` (58). QuickFIX sends it
        at its next timer tick (after what it is sending now), waits LogoutTimeout for the answer and
        disconnects; the session is enabled again once it is down, so the client may log on again."""
        session = fix.Session.lookupSession(session_id)
        if session is None or not session.isLoggedOn():
            return
        with self._lock:
            self._logging_out.add(session_key(session_id))
        session.logout(reason)

    def _outbound_app(self, message: fix.Message, session_id: fix.SessionID, kind: str | None = None,
                      raw: str | None = None) -> bool:
        """True when the message was rewritten (a resent message of a type never resent)."""
        # PossDupFlag (43) is read from the header only when the wire text has it: a resend, rare
        if (self.no_resend_types and (raw is None or "\x0143=Y\x01" in raw) and header_value(message, 43) == "Y"
                and (kind or msg_type(message)) in self.no_resend_types):
            _into_gap_fill(message)
            return True
        self.on_app_out(message, session_id, kind)
        return False

    def _outbound_admin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        reason = self._refusal(session_id)
        if reason is not None and msg_type(message) == "A":
            # The engine is answering a Logon we refused: turn its reply into a Logout with the reason.
            message.getHeader().setField(fix.MsgType("5"))
            for tag in _LOGON_REPLY_FIELDS:
                message.removeField(tag)
            message.setField(fix.Text(reason))
            return
        if self.logon_password is not None and msg_type(message) == "A":
            message.setField(554, self.logon_password.get_secret_value())
        self.on_admin_out(message, session_id)

    def _inbound_app(self, message: fix.Message, session_id: fix.SessionID, kind: str | None = None,
                     key: str | None = None, text: str | None = None) -> None:
        if self._refusal(session_id) is not None:
            return  # cannot happen once disconnected; belt and braces
        if self.throttle is not None:  # without one, no MsgType read (the exchange link: 2 per order lifecycle)
            key = key or session_key(session_id)  # once per message: each call into the binding may hand the GIL over
            decision = self._check(kind or msg_type(message), session_id, key)
            if decision is not None:
                self._refuse_app(message, session_id, decision)
                return
        self.on_app_in(message, session_id, key, text)

    def _created(self, session_id: fix.SessionID) -> None:
        self._mark(session_id)
        self.on_create(session_id)

    def _mark(self, session_id: fix.SessionID) -> None:
        """Remember the session's sequence numbers while no one is logged on (see the module docstring)."""
        session = fix.Session.lookupSession(session_id)
        if session is not None:
            with self._lock:
                self._marks[session_key(session_id)] = (session.getExpectedSenderNum(),
                                                        session.getExpectedTargetNum())

    def _logged_on(self, session_id: fix.SessionID) -> None:
        with self._lock:
            refusal = self._refusals.get(session_key(session_id))
        if refusal is None:
            self.on_logon(session_id)
            return
        reason, expected = refusal
        key = session_key(session_id)
        with self._lock:
            mark = self._marks.get(key) if key in self._resets else None
            self._resets.discard(key)
        session = fix.Session.lookupSession(session_id)
        if session is not None:
            if mark is not None:  # QuickFIX already reset the session for the refused 141=Y: undo what we can
                session.setNextSenderMsgSeqNum(mark[0])
                session.setNextTargetMsgSeqNum(mark[1])
                log.warning("fix.refused_reset_undone", app=self.name, session=key, next_sender=mark[0],
                            next_target=mark[1])
            elif expected > 0:  # the refused Logon must not consume the client's sequence number
                session.setNextTargetMsgSeqNum(expected)
            session.disconnect()
        with self._lock:
            self._refusals.pop(key, None)
        log.info("fix.logon_refused", app=self.name, session=key, reason=reason)
        self.on_logon_refused(session_id, reason)

    def _logged_out(self, session_id: fix.SessionID) -> None:
        if self._refusal(session_id) is not None:
            return  # the refused logon's disconnect: not a session of the application's
        key = session_key(session_id)
        self._throttles.pop(key, None)
        with self._lock:
            relog = key in self._logging_out
            self._logging_out.discard(key)
        session = fix.Session.lookupSession(session_id)
        if session is not None and relog:
            session.logon()  # enabled again: QuickFIX refuses a Logon to a disabled session
        self._mark(session_id)
        self.on_logout(session_id)


def _defuse_sequence_reset(message: fix.Message, session_id: fix.SessionID) -> None:
    """A SequenceReset read after the engine dropped the session (the rest of a packet after a Logout, a
    refused Logon, a MsgSeqNum too low) that lowers NewSeqNo makes QuickFIX 1.15.1 build a Reject while not
    logged on, which throws std::runtime_error outside any handler: the process aborts (found by the
    fuzzer). Without NewSeqNo (36) the engine does nothing with it."""
    session = fix.Session.lookupSession(session_id)
    if session is None or not session.receivedLogon():
        message.removeField(36)
        log.warning("fix.sequence_reset_ignored", session=session_key(session_id), reason="session not logged on")


def _defuse_resend_range(message: fix.Message, session_id: fix.SessionID) -> None:
    """QuickFIX 1.15.1 reads a sequence number into a 32-bit int without an overflow check: BeginSeqNo
    2147483648 becomes -2147483648, and serving that ResendRequest walks the FileStore one number at a time
    over 2^31 of them (~20-60 s) holding the session's locks; the event loop, which reads sequence numbers
    under the same lock, stalls with it, and so does every session (found by the fuzzer). A BeginSeqNo or
    EndSeqNo beyond that range is replaced by a value the engine cannot read, so it answers with its own
    session Reject (373=6, 371=<tag>) and serves nothing."""
    for tag in (7, 16):
        raw = body_value(message, tag)
        if raw is not None and _beyond_seqnum(raw):
            message.setField(tag, _UNREADABLE_SEQNUM)
            log.warning("fix.resend_range_refused", session=session_key(session_id), tag=tag, length=len(raw),
                        reason="sequence number beyond 2^31-1")


_SEQNUM_MAX = 2**31 - 1
_UNREADABLE_SEQNUM = "out-of-range"


def _beyond_seqnum(text: str) -> bool:
    """A decimal integer (what QuickFIX's IntConvertor accepts: an optional '-', digits) whose magnitude is
    beyond 2^31-1 (-2^31 included: as BeginSeqNo it is the very walk above). Long values are judged by length:
    ``int`` refuses more than 4,300 digits."""
    digits = (text[1:] if text.startswith("-") else text).lstrip("0")
    if not digits.isascii() or not digits.isdigit():
        return False  # not a number at all (or zero): the engine's own validation answers it
    return len(digits) > 10 or int(digits) > _SEQNUM_MAX


def _number(text: str) -> bool:
    """Plain ASCII digits (``str.isdigit`` also takes '²', which ``int`` refuses)."""
    return text.isascii() and text.isdigit() and len(text) < 19


def _into_gap_fill(message: fix.Message) -> None:
    """Rewrite the resent copy of a message into SequenceReset-GapFill over its own MsgSeqNum."""
    header = message.getHeader()
    kept = [(tag, str(header.getField(tag))) for tag in _GAP_FILL_HEADER if header.isSetField(tag)]
    seq = next((int(v) for tag, v in kept if tag == 34 and _number(v)), 0)
    message.clear()
    header = message.getHeader()
    for tag, value in kept:
        header.setField(tag, value)
    header.setField(35, "4")
    message.setField(123, "Y")
    message.setField(36, str(seq + 1))
