"""The front door's asyncio shell: listeners (plain and TLS), timeouts, the Logon gate, the relay.

    door = FrontDoor(FrontDoorConfig("BROKER"), PostgresCredentials(pool), single_shard("127.0.0.1", 9001),
                     audit)
    await door.listen("127.0.0.1", 9876)                     # plain
    await door.listen("0.0.0.0", 9443, ssl_context=context)  # TLS
    ...
    await door.close()

Per connection: the gate (connections per IP / in total) before any byte or TLS handshake; a
first-byte timeout; the Logon framed here (size cap) within the logon timeout; the Logon checked
(back-off, CompIDs, HeartBtInt, the password against the credential source, scrypt in a thread);
a refused Logon answered with a Logout (58=reason) and audited, never relayed. An accepted one opens
the loopback connection to the shard's QuickFIX acceptor and relays the Logon and everything after
it: client->engine bytes are framed (QuickFIX's rules, framing.frame_end) only to enforce the size
cap, engine->client bytes are not looked at. Each direction pauses reading from one side while the
other side's write buffer is above the high-water mark, so memory per connection stays bounded.

Client sockets live on file descriptors >= ``fd_floor`` (1024 by default; the soft RLIMIT_NOFILE is
raised to the hard limit): QuickFIX's engine uses select(), whose FD_SET overflows past fd 1023, so
its own sockets must keep the low numbers however many clients are connected here.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import resource
import socket
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from gateway.fix.audit import SessionAudit
from gateway.fix.sessions import ClientSession
from gateway.frontdoor import metrics
from gateway.frontdoor.credentials import CredentialSource
from gateway.frontdoor.framing import FrameError, encode, frame_end, pending_header_length
from gateway.frontdoor.logon import LOCKED_OUT, LogonRequest, Refusal, parse_logon, session_refusal
from gateway.frontdoor.policy import ConnectionGate, Limits, LogonBackoff
from gateway.frontdoor.router import ShardRouter

log = structlog.get_logger(__name__)

UNAVAILABLE = "Logon temporarily unavailable"
ACCEPT_BATCH = 64


@dataclass(frozen=True)
class FrontDoorConfig:
    our_comp_id: str
    limits: Limits = field(default_factory=Limits)
    reply_on_refusal: bool = True  # a Logout with 58=<reason>; False: just close (QuickFIX's manner)
    backoff: bool = True  # failed-logon back-off per CompID and per IP
    fd_floor: int = 1024  # client sockets on fds >= this (0: leave them where accept puts them)


OnAccepted = Callable[[ClientSession | None, LogonRequest], None]


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return int(soft)


def _lift(sock: socket.socket, floor: int) -> socket.socket:
    """The same socket on a descriptor >= floor (the original descriptor is closed)."""
    if floor <= 0 or sock.fileno() >= floor:
        return sock
    try:
        high = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, floor)
    except OSError:
        return sock  # out of high descriptors: a low one still works for us
    lifted = socket.socket(sock.family, sock.type, sock.proto, fileno=high)
    sock.close()
    return lifted


class FrontDoor:
    def __init__(self, config: FrontDoorConfig, credentials: CredentialSource, router: ShardRouter,
                 audit: SessionAudit | None = None, on_accepted: OnAccepted | None = None) -> None:
        self.config = config
        self.limits = config.limits
        self.credentials = credentials
        self.router = router
        self.audit = audit
        self.on_accepted = on_accepted
        self.gate = ConnectionGate(self.limits)
        lim = self.limits
        self.comp_id_backoff = LogonBackoff(lim.failures_free_per_comp_id, lim.backoff_base,
                                            lim.backoff_cap_comp_id, lim.backoff_forget, lim.backoff_keys)
        self.ip_backoff = LogonBackoff(lim.failures_free_per_ip, lim.backoff_base, lim.backoff_cap_ip,
                                       lim.backoff_forget, lim.backoff_keys)
        self.connections: set[ClientConnection] = set()
        self._listeners: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.fd_floor = 0
        self._refused_logged_at = 0.0
        self.pending_checks = 0
        self._refused_since_log = 0

    # --- listening ------------------------------------------------------------------------------
    async def listen(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> int:
        """Accept on host:port (TLS with ``ssl_context``); returns the bound port."""
        loop = self._loop = asyncio.get_running_loop()
        if self.config.fd_floor and not self.fd_floor:
            limit = raise_fd_limit()
            self.fd_floor = self.config.fd_floor if limit > self.config.fd_floor + 64 else 0
            if not self.fd_floor:
                log.warning("fix.frontdoor_fd_floor_off", rlimit_nofile=limit)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(1024)
        listener.setblocking(False)
        self._listeners.append(listener)
        loop.add_reader(listener.fileno(), self._accept, listener, ssl_context)
        bound = int(listener.getsockname()[1])
        log.info("fix.frontdoor_listening", host=host, port=bound, tls=ssl_context is not None,
                 fd_floor=self.fd_floor)
        return bound

    def _accept(self, listener: socket.socket, ssl_context: ssl.SSLContext | None) -> None:
        assert self._loop is not None
        for _ in range(ACCEPT_BATCH):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE/ENFILE: stop accepting for a moment
                log.error("fix.frontdoor_accept_failed", error=str(exc))
                self._loop.remove_reader(listener.fileno())
                self._loop.call_later(0.1, self._resume_accept, listener, ssl_context)
                return
            ip = str(address[0])
            refusal = self.gate.open(ip)
            if refusal is not None:
                sock.close()
                self._log_refused_connection(ip, refusal)
                continue
            try:
                sock = _lift(sock, self.fd_floor)
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                self.gate.close(ip)
                sock.close()
                continue
            self._spawn(self._start_connection(sock, ip, ssl_context))

    def _log_refused_connection(self, ip: str, reason: str) -> None:
        """At most one log line per second for refused connections (a flood must not flood the logs)."""
        self._refused_since_log += 1
        now = time.monotonic()
        if now - self._refused_logged_at >= 1.0:
            log.warning("fix.frontdoor_connection_refused", peer=ip, reason=reason,
                        refused_since_last_line=self._refused_since_log)
            self._refused_logged_at, self._refused_since_log = now, 0

    def _resume_accept(self, listener: socket.socket, ssl_context: ssl.SSLContext | None) -> None:
        if self._loop is not None and listener in self._listeners:
            self._loop.add_reader(listener.fileno(), self._accept, listener, ssl_context)

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_connection(self, sock: socket.socket, ip: str, ssl_context: ssl.SSLContext | None) -> None:
        assert self._loop is not None
        connection = ClientConnection(self, ip)
        try:
            await self._loop.connect_accepted_socket(
                lambda: connection, sock, ssl=ssl_context,
                ssl_handshake_timeout=self.limits.logon_timeout if ssl_context else None)
        except (TimeoutError, OSError, ssl.SSLError, ConnectionError) as exc:
            log.info("fix.frontdoor_handshake_failed", peer=ip, error=str(exc) or type(exc).__name__)
            connection.release()
            sock.close()

    async def close(self) -> None:
        for listener in self._listeners:
            if self._loop is not None:
                self._loop.remove_reader(listener.fileno())
            listener.close()
        self._listeners.clear()
        for connection in list(self.connections):
            connection.abort("front door stopping")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- the Logon gate -------------------------------------------------------------------------
    def locked_out(self, request: LogonRequest, ip: str) -> bool:
        if not self.config.backoff:
            return False
        now = time.monotonic()
        return (self.ip_backoff.locked_for(ip, now) > 0
                or self.comp_id_backoff.locked_for(request.sender_comp_id, now) > 0)

    def record_failure(self, refusal: Refusal, ip: str) -> None:
        if not self.config.backoff:
            return
        now = time.monotonic()
        ip_lock = self.ip_backoff.failed(ip, now)
        comp_lock = 0.0
        if refusal.credential_failure and refusal.sender_comp_id:
            comp_lock = self.comp_id_backoff.failed(refusal.sender_comp_id, now)
        for key, seconds in ((f"ip {ip}", ip_lock), (f"CompID {refusal.sender_comp_id}", comp_lock)):
            if seconds > 0:
                log.warning("fix.frontdoor_logon_backoff", key=key, seconds=seconds)
                if self.audit is not None:
                    self.audit.record("session.logon_locked", refusal.sender_comp_id or "?",
                                      f"{key} locked for {seconds:g} s after repeated failed logons")

    def record_success(self, request: LogonRequest) -> None:
        self.comp_id_backoff.succeeded(request.sender_comp_id)

    async def check(self, request: LogonRequest) -> Refusal | ClientSession | None:
        """The provisioned session if this Logon may pass (None for a source without sessions)."""
        session = await asyncio.wait_for(
            self.credentials.session(request.sender_comp_id, request.target_comp_id), self.limits.check_timeout)
        require = self.credentials.require_password
        if session is not None and require:
            refusal = await asyncio.to_thread(session_refusal, request, session, self.config.our_comp_id, True)
        else:
            refusal = session_refusal(request, session, self.config.our_comp_id, require)
        return refusal if refusal is not None else session


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def logout_for(refusal: Refusal) -> bytes:
    """The front door's own Logout answering a refused Logon: our CompID as sender, 34=1."""
    assert refusal.begin_string and refusal.sender_comp_id and refusal.target_comp_id
    return encode(refusal.begin_string, "5", [
        (49, refusal.target_comp_id), (56, refusal.sender_comp_id), (34, "1"), (52, _utc_now()),
        (58, refusal.reason)])


