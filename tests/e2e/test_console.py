"""The operator console in headless Chromium against the running system: sign in with a token, watch a FIX order
reach the blotter, engage the global kill switch from the page and see the next FIX order refused; the halt
buttons (with markup in the reason, shown as text); who may sign in; the page's security headers."""

from __future__ import annotations

import os
import re
import time
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest

from gateway.api.console.routes import CONTENT_SECURITY_POLICY
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import OrderPathEnv, until_status

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

    from tests.e2e.conftest import ApiServer

pytestmark = pytest.mark.integration
WAIT_MS = 5_000  # "within a second" on a quiet machine; generous here (never a speed assertion)


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


async def open_console(browser: Browser, api: ApiServer, token: str, errors: list[str]) -> Page:
    page = await browser.new_page(viewport={"width": 1440, "height": 1000})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    response = await page.goto(api.base_url + "/console")
    assert response is not None and response.status == 200
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    return page


async def confirm(page: Page, reason: str) -> None:
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Reason").fill(reason)
    await dialog.get_by_role("button", name="Confirm").click()


async def test_blotter_and_kill_switch_from_the_page(browser: Browser, api_server: ApiServer,
                                                     order_path_env: OrderPathEnv, quotes: QuoteReader,
                                                     pool: asyncpg.Pool) -> None:
    from playwright.async_api import expect

    errors: list[str] = []
    page = await open_console(browser, api_server, await api_server.token("operator"), errors)
    await expect(page.locator("#status")).to_have_text(re.compile("^Live"), timeout=WAIT_MS)
    # the token is in this tab's session storage, never in the URL
    assert "brk_" not in page.url
    assert (await page.evaluate("sessionStorage.getItem('brokerage.console.token')") or "").startswith("brk_")

    quote = await quotes.get("AAPL")
    assert quote is not None and quote.bid is not None
    client = await order_path_env.client("CLIENT1")
    try:
        cl_ord_id = await client.new_order_single("AAPL", "buy", 1, "limit", price=cents(quote.bid * Decimal("0.9")))
        await until_status(client, cl_ord_id, {"0"})
        acked = time.monotonic()
        row = page.locator("#orders tbody tr", has_text=cl_ord_id)
        await expect(row).to_be_visible(timeout=WAIT_MS)
        print(f"order in the blotter {time.monotonic() - acked:.2f} s after its FIX ack")
        await expect(row).to_contain_text("ACC-CLIENT1")
        await expect(page.locator("#accounts tbody tr", has_text="ACC-CLIENT1")).to_be_visible()
        await expect(page.locator("#quotes tbody tr", has_text="AAPL")).to_be_visible()
        await expect(page.locator("#sessions tbody tr", has_text="CLIENT1").first).to_be_visible()
        # a marketable order: its fill and the position it opens, valued live
        f_quote = await quotes.get("F")
        assert f_quote is not None and f_quote.ask is not None
        bought = await client.new_order_single("F", "buy", 5, "limit", price=cents(f_quote.ask * Decimal("1.01")))
        filled = await until_status(client, bought, {"2"})
        fill_row = page.locator("#fills tbody tr", has_text=filled.order_id or "?").first
        await expect(fill_row).to_contain_text("F", timeout=WAIT_MS)
        await expect(page.locator("#positions tbody tr", has_text="ACC-CLIENT1")).to_contain_text("F")

        # engage the global kill switch from the page (keyboard: focus the button, Enter)
        toggle = page.get_by_role("button", name="Engage global kill switch")
        await toggle.focus()
        await page.keyboard.press("Enter")
        await confirm(page, "e2e: console test")
        await expect(page.locator("#kill-state")).to_have_text("ENGAGED", timeout=WAIT_MS)
        await expect(page.locator("#notice")).to_have_text("Global kill switch engaged.")
        await expect(page.get_by_role("button", name="Release global kill switch")).to_be_visible()
        event = await pool.fetchrow("SELECT payload->>'actor' AS actor, payload->>'reason' AS reason FROM outbox "
                                    "WHERE event_type = 'risk.kill_switch' ORDER BY seq DESC LIMIT 1")
        assert event is not None and event["actor"].startswith("api:e2e-") and event["reason"] == "e2e: console test"

        # the working order is canceled, and the next FIX order is refused
        # (the gateway cancels under a ClOrdID of its own; OrigClOrdID names the client's order)
        await client.wait_for(lambda m: m.msg_type == "8" and m.get(41) == cl_ord_id and m.get(39) == "4",
                              timeout=15)
        refused = await client.new_order_single("AAPL", "buy", 1, "limit", price=cents(quote.bid * Decimal("0.9")))
        report = await client.next_execution_report(refused)
        assert report.ord_status == "8", report
        assert report.text and report.text.startswith("kill switch: global kill switch is engaged"), report.text
        refused_row = page.locator("#rejections tbody tr", has_text=refused)  # refused orders are never booked
        await expect(refused_row).to_contain_text("kill switch: global kill switch is engaged", timeout=WAIT_MS)
        await expect(page.locator("#orders tbody tr", has_text=cl_ord_id)).to_contain_text("canceled",
                                                                                           timeout=WAIT_MS)
        shot = Path(os.environ.get("BROKERAGE_CONSOLE_SCREENSHOT") or order_path_env.root / "console.png")
        await page.screenshot(path=str(shot), full_page=True)

        # release it from the page: orders are accepted again
        await page.get_by_role("button", name="Release global kill switch").click()
        await confirm(page, "e2e: done")
        await expect(page.locator("#kill-state")).to_have_text("released", timeout=WAIT_MS)
        accepted = await client.new_order_single("AAPL", "buy", 1, "limit", price=cents(quote.bid * Decimal("0.9")))
        await until_status(client, accepted, {"0"})
        await until_status(client, await client.cancel(accepted), {"4"})
    finally:
        await client.logout()
        await page.close()
    assert not errors, errors  # no script error, no Content-Security-Policy violation


