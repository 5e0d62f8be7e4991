"""Assemble and run a QuickFIX acceptor or initiator from an :class:`Endpoint` and session specs.

One place builds every FIX connection of the system (gateway client acceptor, gateway→exchange
initiator, exchange acceptor, conformance profile), so they all share store/log layout, dictionary,
timestamps and threading. The Python bindings expose only the single-threaded socket classes (one
engine thread per connector runs every session's I/O, timers and callbacks, so callbacks must be
quick: hand work to the event loop), or their SSL variants when the endpoint has TLS options.

Secrets (ADR 008): the process's umask becomes private (stores and logs 0600 in 0700 directories,
files QuickFIX creates later included); QuickFIX's own log carries session events only (standard
output), the message log is written by :mod:`fixsession.message_log` with passwords (554/925) masked,
and passwords in the FileStore's stored Logons are masked after each Logon exchange.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import quickfix as fix
import structlog

from fixsession.message_log import LoggingApplication, MessageLog, StoreScrubber, private_umask, tighten
from fixsession.settings import Endpoint, SessionSpec, build_settings, session_directory

log = structlog.get_logger(__name__)


def ensure_port_free(port: int) -> None:
    """Bind the port the way QuickFIX will (all interfaces, SO_REUSEADDR) and release it at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as exc:
            raise OSError(exc.errno, f"FIX port {port} is not available: {exc.strerror}") from exc


class Engine:
    """A started-on-demand QuickFIX connector with its factories kept alive alongside it."""

    def __init__(self, endpoint: Endpoint, sessions: Sequence[SessionSpec], application: fix.Application) -> None:
        self.endpoint = endpoint
        self.sessions = tuple(sessions)
        self.application = application
        private_umask()
        self.settings = build_settings(endpoint, self.sessions)
        base = session_directory(endpoint.data_dir, endpoint.name)
        for directory in (base, base / "store", base / "log"):
            tighten(directory)
        self.scrubber = StoreScrubber(base / "store")
        self.scrubber.scrub_all()  # a crash may have left a stored Logon unscrubbed
        self.message_log = MessageLog(base / "log") if endpoint.file_log else None
        # What QuickFIX calls: the application, with our message log and store scrubbing around it.
        self.callbacks = LoggingApplication(application, self.message_log, self.scrubber)
        # The factories must outlive the connector (it keeps raw pointers to them).
        self.store_factory = fix.FileStoreFactory(self.settings)
        # QuickFIX's own log: session events only (its FileLog would write raw messages, passwords too)
        self.log_factory = fix.ScreenLogFactory(False, False, True) if endpoint.file_log else None
        self.connector = self._connector()
        self.running = False

    def _connector(self) -> fix.Acceptor | fix.Initiator:
        acceptor = self.endpoint.role == "acceptor"
        tls = self.endpoint.tls is not None
        if acceptor:
            cls = fix.SSLSocketAcceptor if tls else fix.SocketAcceptor
        else:
            cls = fix.SSLSocketInitiator if tls else fix.SocketInitiator
        if self.log_factory is not None:
            return cls(self.callbacks, self.store_factory, self.settings, self.log_factory)
        return cls(self.callbacks, self.store_factory, self.settings)

    def session_ids(self) -> list[fix.SessionID]:
        return [fix.SessionID(s.begin_string, s.sender_comp_id, s.target_comp_id) for s in self.sessions]

    def start(self) -> None:
        """Open the listening port (acceptor) or begin connecting (initiator); returns at once.
        Raises OSError if an acceptor's port is taken (QuickFIX itself would abort the process)."""
        if self.endpoint.role == "acceptor":
            ensure_port_free(self.endpoint.port)
        self.connector.start()
        self.running = True
        log.info("fix.engine_started", endpoint=self.endpoint.name, role=self.endpoint.role,
                 port=self.endpoint.port, sessions=len(self.sessions), tls=self.endpoint.tls is not None)

    def stop(self, force: bool = False) -> None:
        """Log out every session (waits for the peers' Logout up to LogoutTimeout unless ``force``)."""
        if not self.running:
            return
        self.running = False
        self.connector.stop(force)
        self.scrubber.scrub_all()
        if self.message_log is not None:
            self.message_log.close()
        log.info("fix.engine_stopped", endpoint=self.endpoint.name)

    def is_logged_on(self, session_id: fix.SessionID) -> bool:
        session = fix.Session.lookupSession(session_id)
        return bool(session is not None and session.isLoggedOn())
