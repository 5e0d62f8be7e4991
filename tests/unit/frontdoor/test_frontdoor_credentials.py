"""PostgresCredentials through a database outage: a session seen before is checked against its last-known
row; a CompID never seen is refused (the error propagates: "temporarily unavailable"); a hung database does
not hold a known client beyond the outage timeout."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from gateway.frontdoor.credentials import PostgresCredentials

ROW = {"sender_comp_id": "CLIENT1", "target_comp_id": "BROKER", "begin_string": "FIX.4.4", "username": None,
       "password_hash": "scrypt$...", "enabled": True}


class FlakyPool:
    def __init__(self) -> None:
        self.mode = "up"

    async def fetchrow(self, *_args: object) -> dict[str, object] | None:
        if self.mode == "down":
            raise ConnectionRefusedError("database unreachable")
        if self.mode == "hung":
            await asyncio.sleep(3600)
        return dict(ROW)


async def test_known_sessions_log_on_during_an_outage_and_strangers_do_not() -> None:
    pool = FlakyPool()
    credentials = PostgresCredentials(cast(Any, pool), outage_timeout=0.2)
    assert (await credentials.session("CLIENT1", "BROKER")) is not None  # read while the database is up
    pool.mode = "down"
    known = await credentials.session("CLIENT1", "BROKER")
    assert known is not None and known.password_hash == ROW["password_hash"]  # still checked by scrypt
    with pytest.raises(ConnectionRefusedError):
        await credentials.session("CLIENT9", "BROKER")
    pool.mode = "hung"
    assert (await asyncio.wait_for(credentials.session("CLIENT1", "BROKER"), 2)) is not None
