"""Which gateway shard serves a session: SenderCompID -> backend address. Pure.

One shard: every CompID to the gateway's own QuickFIX acceptor (``single_shard``). N shards
(``sharded``, docs/adr/015-gateway-shards.md): the shard is ``gateway.shards.Placement.shard_of`` --
the same function the shards use to decide which sessions their acceptor serves -- and its address
is the N-th entry of ``gateway_shard_backends``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.shards import Placement, parse_backend


@dataclass(frozen=True, slots=True)
class Backend:
    host: str
    port: int


@dataclass(frozen=True)
class ShardRouter:
    shards: Sequence[Backend]
    pinned: Mapping[str, int] = field(default_factory=dict)  # SenderCompID -> shard index

    def __post_init__(self) -> None:
        if not self.shards:
            raise ValueError("at least one shard")
        if any(not 0 <= index < len(self.shards) for index in self.pinned.values()):
            raise ValueError("pinned shard index out of range")

    @property
    def placement(self) -> Placement:
        return Placement(len(self.shards), self.pinned)

    def shard_of(self, sender_comp_id: str) -> int:
        return self.placement.shard_of(sender_comp_id)

    def route(self, sender_comp_id: str) -> Backend:
        return self.shards[self.shard_of(sender_comp_id)]


def single_shard(host: str, port: int) -> ShardRouter:
    return ShardRouter((Backend(host, port),))


def sharded(backends: Sequence[str], pinned: Mapping[str, int] | None = None) -> ShardRouter:
    """The router for ``gateway_shard_backends`` ("host:port" per shard) and ``gateway_shard_pins``."""
    return ShardRouter(tuple(Backend(*parse_backend(text)) for text in backends), dict(pinned or {}))
