"""A session added at run time keeps its sequence numbers across a gateway restart: its extra acceptor used
the start-up acceptor's store directory, which serves it after the restart (no reset, no resend storm)."""

from __future__ import annotations

import asyncpg
import pytest

from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.conftest import OrderPathEnv, until_final
from tests.integration.provisioning.conftest import buy_marketable, cli, logon, logon_within, password_file, until

pytestmark = pytest.mark.integration


async def test_session_added_at_run_time_survives_a_gateway_restart(env: OrderPathEnv, pool: asyncpg.Pool,
                                                                    quotes: QuoteReader) -> None:
    cli(env, "accounts", "open", "ACC-NEW6", "--type", "cash")
    cli(env, "accounts", "deposit", "ACC-NEW6", "20000")
    cli(env, "sessions", "create", "NEW6", "--password-file", str(password_file(env.root, "sixth-pass-6")),
        "--account", "ACC-NEW6")
    client = await logon_within(env, "NEW6", "sixth-pass-6")
    try:
        cl = await buy_marketable(client, quotes, qty=1)
        assert (await until_final(client, cl, timeout=20)).ord_status == "2"
        sent, expected = client.next_sender_seq_num, client.next_target_seq_num
    finally:
        await client.logout()
    env.kill_gateway()
    env.start_gateway()
    again = await logon(env, "NEW6", "sixth-pass-6")  # the client's saved sequence numbers, no reset
    try:
        assert again.next_sender_seq_num > sent and again.next_target_seq_num >= expected

        async def gateway_in_step() -> bool:  # the restarted gateway expects what the client sends next
            state = await pool.fetchrow("SELECT logged_on, next_target_seq FROM fix_session_state "
                                        "WHERE sender_comp_id = 'NEW6'")
            return bool(state and state["logged_on"] and state["next_target_seq"] == again.next_sender_seq_num)

        assert await until(gateway_in_step, what="the restarted gateway publishes NEW6 in step")
        cl = await buy_marketable(again, quotes, qty=1)
        assert (await until_final(again, cl, timeout=20)).ord_status == "2"
    finally:
        await again.logout()
