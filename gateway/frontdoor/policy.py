"""The front door's caps as pure, typed code: no I/O, no clock (``now`` is passed in).

    limits = Limits()                               # every cap in one frozen value
    gate = ConnectionGate(limits)                   # concurrent connections per source IP and in total
    if (refusal := gate.open(ip)) is None: ... gate.close(ip)
    backoff = LogonBackoff(free=3, base=1.0, cap=60.0)  # failed logons per key (CompID or IP)
    backoff.locked_for(key, now)  -> seconds left, 0.0 if free to try
    backoff.failed(key, now)      -> the lockout it starts (0.0 while within the free attempts)
    backoff.succeeded(key)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_connections: int = 4096  # in total, logged on or not
    max_connections_per_ip: int = 64
    max_logon_bytes: int = 8192  # the first message
    max_message_bytes: int = 65536  # any message after logon (BodyLength + header + trailer)
    first_byte_timeout: float = 3.0  # idle timeout before logon: nothing sent at all
    logon_timeout: float = 5.0  # from accept to a complete Logon
    check_timeout: float = 10.0  # the credential check (database) for one Logon
    max_pending_checks: int = 64  # Logons being checked at once (database + scrypt); more: refused
    heartbeat_min: int = 1  # HeartBtInt (108) bounds, seconds
    heartbeat_max: int = 300
    failures_free_per_comp_id: int = 3  # failed logons before back-off starts
    failures_free_per_ip: int = 10
    backoff_base: float = 1.0  # first lockout; doubles with each further failure
    backoff_cap_comp_id: float = 60.0
    backoff_cap_ip: float = 300.0
    backoff_forget: float = 900.0  # a key with no failure for this long starts afresh
    backoff_keys: int = 100_000  # memory bound: the oldest keys are forgotten first
    write_high_water: int = 262_144  # bytes queued toward a peer before reading from the other side pauses
    read_chunk_limit: int = 65_536  # bytes buffered from a peer before the relay must have framed them
    # a client that keeps the relay paused this long (it reads nothing while the engine has more for it) is a
    # slow consumer: both sides are closed and audited, so the engine's own unbounded send queue never grows
    slow_consumer_seconds: float = 15.0

    def __post_init__(self) -> None:
        if not 0 < self.max_connections_per_ip <= self.max_connections:
            raise ValueError("need 0 < max_connections_per_ip <= max_connections")
        if not 0 < self.heartbeat_min <= self.heartbeat_max:
            raise ValueError("need 0 < heartbeat_min <= heartbeat_max")
        if self.max_logon_bytes < 64 or self.max_message_bytes < self.max_logon_bytes:
            raise ValueError("need 64 <= max_logon_bytes <= max_message_bytes")
        if min(self.first_byte_timeout, self.logon_timeout, self.check_timeout, self.slow_consumer_seconds) <= 0:
            raise ValueError("timeouts must be positive")


TOO_MANY_CONNECTIONS = "too many connections"
TOO_MANY_FROM_IP = "too many connections from this address"


class ConnectionGate:
    """Concurrent connections per source IP and in total."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.per_ip: dict[str, int] = {}

    def open(self, ip: str) -> str | None:
        """Count a new connection, or say why it is refused (then nothing is counted)."""
        if self.total >= self.limits.max_connections:
            return TOO_MANY_CONNECTIONS
        count = self.per_ip.get(ip, 0)
        if count >= self.limits.max_connections_per_ip:
            return TOO_MANY_FROM_IP
        self.per_ip[ip] = count + 1
        self.total += 1
        return None

    def close(self, ip: str) -> None:
        count = self.per_ip.get(ip, 0)
        if count <= 0:
            return
        if count == 1:
            del self.per_ip[ip]
        else:
            self.per_ip[ip] = count - 1
        self.total -= 1


@dataclass(slots=True)
class _Failures:
    count: int
    last: float
    locked_until: float


class LogonBackoff:
    """Failed logons per key with exponential back-off: ``free`` failures cost nothing, each further
    one locks the key for ``base * 2**k`` seconds (k = 0, 1, ...) up to ``cap``. A success or
    ``forget`` seconds without a failure clears the key. At most ``max_keys`` keys are remembered."""

    def __init__(self, free: int, base: float, cap: float, forget: float, max_keys: int = 100_000) -> None:
        if free < 0 or base <= 0 or cap < base or forget <= 0 or max_keys <= 0:
            raise ValueError("bad back-off parameters")
        self.free, self.base, self.cap, self.forget, self.max_keys = free, base, cap, forget, max_keys
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def _current(self, key: str, now: float) -> _Failures | None:
        entry = self._keys.get(key)
        if entry is not None and now - entry.last >= self.forget and now >= entry.locked_until:
            del self._keys[key]
            return None
        return entry

    def locked_for(self, key: str, now: float) -> float:
        entry = self._current(key, now)
        return max(0.0, entry.locked_until - now) if entry is not None else 0.0

    def failed(self, key: str, now: float) -> float:
        """Record a failure; returns the lockout it starts (0.0 within the free attempts)."""
        entry = self._current(key, now)
        if entry is None:
            entry = _Failures(0, now, now)
            self._keys[key] = entry
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(key)
        entry.count += 1
        entry.last = now
        over = entry.count - self.free
        if over <= 0:
            return 0.0
        lockout = min(self.cap, self.base * float(2 ** min(over - 1, 30)))
        entry.locked_until = now + lockout
        return lockout

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)
