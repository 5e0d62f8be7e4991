"""The conformance profile's application: what QuickFIX's acceptance tests expect of a server.

NewOrderSingle (D), SecurityDefinition (d) and Email (C) are echoed back on the same session
(the engine re-stamps the header and drops PossDupFlag/OrigSendingTime); a NewOrderSingle with
PossResend=Y whose ClOrdID this session already sent since its last logout is dropped; any other
application message gets a BusinessMessageReject "Unsupported Message Type".

Test mode only: in normal operation orders go to the exchange.
"""

from __future__ import annotations

import asyncio
import threading

import quickfix as fix
import structlog

from fixsession.application import SafeApplication
from fixsession.messages import body_value, header_value, msg_type, session_key
from fixsession.rejects import unsupported_message_type

log = structlog.get_logger(__name__)

ECHOED_TYPES = frozenset({"D", "d", "C"})


class EchoApplication(SafeApplication):
    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__("conformance", loop)
        self._seen_cl_ord_ids: dict[str, set[str]] = {}
        self._seen_lock = threading.Lock()

    def on_logout(self, session_id: fix.SessionID) -> None:
        with self._seen_lock:
            self._seen_cl_ord_ids.pop(session_key(session_id), None)

    def on_app_in(self, message: fix.Message, session_id: fix.SessionID, key: str | None = None,
                  text: str | None = None) -> None:
        # Duplicate detection runs on the engine thread, in order with logout, before the hand-off.
        if msg_type(message) == "D" and self._is_resent_duplicate(message, session_id):
            log.info("fix.echo_duplicate_dropped", session=session_key(session_id),
                     cl_ord_id=body_value(message, 11))
            return
        super().on_app_in(message, session_id, key, text)

    def _is_resent_duplicate(self, message: fix.Message, session_id: fix.SessionID) -> bool:
        cl_ord_id = body_value(message, 11) or ""
        with self._seen_lock:
            seen = self._seen_cl_ord_ids.setdefault(session_key(session_id), set())
            duplicate = header_value(message, 97) == "Y" and cl_ord_id in seen
            seen.add(cl_ord_id)
        return duplicate

    async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
        if msg_type(message) in ECHOED_TYPES:
            self.send(session_id, message)
        else:
            self.send(session_id, unsupported_message_type(message))