async def test_halt_and_resume_from_the_page_show_markup_as_text(browser: Browser, api_server: ApiServer,
                                                                 order_path_env: OrderPathEnv) -> None:
    from playwright.async_api import expect

    errors: list[str] = []
    page = await open_console(browser, api_server, await api_server.token("admin"), errors)
    try:
        await page.get_by_role("button", name="Halt trading").click()
        await confirm(page, '<img src=x onerror="window.pwned=1">')
        await expect(page.locator("#halt-state")).to_have_text("HALTED", timeout=WAIT_MS)
        await expect(page.locator("#halt-list")).to_contain_text('<img src=x onerror="window.pwned=1">')
        assert await page.locator("#halt-list img").count() == 0
        assert await page.evaluate("window.pwned") is None
        await page.get_by_role("button", name="Resume trading").click()
        await confirm(page, "e2e")
        await expect(page.locator("#halt-state")).to_have_text("trading", timeout=WAIT_MS)
        await expect(page.locator("#notice")).to_contain_text("Trading resumed")
        # disabling a FIX session: POST /v1/admin/sessions/{id}/disable (provisioning); a server without that
        # endpoint answers 404, which the page reports instead of failing
        await page.get_by_role("button", name="Disable FIX session CLIENT5").click()
        await confirm(page, "e2e")
        notice = page.locator("#notice")
        await expect(notice).to_have_text(re.compile("Not available|FIX session CLIENT5 disabled"), timeout=WAIT_MS)
        if "disabled" in (await notice.text_content() or ""):
            await page.get_by_role("button", name="Enable FIX session CLIENT5").click(timeout=WAIT_MS)
            await confirm(page, "e2e")
            await expect(notice).to_have_text("FIX session CLIENT5 enabled.", timeout=WAIT_MS)
    finally:
        await page.close()
    assert all(("HTTP 404" in e and "/v1/admin/sessions/" in e) or ("404" in e and "Failed to load" in e)
               for e in errors), errors


