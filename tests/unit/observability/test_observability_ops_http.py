"""brokerage.ops_http: /health, /ready (checks, 503 with reasons), /metrics (refresh, brokerage_ready), 404,
HEAD, a malformed request, a port already taken (logged, the process goes on), the loop-lag histogram."""

from __future__ import annotations

import asyncio
import socket
import time

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from brokerage.ops_http import OpsServer
from brokerage.services import free_port


async def _get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.decode().partition("\r\n\r\n")
    return int(head.split(" ", 2)[1]), body


async def test_health_ready_and_metrics() -> None:
    registry = CollectorRegistry()
    hits = Counter("test_hits_total", "hits", registry=registry)
    state = {"ok": False, "refreshed": 0}

    async def check() -> str | None:
        return None if state["ok"] else "not yet"

    async def refresh() -> None:
        state["refreshed"] += 1
        hits.inc()

    port = free_port()
    async with OpsServer("unit", "127.0.0.1", port, checks={"thing": check}, refresh=refresh, registry=registry):
        assert await _get(port, "/health") == (200, '{"status": "ok", "process": "unit"}')
        status, body = await _get(port, "/ready")
        assert status == 503 and '"thing": "not yet"' in body
        state["ok"] = True
        status, body = await _get(port, "/ready")
        assert status == 200 and '"status": "ready"' in body
        status, body = await _get(port, "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(body)}
        assert families["test_hits"].samples[0].value == 1
        assert state["refreshed"] == 1
        assert (await _get(port, "/nope"))[0] == 404
        assert await _get(port, "/health", "HEAD") == (200, "")
        assert (await _get(port, "/health", "POST"))[0] == 405


async def test_failing_check_and_refresh_do_not_break_the_endpoint() -> None:
    async def broken() -> str | None:
        raise ConnectionRefusedError

    async def slow() -> str | None:
        await asyncio.sleep(10)
        return None

    async def bad_refresh() -> None:
        raise RuntimeError("database away")

    port = free_port()
    async with OpsServer("unit2", "127.0.0.1", port, checks={"db": broken, "link": slow}, refresh=bad_refresh,
                         registry=CollectorRegistry()):
        status, body = await _get(port, "/ready")
        assert status == 503
        assert '"db": "error: ConnectionRefusedError"' in body and '"link": "timeout after 2.0s"' in body
        assert (await _get(port, "/metrics"))[0] == 200


async def test_junk_request_is_dropped_and_server_keeps_serving() -> None:
    port = free_port()
    async with OpsServer("unit3", "127.0.0.1", port, registry=CollectorRegistry()):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x" * 20000)
        await writer.drain()
        assert await reader.read() == b""
        writer.close()
        assert (await _get(port, "/health"))[0] == 200


async def test_port_taken_or_zero_is_skipped() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        server = OpsServer("unit4", "127.0.0.1", taken, registry=CollectorRegistry())
        await server.start()
        assert not server.serving
        await server.close()
    disabled = OpsServer("unit5", "127.0.0.1", 0, registry=CollectorRegistry())
    await disabled.start()
    assert not disabled.serving


def _lag(process: str, stat: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(f"brokerage_event_loop_lag_seconds_{stat}", {"process": process, **labels})
    return value or 0.0


async def test_a_blocked_loop_shows_in_the_lag_histogram_and_close_stops_sampling() -> None:
    port = free_port()
    async with OpsServer("unit-lag", "127.0.0.1", port):  # the default registry, where the histogram is
        await asyncio.sleep(0.35)  # a quiet loop: samples, all small
        quiet = _lag("unit-lag", "count")
        assert quiet >= 2 and _lag("unit-lag", "bucket", le="0.1") == quiet
        time.sleep(0.4)  # noqa: ASYNC251  (the point: a callback that holds the loop)
        await asyncio.sleep(0.25)
        assert _lag("unit-lag", "count") > quiet
        assert _lag("unit-lag", "count") - _lag("unit-lag", "bucket", le="0.25") >= 1  # one sample ≥ 250 ms late
        _, body = await _get(port, "/metrics")
        assert 'brokerage_event_loop_lag_seconds_count{process="unit-lag"}' in body
    stopped = _lag("unit-lag", "count")
    await asyncio.sleep(0.25)
    assert _lag("unit-lag", "count") == stopped
