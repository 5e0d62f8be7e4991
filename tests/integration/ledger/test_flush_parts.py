"""Every shape of a batch's flush statement (ADR 031: only the parts a batch has) is valid SQL with its one
jsonb parameter (ADR 036), and a document without rows writes nothing."""

from __future__ import annotations

import itertools

import asyncpg
import pytest

from gateway.oms import store
from ledger.posting_batch import document

pytestmark = pytest.mark.integration

_PARTS = ("x", "o", "b", "n", "k", "lc", "lh", "j")
_KEYS = {"j": ("je", "jl", "jo")}


async def test_every_combination_of_parts_prepares_with_its_parameters(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        for size in range(1, len(_PARTS) + 1):
            for parts in itertools.combinations(_PARTS, size):
                sql = store._flush_sql(frozenset(parts))
                statement = await conn.prepare(sql)
                assert [t.name for t in statement.get_parameters()] == ["jsonb"], parts
                assert [a.name for a in statement.get_attributes()] == ["exec_id", "seq"]
                # with no rows, the statement runs and writes nothing
                empty = {key: [] for p in parts for key in _KEYS.get(p, (p,))}
                assert await statement.fetch(document(empty)) == []
