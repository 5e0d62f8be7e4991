"""Splitting the universe between several ingestors."""

from __future__ import annotations

import pytest

from marketdata.fix_feed import symbols_for_shard
from refdata.instruments import load_universe


def test_ingest_shards_partition_the_universe() -> None:
    symbols = [i.symbol for i in load_universe()]
    parts = [symbols_for_shard(symbols, k, 3) for k in range(3)]
    assert sorted(s for part in parts for s in part) == sorted(symbols)
    assert all(parts) and len({s for part in parts for s in part}) == len(symbols)
    assert symbols_for_shard(symbols, 0, 1) == symbols
    with pytest.raises(ValueError):
        symbols_for_shard(symbols, 3, 3)
