"""TLS for client sessions: a terminator on ``fix_tls_port`` relaying to the plain acceptor port.

Why not QuickFIX-SSL's acceptor here: QuickFIX keeps one Session object per SessionID per process
and an acceptor is all-TLS or all-plain, so a client cannot be served on both a plain and a TLS
port by two acceptors. Terminating TLS in front of the one acceptor keeps a single session (one
sequence-number store) whichever port the client uses. (``fixsession`` still builds QuickFIX-SSL
endpoints, e.g. for a TLS-only link.)
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

CHUNK = 65536


def server_context(certificate: Path, private_key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certificate), str(private_key))
    return context


class TlsTerminator:
    def __init__(self, host: str, port: int, backend_host: str, backend_port: int, context: ssl.SSLContext) -> None:
        self.host, self.port = host, port
        self.backend = (backend_host, backend_port)
        self.context = context
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self.context,
                                                  ssl_handshake_timeout=10)
        log.info("fix.tls_listening", host=self.host, port=self.port, backend_port=self.backend[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = client_writer.get_extra_info("peername")
        try:
            backend_reader, backend_writer = await asyncio.open_connection(*self.backend)
        except OSError as exc:
            log.error("fix.tls_backend_unreachable", peer=str(peer), error=str(exc))
            client_writer.close()
            return
        try:
            await asyncio.gather(_pump(client_reader, backend_writer), _pump(backend_reader, client_writer))
        finally:
            for writer in (backend_writer, client_writer):
                writer.close()
            if task is not None:
                self._connections.discard(task)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes until EOF, then close the other side so the peer sees the disconnect."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(OSError, ssl.SSLError, RuntimeError):
            writer.close()
