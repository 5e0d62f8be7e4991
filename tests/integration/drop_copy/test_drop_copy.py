"""Drop copy and trade capture (ADR 027, fix_specs/drop-copy.md) from real FIX clients against the real order
path: the demo seed's DROPCOPY1 receives a copy of each client ExecutionReport with the same tags plus 797=Y,
on its own sequence numbers (a copy made while it is logged off arrives by resend after the next Logon); its
application messages are refused (35=j 380=6) except TradeCaptureReportRequest; 35=AD is answered with
35=AE per fill (or one 35=AQ) from client and drop-copy sessions alike, each limited to its accounts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest

from brokerage.settings import Settings
from fixclient import FixClient
from fixclient.messages import InboundMessage
from gateway.api.app import create_app
from ledger import provisioning
from ledger.api_tokens import issue_api_token
from ledger.credentials import verify_password
from tests.integration.order_path.system import REPO, OrderPathEnv, ledger_pool, running_system

if TYPE_CHECKING:
    from tests.conftest import TestServers

DROP_COPY, DROP_COPY_PASSWORD = "DROPCOPY1", "dropcopy1"
DEMO_ACCOUNTS = {f"ACC-CLIENT{n}" for n in range(1, 6)}
# what a copy must repeat of the client's report, tag for tag
COPIED = (37, 11, 41, 17, 150, 39, 103, 1, 55, 54, 38, 40, 44, 59, 32, 31, 151, 14, 6, 60, 58)


@pytest.fixture(scope="module")
def env(test_servers: TestServers, ledger_template_db: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderPathEnv]:
    with running_system(test_servers, ledger_template_db, tmp_path_factory.mktemp("drop_copy"), 15,
                        name_prefix="dropcopy") as environment:
        yield environment


@pytest.fixture(scope="module")
async def pool(env: OrderPathEnv) -> AsyncIterator[asyncpg.Pool]:
    async with ledger_pool(env.database_url) as created:
        yield created


async def drop_copy_client(env: OrderPathEnv) -> FixClient:
    client = await FixClient.connect("127.0.0.1", env.fix_port, DROP_COPY, "BROKER", password=DROP_COPY_PASSWORD,
                                     store_path=env.root / "clients" / f"{DROP_COPY}.seq")
    await client.logon()
    return client


def reports_of(client: FixClient, cl_ord_id: str) -> list[InboundMessage]:
    return [m for m in client.history if m.msg_type == "8" and m.get(11) == cl_ord_id]


async def until_done(client: FixClient, cl_ord_id: str, timeout: float = 15) -> InboundMessage:  # noqa: ASYNC109
    return await client.wait_for(lambda m: m.msg_type == "8" and m.get(11) == cl_ord_id
                                 and m.get(39) in {"2", "4", "8", "C"}, timeout)


async def copies_of(copy: FixClient, reports: list[InboundMessage], timeout: float = 10,  # noqa: ASYNC109
                    ) -> list[InboundMessage]:
    """The drop copy's copy of each report (matched by ExecID 17), waiting for each."""
    out = []
    for report in reports:
        exec_id = report.get(17)
        out.append(await copy.wait_for(lambda m, e=exec_id: m.msg_type == "8" and m.get(17) == e, timeout))
    return out


async def test_demo_seed_provisions_dropcopy1(pool: asyncpg.Pool) -> None:
    row = await pool.fetchrow("SELECT kind, target_comp_id, password_hash, enabled FROM fix_sessions "
                              "WHERE sender_comp_id = $1", DROP_COPY)
    assert row is not None and row["kind"] == "drop-copy" and row["target_comp_id"] == "BROKER" and row["enabled"]
    assert verify_password(DROP_COPY_PASSWORD, row["password_hash"])
    linked = await pool.fetch("SELECT account_id FROM fix_session_accounts WHERE sender_comp_id = $1", DROP_COPY)
    assert {r["account_id"] for r in linked} == DEMO_ACCOUNTS


async def test_copies_carry_the_clients_tags_including_rejects_and_cancels(env: OrderPathEnv) -> None:
    copy = await drop_copy_client(env)
    trader = await env.client("CLIENT1")
    try:
        filled = await trader.new_order_single("AAPL", "buy", 10, "market")
        resting = await trader.new_order_single("MSFT", "buy", 5, "limit", price="1.00")
        await trader.wait_for(lambda m: m.get(11) == resting and m.get(39) == "0", 15)
        cancel = trader.new_cl_ord_id()
        await trader.cancel(resting, cl_ord_id=cancel)
        rejected = await trader.new_order_single("NOPE", "buy", 1, "limit", price="10")
        for cl_ord_id in (filled, cancel, rejected):
            await until_done(trader, cl_ord_id)
        for cl_ord_id in (filled, resting, cancel, rejected):
            reports = reports_of(trader, cl_ord_id)
            assert reports
            for report, copied in zip(reports, await copies_of(copy, reports), strict=True):
                assert copied.get(797) == "Y", str(copied)
                assert copied.get(49) == "BROKER" and copied.get(56) == DROP_COPY
                for tag in COPIED:
                    assert copied.get(tag) == report.get(tag), (tag, str(report), str(copied))
        exec_types = {m.get(150) for c in (filled, resting, cancel, rejected) for m in reports_of(trader, c)}
        assert {"A", "0", "F", "6", "4", "8"} <= exec_types  # pending new, new, fill, pending cancel, cancel, reject
        # its own sequence numbers: consecutive on its session, whatever the client's are
        seqs = [m.seq_num for m in copy.history if m.msg_type == "8"]
        assert seqs == sorted(seqs)
    finally:
        await trader.logout()
        await copy.logout()


