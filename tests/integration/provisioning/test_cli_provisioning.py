"""An operator provisions a client while the gateway runs (no restart): account, deposit, FIX session from
the CLI, the client logs on within seconds and trades; disable logs it out with a reason and keeps it out;
enable lets it back; a new password applies at the next Logon and leaves the established session up."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import asyncpg
import pytest

from fixclient import events as ev
from fixclient.errors import LogonRejected
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import OrderPathEnv, check_invariants, until_final
from tests.integration.provisioning.conftest import (
    buy_marketable,
    cli,
    cli_json,
    logon,
    logon_within,
    outbox,
    password_file,
    until,
)

pytestmark = pytest.mark.integration


def _session(env: OrderPathEnv, comp_id: str) -> dict[str, object]:
    (found,) = [s for s in cli_json(env, "sessions", "list") if s["sender_comp_id"] == comp_id]
    return found


async def test_new_client_trades_without_a_gateway_restart(env: OrderPathEnv, pool: asyncpg.Pool,
                                                           quotes: QuoteReader) -> None:
    gateway_pid = env.gateway.pid if env.gateway else None
    opened = cli_json(env, "accounts", "open", "ACC-NEW1", "--type", "cash", "--currency", "USD")
    assert opened["account_type"] == "cash" and opened["status"] == "active"
    moved = cli_json(env, "accounts", "deposit", "ACC-NEW1", "50000")
    assert Decimal(moved["cash"]) == Decimal("50000")
    secret = password_file(env.root, "first-pass-1")
    created = cli_json(env, "sessions", "create", "NEW1", "--password-file", str(secret), "--account", "ACC-NEW1")
    assert created["enabled"] and created["accounts"] == ["ACC-NEW1"] and created["kind"] == "client"

    started = time.monotonic()
    client = await logon_within(env, "NEW1", "first-pass-1")
    took = time.monotonic() - started
    try:
        cl = await buy_marketable(client, quotes)
        final = await until_final(client, cl, timeout=20)
        assert final.ord_status == "2", final.raw
        account = await pool.fetchval("SELECT account_id FROM orders WHERE cl_ord_id = $1 AND session_id = 'NEW1'", cl)
        assert account == "ACC-NEW1"
        state = await until(lambda: asyncio.to_thread(lambda: _session(env, "NEW1")["logged_on"] is True and
                                                      _session(env, "NEW1")),
                            what="sessions list shows NEW1 logged on")
        assert state["next_target_seq"] and state["last_message_at"]
    finally:
        await client.logout()
    assert env.gateway is not None and env.gateway.pid == gateway_pid and env.gateway.poll() is None
    print(f"new session logged on {took:.1f}s after `sessions create`")
    for event_type in ("account.opened", "cash.deposit", "fix_session.created"):
        assert await outbox(pool, event_type, actor="cli:ops-test"), event_type
    await check_invariants(pool)


async def test_disable_logs_out_with_reason_and_enable_lets_back_in(env: OrderPathEnv, pool: asyncpg.Pool) -> None:
    cli(env, "accounts", "open", "ACC-NEW2", "--type", "margin")
    cli(env, "sessions", "create", "NEW2", "--password-file", str(password_file(env.root, "second-pass-2")),
        "--account", "ACC-NEW2")
    client = await logon_within(env, "NEW2", "second-pass-2")
    bystander = await env.client("CLIENT3")  # an established session of the start-up acceptor
    try:
        disabled = cli_json(env, "sessions", "disable", "NEW2", "--reason", "compliance hold")
        assert disabled["enabled"] is False
        await asyncio.wait_for(client.wait_closed(), 20)
        logouts = [e for e in client.events if isinstance(e, ev.LoggedOut) and e.initiated_by_peer]
        assert logouts and logouts[0].text == "Session disabled", client.events
        with pytest.raises(LogonRejected, match="disabled"):
            await logon(env, "NEW2", "second-pass-2")
        assert not bystander.is_closed
    finally:
        await client.close()
    cli(env, "sessions", "enable", "NEW2")
    again = await logon_within(env, "NEW2", "second-pass-2", seconds=20)
    await again.logout()
    # a session of the start-up acceptor too: disabled, logged out, refused, enabled
    cli(env, "sessions", "disable", "CLIENT3")
    await asyncio.wait_for(bystander.wait_closed(), 20)
    with pytest.raises(LogonRejected):
        await logon(env, "CLIENT3", "demo3")
    cli(env, "sessions", "enable", "CLIENT3")
    back = await logon_within(env, "CLIENT3", "demo3", seconds=20)
    await back.logout()
    assert await outbox(pool, "fix_session.disabled", sender_comp_id="NEW2", reason="compliance hold")
    assert await outbox(pool, "fix_session.enabled", sender_comp_id="NEW2", actor="cli:ops-test")


async def test_new_password_applies_at_next_logon_and_keeps_the_session_up(env: OrderPathEnv,
                                                                           pool: asyncpg.Pool,
                                                                           quotes: QuoteReader) -> None:
    cli(env, "accounts", "open", "ACC-NEW3", "--type", "cash")
    cli(env, "accounts", "deposit", "ACC-NEW3", "20000")
    cli(env, "sessions", "create", "NEW3", "--password-file", str(password_file(env.root, "old-password-3")),
        "--account", "ACC-NEW3")
    client = await logon_within(env, "NEW3", "old-password-3")
    try:
        cli(env, "sessions", "set-password", "NEW3", "--password-file", str(password_file(env.root, "new-password-3")))
        await asyncio.sleep(3)  # more than a poll of the gateway
        assert not client.is_closed
        cl = await buy_marketable(client, quotes)  # still trading on the established session
        assert (await until_final(client, cl, timeout=20)).ord_status == "2"
    finally:
        await client.logout()
    with pytest.raises(LogonRejected):
        await logon(env, "NEW3", "old-password-3")
    fresh = await logon(env, "NEW3", "new-password-3")
    await fresh.logout()
    assert await outbox(pool, "fix_session.password_changed", sender_comp_id="NEW3", actor="cli:ops-test")


async def test_links_and_closing_accounts(env: OrderPathEnv, pool: asyncpg.Pool, quotes: QuoteReader) -> None:
    cli(env, "accounts", "open", "ACC-NEW4A", "--type", "cash")
    cli(env, "accounts", "open", "ACC-NEW4B", "--type", "cash")
    cli(env, "accounts", "deposit", "ACC-NEW4B", "20000")
    cli(env, "sessions", "create", "NEW4", "--password-file", str(password_file(env.root, "fourth-pass-4")),
        "--account", "ACC-NEW4A")
    linked = cli_json(env, "sessions", "link", "NEW4", "ACC-NEW4B", "--default")
    assert linked["accounts"] == ["ACC-NEW4B", "ACC-NEW4A"]
    client = await logon_within(env, "NEW4", "fourth-pass-4")
    try:
        # the order path learned the link without a restart: an order with no Account (1) books to the default
        async def filled_on_new_default() -> bool:
            cl = await buy_marketable(client, quotes, qty=1)
            final = await until_final(client, cl, timeout=20)
            return final.ord_status == "2"

        assert await until(filled_on_new_default, seconds=15, what="order on the newly linked default account")
    finally:
        await client.logout()
    refused = cli(env, "accounts", "close", "ACC-NEW4B", check=False)
    assert refused.returncode == 1 and "positions" in refused.stderr
    unlinked = cli_json(env, "sessions", "unlink", "NEW4", "ACC-NEW4A")
    assert unlinked["accounts"] == ["ACC-NEW4B"]
    closed = cli_json(env, "accounts", "close", "ACC-NEW4A")
    assert closed["status"] == "closed"
    listed = {a["account_id"]: a for a in cli_json(env, "accounts", "list")}
    assert listed["ACC-NEW4A"]["status"] == "closed" and listed["ACC-NEW4B"]["sessions"] == ["NEW4"]
    bad = cli(env, "sessions", "create", "bad id", "--password-file", str(password_file(env.root, "whatever-1")),
              "--account", "ACC-NEW4B", check=False)
    assert bad.returncode == 2
    short = cli(env, "sessions", "set-password", "NEW4", "--password-file", str(password_file(env.root, "short")),
                check=False)
    assert short.returncode == 2
    assert await outbox(pool, "account.closed", actor="cli:ops-test")
    assert await outbox(pool, "fix_session.linked", sender_comp_id="NEW4")
    assert await outbox(pool, "fix_session.unlinked", sender_comp_id="NEW4")


async def test_drop_copy_session_logs_on_but_cannot_trade(env: OrderPathEnv, pool: asyncpg.Pool,
                                                           quotes: QuoteReader) -> None:
    cli(env, "accounts", "open", "ACC-NEW5", "--type", "cash")
    cli(env, "accounts", "deposit", "ACC-NEW5", "20000")
    created = cli_json(env, "sessions", "create", "DROP5", "--password-file",
                       str(password_file(env.root, "drop-copy-5")), "--account", "ACC-NEW5", "--kind", "drop-copy")
    assert created["kind"] == "drop-copy"
    client = await logon_within(env, "DROP5", "drop-copy-5")
    try:
        cl = await buy_marketable(client, quotes, qty=1)
        # read-only (ADR 027): refused at the acceptor, never handed to the order path
        refused = await client.wait_for(lambda m: m.msg_type == "j" and m.get(379) == cl, timeout=20)
        assert refused.get(380) == "6" and "read-only" in (refused.get(58) or ""), str(refused)
    finally:
        await client.logout()
    assert await pool.fetchval("SELECT count(*) FROM holdings WHERE account_id = 'ACC-NEW5' AND qty <> 0") == 0
