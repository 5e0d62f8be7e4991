"""The gateway's initiator session toward the exchange (SenderCompID GATEWAY → EXCHANGE).

QuickFIX reconnects every ReconnectInterval seconds while the exchange is down; sequence numbers
persist in ``<data_dir>/fix/gateway-exchange/`` so the link resumes across restarts of either side.
Inbound application messages (execution reports, market data) go to the handler registered for
their MsgType; until the order path registers one they are logged and dropped.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping

import quickfix as fix
import structlog

from fixsession.application import SafeApplication
from fixsession.messages import msg_type, printable, session_key
from fixsession.settings import SessionSpec

log = structlog.get_logger(__name__)

LinkHandler = Callable[[fix.SessionID, fix.Message], Awaitable[None]]


class ExchangeLinkApplication(SafeApplication):
    def __init__(self, loop: asyncio.AbstractEventLoop, spec: SessionSpec,
                 handlers: Mapping[str, LinkHandler] | None = None) -> None:
        super().__init__("gateway-exchange", loop)
        self.session_id = fix.SessionID(spec.begin_string, spec.sender_comp_id, spec.target_comp_id)
        self.handlers: dict[str, LinkHandler] = dict(handlers or {})
        self.connected = threading.Event()
        self.logon_listeners: list[Callable[[], object]] = []  # called on the engine thread at each logon

    def on_logon(self, session_id: fix.SessionID) -> None:
        self.connected.set()
        log.info("fix.exchange_link_up", session=session_key(session_id))
        for listener in self.logon_listeners:
            listener()

    def on_logout(self, session_id: fix.SessionID) -> None:
        self.connected.clear()
        log.warning("fix.exchange_link_down", session=session_key(session_id))

    def send_to_exchange(self, message: fix.Message) -> bool:
        """Thread-safe. While the link is down the message is stored and goes out by resend."""
        return self.send(self.session_id, message)

    async def handle_app_message(self, session_id: fix.SessionID, message: fix.Message) -> None:
        handler = self.handlers.get(msg_type(message))
        if handler is None:
            log.info("fix.exchange_message_unhandled", msg_type=msg_type(message), message=printable(message))
            return
        await handler(session_id, message)