async def test_application_messages_from_the_drop_copy_are_refused(env: OrderPathEnv, pool: asyncpg.Pool) -> None:
    copy = await drop_copy_client(env)
    try:
        cl_ord_id = await copy.new_order_single("AAPL", "buy", 1, "market", account="ACC-CLIENT1")
        refused = await copy.wait_for(lambda m: m.msg_type == "j" and m.get(379) == cl_ord_id)
        assert refused.get(380) == "6" and refused.get(372) == "D"
        assert refused.get(45) == str(copy.last_app_seq_num)
        assert "read-only" in (refused.get(58) or "")
        await copy.market_data_request(["AAPL"])
        md = await copy.wait_for(lambda m: m.msg_type == "j" and m.get(372) == "V")
        assert md.get(380) == "6"
    finally:
        await copy.logout()
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE session_id = $1", DROP_COPY) == 0


def trade_request(request_id: str, *, symbol: str | None = None, account: str | None = None,
                  trade_date: str | None = None, request_type: str = "0") -> list[tuple[int, object]]:
    body: list[tuple[int, object]] = [(568, request_id), (569, request_type)]
    if account is not None:
        body += [(453, 1), (448, account), (447, "D"), (452, 24)]
    if symbol is not None:
        body.append((55, symbol))
    if trade_date is not None:
        body += [(580, 1), (75, trade_date)]
    return body


async def answers(client: FixClient, request_id: str, timeout: float = 10) -> list[InboundMessage]:  # noqa: ASYNC109
    """Every 35=AE for ``request_id`` up to LastRptRequested, or the one 35=AQ."""
    first = await client.wait_for(lambda m: m.msg_type in ("AE", "AQ") and m.get(568) == request_id, timeout)
    if first.msg_type == "AQ":
        return [first]
    await client.wait_for(lambda m: m.msg_type == "AE" and m.get(568) == request_id and m.get(912) == "Y", timeout)
    return [m for m in client.history if m.msg_type == "AE" and m.get(568) == request_id]


async def test_trade_capture_from_client_and_drop_copy_sessions(env: OrderPathEnv, pool: asyncpg.Pool) -> None:
    trader = await env.client("CLIENT2")
    copy = await drop_copy_client(env)
    try:
        bought = await trader.new_order_single("F", "buy", 3, "market")
        await until_done(trader, bought)
        fills = await pool.fetch("SELECT exec_id, last_qty, last_px, order_id FROM executions WHERE exec_type = "
                                 "'trade' AND account_id = 'ACC-CLIENT2' AND symbol = 'F' ORDER BY seq")
        assert fills
        today = time.strftime("%Y%m%d", time.gmtime())
        for client, request_id in ((trader, "TC-CLIENT"), (copy, "TC-COPY")):
            await client.send("AD", trade_request(request_id, symbol="F", account="ACC-CLIENT2", trade_date=today))
            got = await answers(client, request_id)
            assert [m.msg_type for m in got] == ["AE"] * len(fills)
            assert [m.get(17) for m in got] == [r["exec_id"] for r in fills]
            for index, (report, fill) in enumerate(zip(got, fills, strict=True), start=1):
                assert report.get(571) == fill["exec_id"] and report.get(748) == str(len(fills))
                assert report.get(912) == ("Y" if index == len(fills) else "N")
                assert report.get(150) == "F" and report.get(55) == "F" and report.get(75) == today
                assert report.get(32) is not None and float(report.get(32) or 0) == float(fill["last_qty"])
                assert float(report.get(31) or 0) == float(fill["last_px"])
                assert report.get(552) == "1" and report.get(54) == "1" and report.get(1) == "ACC-CLIENT2"
                assert report.get(37) == fill["order_id"] and report.get(11) == bought
        # a client sees only its own accounts: no trades of ACC-CLIENT2 for CLIENT1, refused by name
        other = await env.client("CLIENT1")
        try:
            await other.send("AD", trade_request("TC-OTHER", account="ACC-CLIENT2"))
            (refused,) = await answers(other, "TC-OTHER")
            assert refused.msg_type == "AQ" and refused.get(749) == "9" and refused.get(750) == "2"
            await other.send("AD", trade_request("TC-MINE", symbol="F"))  # CLIENT1 bought no F here
            (empty,) = await answers(other, "TC-MINE")
            assert (empty.get(748), empty.get(749), empty.get(750)) == ("0", "0", "1")
        finally:
            await other.logout()
        await copy.send("AD", trade_request("TC-OLD", trade_date="20010911"))
        (old,) = await answers(copy, "TC-OLD")
        assert old.msg_type == "AQ" and old.get(748) == "0" and old.get(749) == "0"
        await copy.send("AD", trade_request("TC-TYPE", request_type="1"))
        (unsupported,) = await answers(copy, "TC-TYPE")
        assert unsupported.get(749) == "8" and unsupported.get(750) == "2"
        # every demo account: the drop copy sees CLIENT1's fill of the first test too
        await copy.send("AD", trade_request("TC-ALL"))
        seen = {m.get(1) for m in await answers(copy, "TC-ALL")}
        assert {"ACC-CLIENT1", "ACC-CLIENT2"} <= seen
    finally:
        await trader.logout()
        await copy.logout()


