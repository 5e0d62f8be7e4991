"""System readiness: "a market order sent now would be risk-checked against a fresh quote, routed over a
logged-on exchange link and audited" (ARCHITECTURE, Readiness) is the conjunction of every process's own
``/ready`` (ADR 016). The REST API's ``/ready`` asks the processes named in ``ready_peers``; ``brokerage up``
passes the local ones and prints "ready" once the API says so."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import httpx

from brokerage.ops_http import Check, run_checks
from brokerage.settings import Settings
from brokerage.supervisor import Supervisor

__all__ = ["announce_when_ready", "local_peers", "peer_checks", "peers_ready", "supervise_and_announce"]

PEER_TIMEOUT_SECONDS = 1.5


def local_peers(settings: Settings) -> tuple[str, ...]:
    """``name=url`` of the /ready of every process ``brokerage up`` runs besides the API (ports that are 0 are
    not served, so not asked)."""
    host = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "") else settings.metrics_host
    ports = {"gateway": settings.gateway_metrics_port, "exchange": settings.exchange_metrics_port,
             "marketdata": settings.marketdata_metrics_port, "audit": settings.audit_metrics_port}
    return tuple(f"{name}=http://{host}:{port}/ready" for name, port in ports.items() if port)


def _check(url: str) -> Check:
    async def ask() -> str | None:
        async with httpx.AsyncClient(timeout=PEER_TIMEOUT_SECONDS) as client:
            response = await client.get(url)
        if response.status_code == 200:
            return None
        try:
            checks = response.json().get("checks", {})
            failing = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
        except ValueError:
            failing = ""
        return f"not ready ({failing or response.status_code})"
    return ask


def peer_checks(peers: tuple[str, ...] | list[str]) -> Mapping[str, Check]:
    """``name=url`` entries (a bare URL is named by itself) as readiness checks."""
    checks: dict[str, Check] = {}
    for entry in peers:
        name, sep, url = entry.partition("=")
        if not sep:
            name, url = entry, entry
        checks[name] = _check(url)
    return checks


async def peers_ready(peers: tuple[str, ...] | list[str]) -> dict[str, str]:
    """name -> "ok" or why not (an unreachable process: "error: ConnectError")."""
    return await run_checks(peer_checks(peers)) if peers else {}


async def announce_when_ready(url: str, announce: Callable[[str], object], interval: float = 1.0) -> None:
    """Poll ``url`` (the API's /ready) until it answers 200, then ``announce`` once; log-free and quiet."""
    async with httpx.AsyncClient(timeout=PEER_TIMEOUT_SECONDS) as client:
        while True:
            try:
                if (await client.get(url)).status_code == 200:
                    announce(f"ready: {url} (every process can do its job)")
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(interval)


async def supervise_and_announce(supervisor: Supervisor, ready_url: str, announce: Callable[[str], object]) -> int:
    """``brokerage up``: run the supervisor and say "ready" once the system is (ARCHITECTURE, Readiness)."""
    announcer = asyncio.create_task(announce_when_ready(ready_url, announce))
    try:
        return await supervisor.run()
    finally:
        announcer.cancel()