async def test_who_may_sign_in(browser: Browser, api_server: ApiServer) -> None:
    from playwright.async_api import expect

    errors: list[str] = []
    page = await open_console(browser, api_server, "brk_not-a-token", errors)
    try:
        await expect(page.locator("#login-error")).to_contain_text("refused", timeout=WAIT_MS)
        await expect(page.get_by_label("API token")).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('brokerage.console.token')") is None
        # an account token is not for the console; a compliance token reads it without the buttons
        await page.get_by_label("API token").fill(await api_server.token("account", "ACC-CLIENT1"))
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#login-error")).to_contain_text("console needs", timeout=WAIT_MS)
        await page.get_by_label("API token").fill(await api_server.token("compliance"))
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator("#status")).to_have_text("Live · compliance", timeout=WAIT_MS)
        await expect(page.locator("#kill-toggle")).to_be_disabled()
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_label("API token")).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('brokerage.console.token')") is None
    finally:
        await page.close()
    # the 401 and 403 answers (logged by Chromium as failed resources) are expected; nothing else
    assert all(re.search(r"\b40[13]\b", e) for e in errors), errors


async def test_page_headers_and_control_roles(api_server: ApiServer) -> None:
    compliance = await api_server.token("compliance")
    operator = await api_server.token("operator")
    async with httpx.AsyncClient(base_url=api_server.base_url, timeout=30) as http:
        page = await http.get("/console")
        assert page.status_code == 200 and page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\son[a-z]+=|style=", page.text)  # nothing inline
        assert (await http.get("/console/static/console.js")).headers["content-type"].startswith("text/javascript")
        assert (await http.get("/console/static/..%2Froutes.py")).status_code == 404
        assert (await http.get("/v1/console/snapshot")).status_code == 401
        assert (await http.get("/v1/admin/controls")).status_code == 401
        forbidden = await http.post("/v1/admin/controls/halt", json={"state": "on"},
                                    headers={"Authorization": f"Bearer {compliance}"})
        assert forbidden.status_code == 403
        state = await http.get("/v1/admin/controls", headers={"Authorization": f"Bearer {operator}"})
        assert state.status_code == 200 and state.json()["kill_switch"]["engaged"] is False
        missing = await http.post("/v1/admin/controls/kill-switch", json={"state": "on", "account": "NOPE"},
                                  headers={"Authorization": f"Bearer {operator}"})
        assert missing.status_code == 404 and missing.json()["type"].endswith("/account-not-found")
        bad = await http.post("/v1/admin/controls/kill-switch", json={"state": "maybe"},
                              headers={"Authorization": f"Bearer {operator}"})
        assert bad.status_code == 422
        # one account's switch, on and off (the page's "Kill" / "Release" buttons)
        auth = {"Authorization": f"Bearer {operator}"}
        on = await http.post("/v1/admin/controls/kill-switch", headers=auth,
                             json={"state": "on", "account": "ACC-CLIENT2", "reason": "e2e"})
        assert on.status_code == 200 and on.json()["changed"] == 1
        assert on.json()["state"]["killed_accounts"] == ["ACC-CLIENT2"]
        again = await http.post("/v1/admin/controls/kill-switch", headers=auth,
                                json={"state": "on", "account": "ACC-CLIENT2"})
        assert again.json()["changed"] == 0
        off = await http.post("/v1/admin/controls/kill-switch", headers=auth,
                              json={"state": "off", "account": "ACC-CLIENT2"})
        assert off.json()["changed"] == 1 and off.json()["state"]["killed_accounts"] == []
        account_token = await api_server.token("account", "ACC-CLIENT2")
        snapshot = await http.get("/v1/console/snapshot", headers={"Authorization": f"Bearer {account_token}"})
        assert snapshot.status_code == 403