async def test_copies_made_while_logged_off_arrive_by_resend(env: OrderPathEnv, tmp_path: Path) -> None:
    copy = await drop_copy_client(env)
    await copy.logout()
    trader = await env.client("CLIENT3")
    try:
        cl_ord_id = await trader.new_order_single("AAPL", "buy", 2, "market")
        await until_done(trader, cl_ord_id)
        reports = reports_of(trader, cl_ord_id)
    finally:
        await trader.logout()
    copy = await drop_copy_client(env)  # its Logon shows a gap: it asks for the copies by ResendRequest
    try:
        resent = await copies_of(copy, reports)
        assert all(m.poss_dup for m in resent)
        assert [m.get(17) for m in resent] == [r.get(17) for r in reports]
        assert all(m.get(797) == "Y" and m.get(1) == "ACC-CLIENT3" for m in resent)
    finally:
        await copy.logout()


def cli(env: OrderPathEnv, *args: str) -> None:
    """`brokerage <args>` as an operator runs it, against the running system's database."""
    result = subprocess.run([sys.executable, "-m", "brokerage.cli", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env={**env.env(env.root / "cli"), "USER": "ops-test"})
    assert result.returncode == 0, (args, result.stdout, result.stderr)


async def test_a_drop_copy_linked_to_all_accounts_sees_an_account_opened_later(
        env: OrderPathEnv, pool: asyncpg.Pool, tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("all-the-accounts\n")
    cli(env, "sessions", "create", "DCALL", "--kind", "drop-copy", "--all-accounts", "--password-file", str(password))
    await provisioning.open_account(pool, "ACC-LATE", "cash", actor="test")
    await provisioning.move_cash(pool, "deposit", "ACC-LATE", "100000", actor="test")
    await provisioning.create_session(pool, "LATE", "late-client", "ACC-LATE", actor="test")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the gateway serves new sessions at its next poll (ADR 017)
        states = await pool.fetch("SELECT sender_comp_id FROM fix_session_state WHERE sender_comp_id = ANY($1)",
                                  ["DCALL", "LATE"])
        if len(states) == 2:
            break
        await asyncio.sleep(0.2)
    everything = await FixClient.connect("127.0.0.1", env.fix_port, "DCALL", "BROKER", password="all-the-accounts")
    await everything.logon()
    linked = await drop_copy_client(env)
    trader = await FixClient.connect("127.0.0.1", env.fix_port, "LATE", "BROKER", password="late-client")
    await trader.logon()
    try:
        cl_ord_id = await trader.new_order_single("AAPL", "buy", 1, "market")
        await until_done(trader, cl_ord_id)
        copies = await copies_of(everything, reports_of(trader, cl_ord_id))
        assert all(m.get(1) == "ACC-LATE" and m.get(797) == "Y" for m in copies)
        assert not [m for m in linked.history if m.get(1) == "ACC-LATE"]  # DROPCOPY1 is not linked to it
    finally:
        for client in (trader, everything, linked):
            await client.logout()


async def test_rest_admin_links_a_drop_copy_to_all_accounts_and_back(env: OrderPathEnv, pool: asyncpg.Pool) -> None:
    app = create_app(Settings(database_url=env.database_url, redis_url=env.redis_url, data_dir=env.root / "api"))
    admin = await issue_api_token(pool, "admin", label="test admin")
    headers = {"Authorization": f"Bearer {admin.token}"}
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as api):
        linked = await api.put(f"/v1/admin/sessions/{DROP_COPY}/all-accounts", headers=headers)
        assert linked.status_code == 200 and linked.json()["all_accounts"] is True, linked.text
        assert (await pool.fetchval("SELECT all_accounts FROM fix_sessions WHERE sender_comp_id = $1", DROP_COPY))
        refused = await api.put("/v1/admin/sessions/CLIENT1/all-accounts", headers=headers)
        assert refused.status_code == 422 and "drop-copy" in refused.text, refused.text
        back = await api.delete(f"/v1/admin/sessions/{DROP_COPY}/all-accounts", headers=headers)
        assert back.status_code == 200 and back.json()["all_accounts"] is False
        assert back.json()["kind"] == "drop-copy" and set(back.json()["accounts"]) == DEMO_ACCOUNTS
