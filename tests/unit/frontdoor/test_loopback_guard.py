"""The loopback guard on a plain listener: 127.0.0.1 gets through, any other source does not."""

from __future__ import annotations

import socket

import pytest

from fixsession.loopback_guard import GuardError, guard_acceptor, is_loopback_host


def test_guarded_listener_accepts_127_0_0_1_only() -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("", 0))  # every interface, as QuickFIX binds
        listener.listen()
        port = listener.getsockname()[1]
        guard_acceptor(port)

        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            accepted, _ = listener.accept()
            client.sendall(b"hello")
            assert accepted.recv(5) == b"hello"  # accepted sockets inherit the filter: 127.0.0.1 passes
            accepted.close()

        with socket.socket() as stranger:
            stranger.bind(("127.0.0.2", 0))
            stranger.settimeout(1.5)
            with pytest.raises(OSError):  # the SYN is dropped: the connect times out
                stranger.connect(("127.0.0.1", port))


def test_guard_refuses_a_port_nobody_listens_on() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GuardError):
        guard_acceptor(port)


def test_is_loopback_host() -> None:
    assert is_loopback_host("127.0.0.1") and is_loopback_host("localhost") and is_loopback_host("::1")
    assert not is_loopback_host("0.0.0.0") and not is_loopback_host("exchange")
