"""A deliberately dumb FIX client on a raw (optionally TLS) socket: it sends exactly what a test
says -- wrong passwords, garbage, chosen sequence numbers -- and reads frames one by one."""

from __future__ import annotations

import socket
import ssl
import time

import simplefix

SOH = b"\x01"


class WireClient:
    def __init__(self, port: int, sender: str = "CLIENT1", target: str = "BROKER", *,
                 host: str = "127.0.0.1", tls: ssl.SSLContext | None = None, next_seq: int = 1) -> None:
        raw = socket.create_connection((host, port), timeout=10)
        self.sock: socket.socket = tls.wrap_socket(raw, server_hostname=host) if tls else raw
        self.sender, self.target = sender, target
        self.next_seq = next_seq
        self.parser = simplefix.FixParser()

    def close(self) -> None:
        self.sock.close()

    # sending ---------------------------------------------------------------------------------
    def encode(self, msg_type: str, body: list[tuple[int, str]], *, seq: int | None = None,
               header: list[tuple[int, str]] | None = None) -> bytes:
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        message.append_pair(35, msg_type, header=True)
        message.append_pair(49, self.sender, header=True)
        message.append_pair(56, self.target, header=True)
        message.append_pair(34, seq if seq is not None else self.next_seq, header=True)
        message.append_utc_timestamp(52, precision=3, header=True)
        for tag, value in header or []:
            message.append_pair(tag, value, header=True)
        for tag, value in body:
            message.append_pair(tag, value)
        if seq is None:
            self.next_seq += 1
        return bytes(message.encode())

    def send(self, msg_type: str, body: list[tuple[int, str]] | None = None, **kwargs: object) -> None:
        self.sock.sendall(self.encode(msg_type, body or [], **kwargs))  # type: ignore[arg-type]

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def logon(self, password: str | None, username: str | None = None, heartbeat: int = 30) -> None:
        body = [(98, "0"), (108, str(heartbeat))]
        if username is not None:
            body.append((553, username))
        if password is not None:
            body.append((554, password))
        self.send("A", body)

    # receiving -------------------------------------------------------------------------------
    def receive(self, timeout: float = 10.0) -> simplefix.FixMessage | None:
        """The next message, or None once the server has closed the connection."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.parser.get_message()
            if message is not None:
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete message from the server")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLEOFError):
                data = b""
            if not data:
                return None
            self.parser.append_buffer(data)

    def expect(self, msg_type: str, timeout: float = 10.0) -> simplefix.FixMessage:
        message = self.receive(timeout)
        assert message is not None, f"connection closed while waiting for 35={msg_type}"
        assert value(message, 35) == msg_type, f"expected 35={msg_type}, got {printable(message)}"
        return message

    def wait_closed(self, timeout: float = 10.0) -> bool:
        """True if the server closes the connection within ``timeout`` (any messages are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.receive(deadline - time.monotonic()) is None:
                    return True
            except TimeoutError:
                return False
        return False


def value(message: simplefix.FixMessage, tag: int) -> str | None:
    raw = message.get(tag)
    return None if raw is None else bytes(raw).decode()


def printable(message: simplefix.FixMessage) -> str:
    return bytes(message.encode(raw=True)).replace(SOH, b"|").decode()
