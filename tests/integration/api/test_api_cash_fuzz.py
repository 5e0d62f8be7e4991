"""Arbitrary deposit bodies: every answer is 201 or a 4xx problem, never a 500, and the balance moves by
exactly the sum of the accepted amounts (bad input loses nothing and creates nothing)."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

if TYPE_CHECKING:
    from tests.integration.api.conftest import Seed

ALPHABET = "0123456789.-+eE ,_aZ\x00\t\n\"\\é€"


def random_amount(rng: random.Random) -> Any:
    kind = rng.randrange(8)
    if kind == 0:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))
    if kind == 1:
        return rng.choice([None, True, False, [], {}, [1], {"v": 1}, "NaN", "-Infinity", "1e400", "0e0"])
    if kind == 2:
        return rng.randrange(-10**6, 10**6)
    if kind == 3:
        return f"{rng.randrange(0, 10**6)}.{rng.randrange(0, 10**6):0{rng.randrange(1, 7)}d}"
    if kind == 4:
        return str(rng.uniform(-1000, 1000))
    if kind == 5:
        return f"{rng.randrange(1, 10**4)}.{rng.randrange(0, 100):02d}"
    if kind == 6:
        return "9" * rng.randrange(10, 30)
    return f"-{rng.randrange(0, 100)}"


async def test_arbitrary_bodies_never_crash_and_only_valid_amounts_move_money(
    client: httpx.AsyncClient, seed: Seed, db_pool: asyncpg.Pool
) -> None:
    await seed.account("A1", cash="0")
    token = await seed.token("operator")
    rng = random.Random(20261121)
    accepted = Decimal(0)
    for n in range(150):
        body: Any = {"amount": random_amount(rng)}
        if rng.random() < 0.1:
            body["extra"] = "x"
        raw = json.dumps(body) if rng.random() < 0.9 else json.dumps(body)[: rng.randrange(1, 10)]
        response = await client.post(
            "/v1/accounts/A1/deposits", content=raw.encode(),
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"fuzz-{n}",
                     "Content-Type": "application/json"},
        )
        assert response.status_code in (201, 422), (raw, response.status_code, response.text)
        if response.status_code == 201:
            accepted += Decimal(response.json()["amount"])
        else:
            assert response.headers["content-type"] == "application/problem+json"
    assert accepted > 0  # the generator does produce valid amounts
    assert await db_pool.fetchval("SELECT amount FROM cash_balances WHERE account_id = 'A1'") == accepted
