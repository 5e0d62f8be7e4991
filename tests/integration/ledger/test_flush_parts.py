"""Every shape of a batch's flush statement (ADR 031: only the parts a batch has) is valid SQL with the
parameters ``flush_batch`` passes, in the order it passes them."""

from __future__ import annotations

import itertools

import asyncpg
import pytest

from gateway.oms import store

pytestmark = pytest.mark.integration

_PARTS = ("x", "o", "b", "n", "k", "lc", "lh", "j")
_WIDTH = {"x": 15, "o": 29, "b": 5, "n": 29, "k": 5, "lc": 4, "lh": 8, "j": 14}


async def test_every_combination_of_parts_prepares_with_its_parameters(db_pool: asyncpg.Pool) -> None:
    async with db_pool.acquire() as conn:
        for size in range(1, len(_PARTS) + 1):
            for parts in itertools.combinations(_PARTS, size):
                sql = store._flush_sql(frozenset(parts))
                statement = await conn.prepare(sql)
                assert len(statement.get_parameters()) == sum(_WIDTH[p] for p in parts), parts
                assert [a.name for a in statement.get_attributes()] == ["exec_id", "seq"]
                # with no rows, the statement runs and writes nothing
                assert await statement.fetch(*([[]] * sum(_WIDTH[p] for p in parts))) == []
