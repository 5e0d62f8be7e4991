"""FIX session layer shared by the gateway and the exchange (QuickFIX 1.15.1, ``quickfix-ssl``).

* ``fixsession.settings`` -- typed endpoint/session values → ``quickfix.SessionSettings``
* ``fixsession.engine`` -- ``Engine``: acceptor or initiator with file store/log, start/stop
* ``fixsession.application`` -- ``SafeApplication``: callbacks that never raise, logon gate,
  thread-safe ``send``, inbound application messages handed to asyncio in session order
* ``fixsession.bridge`` -- ``InboundBridge``: the quickfix-thread → asyncio hand-off
* ``fixsession.rejects`` -- BusinessMessageReject / Reject / Logout builders
* ``fixsession.messages`` -- small accessors (``session_key``, ``msg_type``, ...)
"""

from fixsession.application import SafeApplication
from fixsession.bridge import InboundBridge
from fixsession.engine import Engine
from fixsession.settings import DATA_DICTIONARY, Endpoint, SessionSpec, TlsOptions, build_settings, session_directory

__all__ = [
    "DATA_DICTIONARY",
    "Endpoint",
    "Engine",
    "InboundBridge",
    "SafeApplication",
    "SessionSpec",
    "TlsOptions",
    "build_settings",
    "session_directory",
]
