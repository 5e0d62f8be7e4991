"""``free_ports``: several ports for servers started one after the other, never the same one twice."""

from __future__ import annotations

import socket

from brokerage.services import free_ports


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(8)
    assert len(ports) == len(set(ports)) == 8
    for port in ports:  # free now: a server can bind each of them
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
