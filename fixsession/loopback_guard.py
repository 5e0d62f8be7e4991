"""Make a QuickFIX acceptor's listening port reachable from 127.0.0.1 only.

QuickFIX C++ 1.15.1 binds its acceptor to every interface (``SocketAcceptPort`` is its only accept
setting: no address). Once the engine has started, :func:`guard_acceptor` finds the listening socket
among this process's file descriptors (``/proc/self/fd``) and attaches a classic BPF socket filter
(``SO_ATTACH_FILTER``) that drops every segment whose IPv4 source address is not 127.0.0.1, then
locks the filter (``SO_LOCK_FILTER``) so nothing can detach it. A SYN from any other address never
reaches the listener (the peer's connect times out); sockets accepted later inherit the filter.
Connections already accepted before the filter was attached (a window of microseconds) from
another address are shut down. No privileges are needed. See docs/adr/006-fix-front-door.md.

    engine.start()
    guard_acceptor(engine.endpoint.port)      # raises GuardError if the listener is not found
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket

import structlog

log = structlog.get_logger(__name__)

SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>; the socket module does not export it
SO_LOCK_FILTER = 44
SKF_NET_OFF = -0x100000  # classic BPF: offsets relative to the network (IP) header

# BPF opcodes
_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K

LOOPBACK = 0x7F000001  # 127.0.0.1


class GuardError(RuntimeError):
    """The listening socket could not be found or the filter could not be attached."""


class _SockFilter(ctypes.Structure):
    _fields_ = (("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


def loopback_only_program() -> list[tuple[int, int, int, int]]:
    """(code, jt, jf, k): accept a segment whose IPv4 source is 127.0.0.1, drop anything else."""
    return [
        (_LD_W_ABS, 0, 0, (SKF_NET_OFF + 12) & 0xFFFFFFFF),  # A = IPv4 source address
        (_JEQ_K, 0, 1, LOOPBACK),
        (_RET_K, 0, 0, 0xFFFFFFFF),  # keep the whole segment
        (_RET_K, 0, 0, 0),  # drop
    ]


def attach_loopback_filter(sock: socket.socket) -> None:
    program = loopback_only_program()
    filters = (_SockFilter * len(program))(*(_SockFilter(*insn) for insn in program))
    fprog = _SockFprog(len(program), ctypes.cast(filters, ctypes.POINTER(_SockFilter)))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))  # copied by the kernel
    sock.setsockopt(socket.SOL_SOCKET, SO_LOCK_FILTER, 1)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _own_tcp_sockets() -> list[tuple[int, socket.socket]]:
    """(fd, a dup of it as a socket object) for every IPv4 TCP socket of this process."""
    found: list[tuple[int, socket.socket]] = []
    seen: set[str] = set()  # socket inodes: our own dups must not count twice
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
            if not target.startswith("socket:") or target in seen:
                continue
            seen.add(target)
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        if sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM:
            found.append((fd, sock))
        else:
            sock.close()
    return found


def guard_acceptor(port: int) -> int:
    """Filter the listening socket on ``port`` to 127.0.0.1 sources; returns its fd.
    Shuts down any connection already accepted on that port from another address."""
    listening: int | None = None
    sockets = _own_tcp_sockets()
    try:
        for fd, sock in sockets:
            try:
                local_port = sock.getsockname()[1]
                accepting = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            except OSError:
                continue
            if local_port == port and accepting:
                try:
                    attach_loopback_filter(sock)
                except OSError as exc:
                    raise GuardError(f"cannot filter the listener on port {port}: {exc}") from exc
                listening = fd
        if listening is None:
            raise GuardError(f"no listening socket on port {port} in this process")
        for _fd, sock in sockets:  # the race before the filter: drop foreign peers already accepted
            try:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) or sock.getsockname()[1] != port:
                    continue
                peer = sock.getpeername()[0]
            except OSError:
                continue
            if peer != "127.0.0.1":
                sock.shutdown(socket.SHUT_RDWR)
                log.warning("fix.guard_dropped_early_peer", port=port, peer=peer)
    finally:
        for _fd, sock in sockets:
            sock.close()  # closes our dup only
    log.info("fix.acceptor_loopback_only", port=port, fd=listening)
    return listening


