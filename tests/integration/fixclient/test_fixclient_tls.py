"""The client over TLS (certificate verified) to the QuickFIX acceptor behind a TLS terminator, the
way the gateway serves its TLS port."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quickfix_echo import EchoAcceptor

from fixclient.client import FixClient

pytestmark = pytest.mark.integration


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@contextlib.asynccontextmanager
async def tls_terminator(cert: Path, key: Path, backend_port: int) -> AsyncIterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", backend_port)
        await asyncio.gather(pipe(reader, backend_writer), pipe(backend_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_order_round_trip_over_verified_tls(acceptor: EchoAcceptor, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    async with tls_terminator(cert, key, acceptor.port) as tls_port:
        trusting = ssl.create_default_context(cafile=str(cert))
        client = await FixClient.connect("127.0.0.1", tls_port, "CLIENT1", "BROKER", password="demo1",
                                         ssl_context=trusting)
        await client.logon()
        cl_ord_id = await client.new_order_single("AAPL", "buy", 7, "market")
        assert (await client.next_execution_report(cl_ord_id, timeout=5)).leaves_qty == 7
        await client.logout()
        with pytest.raises(ssl.SSLCertVerificationError):  # the system trust store does not know this cert
            await FixClient.connect("127.0.0.1", tls_port, "CLIENT1", "BROKER",
                                    ssl_context=ssl.create_default_context())


async def test_cli_over_tls(acceptor: EchoAcceptor, tmp_path: Path) -> None:
    import os
    import sys

    cert, key = self_signed(tmp_path)
    async with tls_terminator(cert, key, acceptor.port) as tls_port:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "brokerage.commands.fix_client", "--tls", "--cafile", str(cert),
            "--port", str(tls_port), "--wait", "5", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "BROKERAGE_DATA_DIR": str(tmp_path)})
        out, _ = await asyncio.wait_for(process.communicate(b"buy 3 AAPL id TLS-1\n"), 60)
    text = out.decode()
    assert process.returncode == 0, text
    assert "<- ExecutionReport TLS-1 New" in text, (text, acceptor.app.seen.sent, acceptor.app.seen.errors)
