"""Arbitrary query strings on every list: each answer is 200 or a 4xx problem, never a 500."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from tests.integration.api.conftest import Seed

JUNK = ["", "0", "-1", "501", "1e3", "abc", "2026-13-40", "2026-03-02T14:30:00+25:00", "2026-03-02", "now",
        "eyJ0IjoiMjAyNiJ9", "%00", "'; DROP TABLE orders; --", "AAPL", "open", "filled", "é€", "9" * 40,
        "2026-03-02T14:30:00Z", "2026-03-02T14:30:00.123456-05:00", "deposit", "ACC-1"]
PARAMS = ["limit", "cursor", "from", "to", "status", "symbol", "order_id", "kind"]
PATHS = ["/v1/accounts", "/v1/accounts/A1/orders", "/v1/accounts/A1/fills", "/v1/accounts/A1/cash-movements",
         "/v1/accounts/A1/positions"]


async def test_arbitrary_query_strings_never_crash(client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.account("A1")
    order_id = await seed.order("A1", "AAPL", "new", seed.at(0))
    await seed.fill(order_id, "1", "10", seed.at(1))
    token = await seed.token("account", "A1")
    rng = random.Random(7)
    statuses: set[int] = set()
    for _ in range(200):
        path = rng.choice(PATHS)
        query = [(rng.choice(PARAMS), rng.choice(JUNK)) for _ in range(rng.randrange(0, 4))]
        response = await client.get(path, params=query, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (200, 422), (path, query, response.text)  # a bad cursor is 422 too
        if response.status_code != 200:
            assert response.headers["content-type"] == "application/problem+json"
        statuses.add(response.status_code)
    assert statuses == {200, 422}
