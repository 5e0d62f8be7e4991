"""Which gateway shard serves a session: SenderCompID -> backend address. Pure.

One shard today (every CompID to the local QuickFIX acceptor). Issue 10 spreads sessions over N
shards: give ``ShardRouter`` the shards and a placement (a stable hash by default, or an explicit map
read from configuration) and nothing else in the front door changes.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


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

    def shard_of(self, sender_comp_id: str) -> int:
        pinned = self.pinned.get(sender_comp_id)
        if pinned is not None:
            return pinned
        return zlib.crc32(sender_comp_id.encode()) % len(self.shards)

    def route(self, sender_comp_id: str) -> Backend:
        return self.shards[self.shard_of(sender_comp_id)]


def single_shard(host: str, port: int) -> ShardRouter:
    return ShardRouter((Backend(host, port),))
