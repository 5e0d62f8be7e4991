"""PostgreSQL unreachable: new orders are rejected with a clear reason (never accepted unrecorded), and
service resumes by itself when the database is back. The gateway reaches PostgreSQL through a TCP relay
the test can cut."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from brokerage.services import free_port
from tests.integration.order_path.conftest import check_invariants, until_status
from tests.integration.order_path.system import OrderPathEnv, _redis_db, ledger_database, seed_ledger

if TYPE_CHECKING:
    from tests.conftest import TestServers


class Relay:
    """A TCP relay on its own thread and event loop: ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.open = True
        self.loop = asyncio.new_event_loop()
        self.writers: set[asyncio.StreamWriter] = set()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def cut(self) -> None:
        def drop() -> None:
            self.open = False
            for writer in self.writers:
                writer.transport.abort()
            self.writers.clear()
        self.loop.call_soon_threadsafe(drop)

    def restore(self) -> None:
        self.loop.call_soon_threadsafe(lambda: setattr(self, "open", True))

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def outage_env(test_servers: TestServers, ledger_template_db: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OrderPathEnv, Relay]]:
    with ledger_database(test_servers, ledger_template_db, "orders") as url:
        real = make_url(url)
        relay = Relay(real.host or "127.0.0.1", real.port or 5432)
        relayed = real.set(port=relay.port).render_as_string(hide_password=False)
        root = tmp_path_factory.mktemp("outage")
        (root / "clients").mkdir()
        env = OrderPathEnv(relayed, _redis_db(test_servers.redis_url, 10), root)
        asyncio.run(seed_ledger(url, root))
        try:
            env.start_exchange()
            env.start_gateway()
            yield env, relay
        finally:
            env.stop_all()
            relay.close()


async def test_orders_are_rejected_while_the_database_is_down_and_accepted_after(
        outage_env: tuple[OrderPathEnv, Relay]) -> None:
    env, relay = outage_env
    client = await env.client("CLIENT1")
    try:
        cl = await client.new_order_single("AAPL", "buy", 1, "limit", price="1.00")
        assert (await until_status(client, cl, {"0", "8"})).ord_status == "0"
        relay.cut()
        refused = await client.new_order_single("AAPL", "buy", 1, "limit", price="1.00")
        report = await client.next_execution_report(refused, timeout=20)
        assert report.ord_status == "8"
        assert report.text == "order entry unavailable: the ledger database cannot be reached; nothing was accepted"
        relay.restore()
        deadline = time.monotonic() + 30
        while True:  # the pool reconnects on its own; a few more refusals are fine meanwhile
            again = await client.new_order_single("AAPL", "buy", 1, "limit", price="1.00")
            answer = await until_status(client, again, {"0", "8"}, timeout=20)
            if answer.ord_status == "0":
                break
            assert time.monotonic() < deadline, answer.text
            await asyncio.sleep(0.5)
        pool = await asyncpg.create_pool(env.database_url, min_size=1, max_size=2)
        try:
            assert await pool.fetchval("SELECT count(*) FROM orders WHERE cl_ord_id = $1", refused) == 0
            await check_invariants(pool)
        finally:
            await pool.close()
    finally:
        await client.logout()
