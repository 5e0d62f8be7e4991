"""brokerage.readiness: the local peers `brokerage up` gives the API, and the "ready" announcement once the
API's /ready answers 200 (after 503s)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from brokerage.ops_http import OpsServer
from brokerage.readiness import announce_when_ready, local_peers
from brokerage.services import free_port
from brokerage.settings import Settings


def test_local_peers_skip_disabled_ports_and_ask_loopback() -> None:
    peers = local_peers(Settings(metrics_host="0.0.0.0", exchange_metrics_port=0, gateway_metrics_port=9201))
    assert peers == ("gateway=http://127.0.0.1:9201/ready", "marketdata=http://127.0.0.1:9103/ready",
                     "audit=http://127.0.0.1:9104/ready")


async def test_announces_once_when_ready() -> None:
    state = {"ready": False}

    async def check() -> str | None:
        return None if state["ready"] else "waiting"

    said: list[str] = []
    port = free_port()
    async with OpsServer("api", "127.0.0.1", port, checks={"x": check}, registry=CollectorRegistry()):
        task = asyncio.create_task(announce_when_ready(f"http://127.0.0.1:{port}/ready", said.append, interval=0.05))
        await asyncio.sleep(0.3)
        assert said == [] and not task.done()
        state["ready"] = True
        await asyncio.wait_for(task, 5)
    assert len(said) == 1 and said[0].startswith("ready: ")
