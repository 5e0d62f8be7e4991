"""Gateway shards: which gateway process owns a FIX session. Pure (docs/adr/015-gateway-shards.md).

    placement = Placement(2)                       # 2 shards, stable hash of the SenderCompID
    placement.shard_of("CLIENT1")                  # -> 0 or 1, the same in every process and every run
    shard = Shard.parse("1/2")                     # `brokerage gateway --shard 1/2`
    shard.owns("CLIENT1", placement)
    shard.exchange_comp_id("GATEWAY")              # "GATEWAY-2": each shard has its own exchange link

The front door (``gateway.frontdoor.router``) and the shards use the same ``Placement``: a session is
accepted by exactly one shard's QuickFIX acceptor and the front door relays its connection there.
Correctness across shards does not depend on the placement: every shard locks the account row in
PostgreSQL, so two shards entering orders for one account are serialised by the ledger.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def hash_shard(sender_comp_id: str, count: int) -> int:
    """The shard of a SenderCompID among ``count``: CRC-32 of its UTF-8 bytes modulo ``count``.

    Stable across processes, runs and Python versions (not ``hash()``, which is salted per process)."""
    if count < 1:
        raise ValueError("at least one shard")
    return zlib.crc32(sender_comp_id.encode()) % count


@dataclass(frozen=True)
class Placement:
    """Sessions over ``count`` shards: the hash, unless a CompID is pinned to a shard."""

    count: int = 1
    pinned: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("at least one shard")
        bad = {comp: index for comp, index in self.pinned.items() if not 0 <= index < self.count}
        if bad:
            raise ValueError(f"pinned shard index out of range (0..{self.count - 1}): {bad}")

    def shard_of(self, sender_comp_id: str) -> int:
        pinned = self.pinned.get(sender_comp_id)
        return pinned if pinned is not None else hash_shard(sender_comp_id, self.count)


@dataclass(frozen=True)
class Shard:
    """This process's place among the gateway shards: ``index`` of ``count`` (0-based)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= K < N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"`` -> Shard(K, N); K counts from 0."""
        match = _SHARD.match(text)
        if match is None:
            raise ValueError(f"--shard takes K/N (e.g. 0/2), not {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def sharded(self) -> bool:
        return self.count > 1

    @property
    def system_wide(self) -> bool:
        """Shard 0 runs what must run once per system (circuit breaker, margin monitor, day-wide tasks)."""
        return self.index == 0

    def owns(self, sender_comp_id: str, placement: Placement) -> bool:
        if placement.count != self.count:
            raise ValueError(f"placement over {placement.count} shards, this is shard {self.index}/{self.count}")
        return placement.shard_of(sender_comp_id) == self.index

    def owns_order(self, session_id: str | None, placement: Placement) -> bool:
        """An order belongs to the shard of the session that entered it; orders with no client session
        (system orders: liquidations) belong to shard 0, which runs the monitors that create them."""
        if not session_id:
            return self.system_wide
        return self.owns(session_id, placement)

    def exchange_comp_id(self, base: str) -> str:
        """Shard 0 keeps the single gateway's CompID (``GATEWAY``); shard K > 0 is ``GATEWAY-<K+1>``."""
        return exchange_comp_id(base, self.index)

    def suffix(self, name: str) -> str:
        """Per-shard names (FIX store directories, inbound-mark keys): shard 0 keeps the plain name."""
        return name if self.index == 0 else f"{name}-{self.index + 1}"


def exchange_comp_id(base: str, index: int) -> str:
    return base if index == 0 else f"{base}-{index + 1}"


def exchange_comp_ids(base: str, count: int) -> tuple[str, ...]:
    """Every shard's exchange-link CompID (what the exchange accepts for order entry)."""
    return tuple(exchange_comp_id(base, index) for index in range(max(1, count)))


def parse_backend(text: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:9100"`` for IPv6) -> (host, port)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"shard backend must be host:port, not {text!r}")
    return host.strip("[]"), int(port)
