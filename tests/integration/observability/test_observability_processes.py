"""Every process of the system serves /health, /ready and /metrics on its own port (ADR 016): the metric
families the alert rules and the dashboard use exist, /ready says ready once the system can trade, and an
order moves the order path's counters."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from fixclient import FixClient, LogonRejected, SessionClosed
from tests.integration.observability.conftest import ObservedSystem
from tests.integration.order_path.conftest import until_final

pytestmark = pytest.mark.integration

FAMILIES = {
    "gateway": {"brokerage_ready", "brokerage_fix_sessions_logged_on", "brokerage_fix_sessions_configured",
                "brokerage_fix_messages", "brokerage_queue_depth", "brokerage_db_pool_connections",
                "brokerage_db_pool_max_connections", "brokerage_halts_active", "brokerage_margin_calls_open",
                "brokerage_orders", "brokerage_order_ack_seconds", "brokerage_ledger_transaction_seconds",
                "brokerage_ledger_transaction_items", "brokerage_account_lock_held_seconds",
                "brokerage_fills_unbooked", "brokerage_fix_resend_requests", "brokerage_frontdoor_connections",
                "brokerage_frontdoor_logon_checks_pending", "brokerage_frontdoor_logons_refused"},
    "exchange": {"brokerage_ready", "brokerage_fix_sessions_logged_on", "brokerage_fix_messages"},
    "marketdata": {"brokerage_ready", "marketdata_quotes_written", "marketdata_quote_age_seconds",
                   "marketdata_last_quote_timestamp_seconds", "brokerage_fix_sessions_logged_on"},
    "audit": {"brokerage_ready", "brokerage_audit_outbox_lag_seconds", "brokerage_audit_events_shipped",
              "brokerage_audit_loop_timestamp_seconds"},
    "api": {"brokerage_api_request_duration_seconds"},
}


async def scrape(client: httpx.AsyncClient, system: ObservedSystem, process: str) -> dict[str, list[Sample]]:
    response = await client.get(system.url(process, "/metrics"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(response.text)}


def value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float:
    return sum(s.value for family in samples.values() for s in family
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def until_ready(client: httpx.AsyncClient, system: ObservedSystem, process: str, timeout: float = 60,  # noqa: ASYNC109
                      ) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(system.url(process, "/ready"))
        if response.status_code == 200:
            body: dict[str, object] = response.json()
            return body
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, f"{process} not ready: {response.text}"
        await asyncio.sleep(0.5)


async def test_every_process_serves_health_ready_and_its_metric_families(observed: ObservedSystem) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for process, families in FAMILIES.items():
            health = await client.get(observed.url(process, "/health"))
            assert health.status_code == 200 and health.json()["status"] == "ok", (process, health.text)
            ready = await until_ready(client, observed, process)
            assert ready["status"] == "ready"
            samples = await scrape(client, observed, process)
            assert families <= set(samples), (process, sorted(families - set(samples)))
            if process != "api":
                assert value(samples, "brokerage_ready", process=process) == 1
        system = await until_ready(client, observed, "api")  # the API's /ready asks every other process's
        assert system["checks"] == {"postgresql": "ok", "redis": "ok", "gateway": "ok", "exchange": "ok",
                                    "marketdata": "ok", "audit": "ok"}
        gateway = await until_ready(client, observed, "gateway")
        assert gateway["checks"] == {"exchange_link": "ok", "database": "ok"}
        samples = await scrape(client, observed, "gateway")
        assert value(samples, "brokerage_fix_sessions_logged_on", link="exchange") == 1
        assert value(samples, "brokerage_db_pool_max_connections") > 0
        marketdata = await scrape(client, observed, "marketdata")
        assert value(marketdata, "marketdata_quotes_written_total") > 0
        assert value(marketdata, "marketdata_quote_age_seconds") < 30
        exchange = await scrape(client, observed, "exchange")
        assert value(exchange, "brokerage_fix_sessions_logged_on", link="orders") == 1
        assert value(exchange, "brokerage_fix_sessions_logged_on", link="market_data") == 1


async def test_an_order_moves_the_counters(observed: ObservedSystem) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        await until_ready(client, observed, "gateway")
        before = await scrape(client, observed, "gateway")
        fix_client = await observed.env.client("CLIENT2")
        try:
            accepted = await fix_client.new_order_single("MSFT", "buy", 1, "market")
            await until_final(fix_client, accepted, timeout=20)
            refused = await fix_client.new_order_single("AAPL", "buy", Decimal(10_000_000), "limit", price="1.00")
            await until_final(fix_client, refused, timeout=20)
        finally:
            await fix_client.logout()
        deadline = time.monotonic() + 20
        while True:
            after = await scrape(client, observed, "gateway")
            moved = {
                "accepted": value(after, "brokerage_orders_total", outcome="accepted")
                - value(before, "brokerage_orders_total", outcome="accepted"),
                "rejected": value(after, "brokerage_orders_total", outcome="rejected")
                - value(before, "brokerage_orders_total", outcome="rejected"),
                "ack": value(after, "brokerage_order_ack_seconds_count", hop="gateway")
                - value(before, "brokerage_order_ack_seconds_count", hop="gateway"),
                "venue_ack": value(after, "brokerage_order_ack_seconds_count", hop="venue")
                - value(before, "brokerage_order_ack_seconds_count", hop="venue"),
                "fills": value(after, "brokerage_order_fill_seconds_count", hop="booking")
                - value(before, "brokerage_order_fill_seconds_count", hop="booking"),
                "tx": value(after, "brokerage_ledger_transaction_seconds_count", kind="new_orders")
                - value(before, "brokerage_ledger_transaction_seconds_count", kind="new_orders"),
                "tx_items": value(after, "brokerage_ledger_transaction_items_sum", kind="new_orders")
                - value(before, "brokerage_ledger_transaction_items_sum", kind="new_orders"),
                "report_items": value(after, "brokerage_ledger_transaction_items_sum", kind="venue_reports")
                - value(before, "brokerage_ledger_transaction_items_sum", kind="venue_reports"),
                "lock_new": value(after, "brokerage_account_lock_held_seconds_count", kind="new_orders")
                - value(before, "brokerage_account_lock_held_seconds_count", kind="new_orders"),
                "lock_reports": value(after, "brokerage_account_lock_held_seconds_count", kind="venue_reports")
                - value(before, "brokerage_account_lock_held_seconds_count", kind="venue_reports"),
                "nos_in": value(after, "brokerage_fix_messages_total", app="gateway", direction="in", msg_type="D")
                - value(before, "brokerage_fix_messages_total", app="gateway", direction="in", msg_type="D"),
            }
            if all(v >= 1 for v in moved.values()) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert all(v >= 1 for v in moved.values()), moved
        assert value(after, "brokerage_order_rejects_total") > value(before, "brokerage_order_rejects_total")
        exchange = await scrape(client, observed, "exchange")
        assert value(exchange, "brokerage_fix_messages_total", app="exchange", direction="in", msg_type="D") >= 1
        assert value(exchange, "brokerage_fix_messages_total", app="exchange", direction="out", msg_type="8") >= 1


async def test_system_not_ready_while_a_process_is_not() -> None:
    """A peer that does not answer (or answers 503) makes the system's readiness false, naming it."""
    from prometheus_client import CollectorRegistry

    from brokerage.ops_http import OpsServer
    from brokerage.readiness import peers_ready
    from brokerage.services import free_port

    async def stale() -> str | None:
        return "last quote 45.0s ago (more than 30s)"

    port, dead = free_port(), free_port()
    async with OpsServer("marketdata", "127.0.0.1", port, checks={"quotes": stale}, registry=CollectorRegistry()):
        checks = await peers_ready([f"marketdata=http://127.0.0.1:{port}/ready", f"gateway=http://127.0.0.1:{dead}/ready"])
    assert checks == {"marketdata": "not ready (quotes: last quote 45.0s ago (more than 30s))",
                      "gateway": "error: ConnectError"}


async def test_a_refused_logon_is_counted(observed: ObservedSystem) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        before = await scrape(client, observed, "gateway")
        intruder = await FixClient.connect("127.0.0.1", observed.env.fix_port, "CLIENT3", "BROKER",
                                           password="not-the-password",
                                           store_path=observed.env.root / "clients" / "intruder.seq")
        with pytest.raises((LogonRejected, SessionClosed)):
            await intruder.logon()
        await intruder.close()
        after = await scrape(client, observed, "gateway")
    assert value(after, "brokerage_frontdoor_logons_refused_total", kind="credentials") == \
        value(before, "brokerage_frontdoor_logons_refused_total", kind="credentials") + 1