class ClientConnection(asyncio.Protocol):
    """One client connection: waiting for its Logon, being checked, then relaying."""

    def __init__(self, door: FrontDoor, ip: str) -> None:
        self.door = door
        self.limits = door.limits
        self.ip = ip
        self.state = "logon"  # logon -> checking -> relay -> closed
        self.transport: asyncio.Transport | None = None
        self.backend: BackendConnection | None = None
        self.buffer = bytearray()
        self.tail = bytearray()  # relay: bytes of the client's incomplete message (for the size cap)
        self.sender_comp_id: str | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._released = False
        self._client_paused = False
        self._slow_timer: asyncio.TimerHandle | None = None

    # --- lifecycle --------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.limits.write_high_water)
        self.door.connections.add(self)
        loop = asyncio.get_running_loop()
        self._timers = [
            loop.call_later(self.limits.first_byte_timeout, self._expire, "no data before the first-byte timeout"),
            loop.call_later(self.limits.logon_timeout, self._expire, "no complete Logon within the logon timeout"),
        ]

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = "closed"
        self._cancel_timers()
        if self.backend is not None:
            self.backend.close()
        self.release()

    def release(self) -> None:
        if not self._released:
            self._released = True
            self.door.gate.close(self.ip)
            self.door.connections.discard(self)

    def _cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        if self._slow_timer is not None:
            self._slow_timer.cancel()
            self._slow_timer = None

    def _expire(self, reason: str) -> None:
        if self.state == "logon":
            self.abort(reason)

    def abort(self, reason: str) -> None:
        if self.state != "closed":
            log.info("fix.frontdoor_closed", peer=self.ip, session=self.sender_comp_id, reason=reason)
        self.state = "closed"
        self._cancel_timers()
        if self.transport is not None:
            self.transport.abort()
        if self.backend is not None:
            self.backend.close()

    # --- inbound bytes ----------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.state == "relay":
            self._relay(data)
        elif self.state == "logon":
            self._logon_bytes(data)
        elif self.state == "checking":
            self.buffer += data
            if len(self.buffer) > self.limits.max_logon_bytes + self.limits.read_chunk_limit:
                self.abort("too much data while the Logon is checked")

    def eof_received(self) -> bool | None:
        backend = self.backend.transport if self.backend is not None else None
        if self.state == "relay" and backend is not None and backend.can_write_eof():
            backend.write_eof()
            return True
        return None

    def _logon_bytes(self, data: bytes) -> None:
        if self._timers:
            self._timers[0].cancel()  # the first byte has arrived
        self.buffer += data
        head = bytes(self.buffer[:2])
        if not b"8=".startswith(head):
            self.abort("not FIX: the first message must start with 8=")
            return
        try:
            frame = frame_end(self.buffer)
            announced = pending_header_length(self.buffer) if frame is None else None
        except FrameError as exc:
            self.abort(f"unframeable first message: {exc}")
            return
        cap = self.limits.max_logon_bytes
        if frame is None:
            if len(self.buffer) > cap or (announced is not None and announced > cap):
                self.abort(f"first message larger than {cap} bytes")
            return
        if frame.end > cap:
            self.abort(f"first message larger than {cap} bytes")
            return
        self.state = "checking"
        self._cancel_timers()
        assert self.transport is not None
        self.transport.pause_reading()
        logon = bytes(self.buffer[:frame.end])
        del self.buffer[:frame.end]
        self.door._spawn(self._check(logon))

    async def _check(self, logon: bytes) -> None:
        door = self.door
        parsed = parse_logon(logon, self.limits)
        if isinstance(parsed, Refusal):
            self._refuse(parsed, audit=False)
            return
        self.sender_comp_id = parsed.sender_comp_id
        if door.locked_out(parsed, self.ip):
            self._refuse(Refusal(LOCKED_OUT, parsed.sender_comp_id, parsed.target_comp_id, parsed.begin_string),
                         audit=False, count=False)
            return
        if door.pending_checks >= self.limits.max_pending_checks:  # a logon flood: no queue of scrypts
            self._refuse(Refusal(UNAVAILABLE, parsed.sender_comp_id, parsed.target_comp_id, parsed.begin_string),
                         audit=False, count=False)
            return
        door.pending_checks += 1
        try:
            verdict = await door.check(parsed)
        except Exception as exc:  # the credential store is down or slow
            log.error("fix.frontdoor_check_failed", peer=self.ip, session=parsed.sender_comp_id,
                      error=str(exc) or type(exc).__name__)
            self._refuse(Refusal(UNAVAILABLE, parsed.sender_comp_id, parsed.target_comp_id, parsed.begin_string),
                         audit=False, count=False)
            return
        finally:
            door.pending_checks -= 1
        if isinstance(verdict, Refusal):
            self._refuse(verdict, audit=True)
            return
        if self.state != "checking":
            return  # the client went away meanwhile
        door.record_success(parsed)
        if door.on_accepted is not None:
            door.on_accepted(verdict, parsed)
        await self._open_backend(logon, parsed)

    def _refuse(self, refusal: Refusal, *, audit: bool, count: bool = True) -> None:
        door = self.door
        metrics.logon_refused(refusal.credential_failure)  # h11-observability
        log.info("fix.frontdoor_logon_refused", peer=self.ip, session=refusal.sender_comp_id,
                 reason=refusal.reason)
        if count:
            door.record_failure(refusal, self.ip)
        if audit and door.audit is not None and refusal.sender_comp_id:
            door.audit.record("session.logon_failed", refusal.sender_comp_id, refusal.reason)
        if self.state != "checking" or self.transport is None:
            return
        self.state = "closed"
        if door.config.reply_on_refusal and refusal.can_reply:
            self.transport.write(logout_for(refusal))
        self.transport.close()  # after the Logout is flushed

    async def _open_backend(self, logon: bytes, request: LogonRequest) -> None:
        backend_address = self.door.router.route(request.sender_comp_id)
        loop = asyncio.get_running_loop()
        backend = BackendConnection(self)
        sock = _lift(socket.socket(socket.AF_INET, socket.SOCK_STREAM), self.door.fd_floor)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await asyncio.wait_for(loop.sock_connect(sock, (backend_address.host, backend_address.port)),
                                   self.limits.check_timeout)
            await loop.create_connection(lambda: backend, sock=sock)
        except (TimeoutError, OSError) as exc:
            sock.close()
            log.error("fix.frontdoor_backend_unreachable", session=request.sender_comp_id,
                      backend=f"{backend_address.host}:{backend_address.port}", error=str(exc))
            self._refuse(Refusal(UNAVAILABLE, request.sender_comp_id, request.target_comp_id,
                                 request.begin_string), audit=False, count=False)
            return
        if self.state != "checking" or self.transport is None:
            backend.close()
            return
        self.backend = backend
        self.state = "relay"
        assert backend.transport is not None
        backend.transport.write(logon)
        pipelined, self.buffer = bytes(self.buffer), bytearray()
        if pipelined:
            self._relay(pipelined)
        if self.state == "relay" and not backend.paused:
            self.transport.resume_reading()
        log.info("fix.frontdoor_relaying", peer=self.ip, session=request.sender_comp_id,
                 backend=f"{backend_address.host}:{backend_address.port}")

    # --- relay: client -> engine --------------------------------------------------------------
    def _relay(self, data: bytes) -> None:
        if self.tail:
            self.tail += data
            view: bytes | bytearray = self.tail
        else:
            view = data
        cap = self.limits.max_message_bytes
        position = 0
        try:
            while (frame := frame_end(view, position)) is not None:
                if frame.end - frame.start > cap:
                    self._oversize(frame.end - frame.start)
                    return
                position = frame.end
            remaining = len(view) - position
            if remaining:
                announced = pending_header_length(view, position)
                if remaining > cap or (announced is not None and announced > cap):
                    self._oversize(max(remaining, announced or 0))
                    return
                self.tail = bytearray(view[position:]) if view is not self.tail else self.tail
                if view is self.tail and position:
                    del self.tail[:position]
            elif self.tail:
                self.tail = bytearray()
        except FrameError:
            self.tail = bytearray()  # QuickFIX drops its whole buffer on a BodyLength that is no number
        assert self.backend is not None and self.backend.transport is not None
        self.backend.transport.write(data)

    def _oversize(self, size: int) -> None:
        reason = f"message of {size} bytes over the {self.limits.max_message_bytes}-byte cap"
        if self.door.audit is not None and self.sender_comp_id:
            self.door.audit.record("session.frontdoor_closed", self.sender_comp_id, reason)
        self.abort(reason)

    # --- backpressure: the client reads too slowly --------------------------------------------
    def pause_writing(self) -> None:
        if self.backend is not None and self.backend.transport is not None:
            self.backend.transport.pause_reading()
        if self._slow_timer is None and self.state != "closed":
            self._slow_timer = asyncio.get_running_loop().call_later(self.limits.slow_consumer_seconds,
                                                                     self._slow_consumer)

    def resume_writing(self) -> None:
        if self._slow_timer is not None:
            self._slow_timer.cancel()
            self._slow_timer = None
        if self.backend is not None and self.backend.transport is not None and not self.backend.closing:
            self.backend.transport.resume_reading()

    def _slow_consumer(self) -> None:
        """The client has read nothing for slow_consumer_seconds while the engine had more for it."""
        self._slow_timer = None
        if self.state == "closed":
            return
        waiting = self.transport.get_write_buffer_size() if self.transport is not None else 0
        reason = (f"slow consumer: read nothing for {self.limits.slow_consumer_seconds:g} s "
                  f"with {waiting} bytes waiting")
        if self.door.audit is not None and self.sender_comp_id:
            self.door.audit.record("session.slow_consumer", self.sender_comp_id, reason)
        self.abort(reason)


class BackendConnection(asyncio.Protocol):
    """The loopback connection to the QuickFIX acceptor for one client."""

    def __init__(self, client: ClientConnection) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.paused = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.client.limits.write_high_water)

    def data_received(self, data: bytes) -> None:
        client = self.client.transport
        if client is not None and not client.is_closing():
            client.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        client = self.client
        if client.transport is not None and client.state != "closed":
            client.state = "closed"
            client.transport.close()  # flush what the engine sent (e.g. its Logout), then close

    # the engine reads too slowly: stop reading from the client
    def pause_writing(self) -> None:
        self.paused = True
        if self.client.transport is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.client.transport is not None and self.client.state == "relay":
            self.client.transport.resume_reading()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()
