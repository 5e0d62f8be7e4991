"""Mass cancel (35=q), mass status (35=AF), OrdStatusReqID echo (35=H) and what-if (35=D 9600=Y) from a FIX
client through the gateway, with the exact tags of each answer; the REST what-if on the same ledger.

One running system for the module (exchange, market data, gateway; redis db 15), with sessions of its own:
MASS1 trades accounts MA-A (cash, default) and MA-B (margin); MASS2 trades MA-A too, so a mass cancel of
MASS1 must leave MASS2's order on the same account alone.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest

from brokerage.settings import Settings
from fixclient import FixClient
from fixclient.codec import format_utc_timestamp
from fixclient.messages import InboundMessage, new_order_single_body, ticket
from gateway.api.app import create_app
from ledger.credentials import hash_api_token, new_api_token
from ledger.provisioning import ensure_fix_session
from ledger.repository import LedgerRepository
from marketdata.redis_quotes import QuoteReader
from tests.integration.order_path.system import OrderPathEnv, ledger_pool, quote_reader, running_system

if TYPE_CHECKING:
    from tests.conftest import TestServers

pytestmark = pytest.mark.integration

A, B = "MA-A", "MA-B"
PASSWORDS = {"MASS1": "mass1", "MASS2": "mass2"}
REPO = Path(__file__).resolve().parents[3]


async def _seed(pool: asyncpg.Pool) -> None:
    repository = LedgerRepository(pool)
    await repository.open_account(A, "cash", "mass A")
    await repository.open_account(B, "margin", "mass B", short_selling_enabled=True)
    await repository.deposit(A, Decimal(1_000_000), idempotency_key="mass-a", actor="test")
    await repository.deposit(B, Decimal(200_000), idempotency_key="mass-b", actor="test")
    await ensure_fix_session(pool, "MASS1", PASSWORDS["MASS1"], [A, B])
    await ensure_fix_session(pool, "MASS2", PASSWORDS["MASS2"], [A])


@pytest.fixture(scope="module")
def env(test_servers: TestServers, ledger_template_db: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrderPathEnv]:
    with running_system(test_servers, ledger_template_db, tmp_path_factory.mktemp("mass_whatif"), 15,
                        env_factory=OrderPathEnv, seed=_seed) as running:
        yield running


@pytest.fixture
async def pool(env: OrderPathEnv) -> AsyncIterator[asyncpg.Pool]:
    async with ledger_pool(env.database_url) as created:
        yield created


@pytest.fixture
async def quotes(env: OrderPathEnv) -> AsyncIterator[QuoteReader]:
    async with quote_reader(env.redis_url) as reader:
        yield reader


@pytest.fixture
async def mass1(env: OrderPathEnv) -> AsyncIterator[FixClient]:
    client = await _connect(env, "MASS1")
    yield client
    await client.logout()


async def _connect(env: OrderPathEnv, comp_id: str) -> FixClient:
    client = await FixClient.connect("127.0.0.1", env.fix_port, comp_id, "BROKER", password=PASSWORDS[comp_id],
                                     store_path=env.root / "clients" / f"{comp_id}.seq")
    await client.logon()
    return client


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


async def resting_price(quotes: QuoteReader, symbol: str) -> Decimal:
    """A buy limit far under the bid: it rests at the exchange."""
    quote = await quotes.get(symbol)
    assert quote is not None and quote.bid is not None
    return cents(quote.bid * Decimal("0.8"))


async def rest(client: FixClient, symbol: str, qty: int, price: Decimal, account: str) -> str:
    cl = await client.new_order_single(symbol, "buy", qty, "limit", price=price, account=account)
    while (report := await client.next_execution_report(cl)).ord_status != "0":
        assert report.ord_status == "A", f"{cl}: {report.ord_status} {report.text}"
    return cl


async def order_id(pool: asyncpg.Pool, session: str, cl_ord_id: str) -> str:
    found = await pool.fetchval("SELECT order_id FROM orders WHERE session_id = $1 AND cl_ord_id = $2",
                                session, cl_ord_id)
    assert found is not None
    return str(found)


async def status(pool: asyncpg.Pool, oid: str) -> str:
    return str(await pool.fetchval("SELECT status FROM orders WHERE order_id = $1", oid))


async def blocked_matches_open_orders(pool: asyncpg.Pool, account: str) -> Decimal:
    """The account's blocked cash, checked to be exactly what its open orders reserve."""
    blocked = await pool.fetchval("SELECT blocked FROM cash_balances WHERE account_id = $1", account)
    reserved = await pool.fetchval(
        "SELECT coalesce(sum(reserved_cash), 0) FROM orders WHERE account_id = $1 AND status IN "
        "('pending_new', 'new', 'partially_filled', 'pending_cancel', 'pending_replace')", account)
    assert blocked == reserved
    return Decimal(blocked)


def now_text() -> str:
    return format_utc_timestamp(datetime.now(UTC))


async def next_of(client: FixClient, msg_type: str, tag: int, value: str) -> InboundMessage:
    return await client.wait_for(lambda m: m.msg_type == msg_type and m.get(tag) == value)


def group_tags(message: InboundMessage, count_tag: int) -> list[int]:
    """The tags after ``count_tag`` up to the next non-group tag, in wire order."""
    tags = [int(t) for t, _ in message.message.pairs]
    start = tags.index(count_tag) + 1
    out = []
    for tag in tags[start:]:
        if tag not in (41, 535):
            break
        out.append(tag)
    return out


def quickfix_refuses(raw: bytes) -> str:
    """A QuickFIX application validating against fix_specs/FIX44.xml would take the message (parsed and
    validated in a child process: the binding aborts on a message it rejects): "" or QuickFIX's complaint."""
    code = ("import sys, quickfix as fix\nfrom fixsession.settings import DATA_DICTIONARY\n"
            "dd = fix.DataDictionary(str(DATA_DICTIONARY))\n"
            "fix.DataDictionary.validate(fix.Message(sys.stdin.buffer.read().decode('latin-1'), dd, True), dd, dd)\n")
    done = subprocess.run([sys.executable, "-c", code], input=raw, cwd=REPO, capture_output=True, timeout=60)
    return "" if done.returncode == 0 else done.stderr.decode(errors="replace")[-500:] or f"exit {done.returncode}"


# -- OrderMassCancelRequest ------------------------------------------------------------------------------

async def test_mass_cancel_by_symbol_and_account_then_all(env: OrderPathEnv, pool: asyncpg.Pool,
                                                          quotes: QuoteReader, mass1: FixClient) -> None:
    mass2 = await _connect(env, "MASS2")
    try:
        aapl, msft = await resting_price(quotes, "AAPL"), await resting_price(quotes, "MSFT")
        a1, a2 = await rest(mass1, "AAPL", 10, aapl, A), await rest(mass1, "AAPL", 5, aapl, A)
        m1, b1 = await rest(mass1, "MSFT", 3, msft, A), await rest(mass1, "AAPL", 4, aapl, B)
        other = await rest(mass2, "AAPL", 2, aapl, A)  # MASS2's order on the same account
        ids = {cl: await order_id(pool, "MASS1", cl) for cl in (a1, a2, m1, b1)}
        other_id = await order_id(pool, "MASS2", other)

        await mass1.send("q", [(11, "MC-1"), (530, "1"), (1, A), (55, "AAPL"), (60, now_text())])
        report = await next_of(mass1, "r", 11, "MC-1")
        assert (report.get(37) or "").startswith("M")
        assert (report.get(530), report.get(531), report.get(533), report.get(534)) == ("1", "1", "2", "2")
        assert (report.get(55), report.get(532)) == ("AAPL", None)
        assert report.get_all(41) == [a1, a2] and report.get_all(535) == [ids[a1], ids[a2]]
        assert group_tags(report, 534) == [41, 535, 41, 535]
        assert quickfix_refuses(report.raw) == ""
        for cl in (a1, a2):  # a cancel report per order: PendingCancel, then Canceled once the exchange confirms
            cancel_id = f"MC-1:{ids[cl]}"
            pending = await mass1.next_execution_report(cancel_id)
            assert (pending.exec_type, pending.ord_status, pending.orig_cl_ord_id, pending.order_id) == (
                "6", "6", cl, ids[cl])
            done = await mass1.next_execution_report(cancel_id)
            assert (done.exec_type, done.ord_status, done.leaves_qty) == ("4", "4", Decimal(0))
            assert pending.raw.seq_num < report.seq_num < done.raw.seq_num  # 35=r between the two
            assert await status(pool, ids[cl]) == "canceled"
        for oid in (ids[m1], ids[b1], other_id):
            assert await status(pool, oid) == "new"
        await blocked_matches_open_orders(pool, A)  # released exactly as single cancels release

        await mass1.send("q", [(11, "MC-2"), (530, "7"), (60, now_text())])  # all of MASS1's orders, any account
        report = await next_of(mass1, "r", 11, "MC-2")
        assert (report.get(530), report.get(531), report.get(533)) == ("7", "7", "2")
        assert report.get_all(535) == [ids[m1], ids[b1]]
        for cl in (m1, b1):
            await mass1.next_execution_report(f"MC-2:{ids[cl]}")
            assert (await mass1.next_execution_report(f"MC-2:{ids[cl]}")).ord_status == "4"
        assert await status(pool, other_id) == "new"  # not MASS1's order
        audit = await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'order.cancel_requested' "
                                    "AND payload->>'request_cl_ord_id' LIKE 'MC-%'")
        assert audit == 4

        await mass2.send("q", [(11, "MC-3"), (530, "7"), (60, now_text())])
        report = await next_of(mass2, "r", 11, "MC-3")
        assert (report.get(531), report.get(533), report.get_all(535)) == ("7", "1", [other_id])
        assert (await mass2.next_execution_report(f"MC-3:{other_id}")).ord_status == "6"
        assert (await mass2.next_execution_report(f"MC-3:{other_id}")).ord_status == "4"
        assert await blocked_matches_open_orders(pool, A) == 0
    finally:
        await mass2.logout()


async def test_mass_cancel_refusals(pool: asyncpg.Pool, quotes: QuoteReader, mass1: FixClient) -> None:
    cl = await rest(mass1, "F", 7, await resting_price(quotes, "F"), A)
    cases = [
        ([(530, "3"), (55, "F")], "0", "unsupported 530=3: only 1 (orders for a security) and 7 (all orders) "
                                       "are supported"),
        ([(530, "1")], "1", "530=1 needs Symbol (55)"),
        ([(530, "1"), (55, "NOPE")], "1", "unknown symbol: NOPE"),
        ([(530, "7"), (1, "ACC-CLIENT1")], "99", "unknown account: ACC-CLIENT1 is not an account of this session"),
    ]
    for n, (fields, reason, text) in enumerate(cases):
        await mass1.send("q", [(11, f"MR-{n}"), *fields, (60, now_text())])
        report = await next_of(mass1, "r", 11, f"MR-{n}")
        assert (report.get(531), report.get(532), report.get(58), report.get(533)) == ("0", reason, text, None)
        assert report.get(530) == fields[0][1]
    oid = await order_id(pool, "MASS1", cl)
    assert await status(pool, oid) == "new"
    await mass1.send("q", [(11, "MR-end"), (530, "1"), (55, "F"), (60, now_text())])
    assert (await next_of(mass1, "r", 11, "MR-end")).get_all(535) == [oid]
    assert (await mass1.next_execution_report(f"MR-end:{oid}")).ord_status == "6"


# -- OrderMassStatusRequest --------------------------------------------------------------------------------

async def test_mass_status(pool: asyncpg.Pool, quotes: QuoteReader, mass1: FixClient) -> None:
    await mass1.send("q", [(11, "MS-clear"), (530, "7"), (60, now_text())])  # start from no working orders
    for oid in (await next_of(mass1, "r", 11, "MS-clear")).get_all(535):
        while (await mass1.next_execution_report(f"MS-clear:{oid}")).ord_status != "4":
            pass
    a = await rest(mass1, "AAPL", 6, await resting_price(quotes, "AAPL"), A)
    m = await rest(mass1, "MSFT", 2, await resting_price(quotes, "MSFT"), B)
    ids = [await order_id(pool, "MASS1", a), await order_id(pool, "MASS1", m)]

    async def reports(req_id: str, fields: list[tuple[int, object]], count: int) -> list[InboundMessage]:
        await mass1.send("AF", [(584, req_id), *fields])
        got = []
        for _ in range(count):
            got.append(await mass1.wait_for(lambda msg: msg.msg_type == "8" and msg.get(584) == req_id
                                            and msg not in got))
        return got

    every = await reports("MS-all", [(585, "7")], 2)
    assert [r.get(37) for r in every] == ids and [r.get(11) for r in every] == [a, m]
    assert [(r.get(150), r.get(39), r.get(911), r.get(912)) for r in every] == [("I", "0", "2", "N"),
                                                                              ("I", "0", "2", "Y")]
    (msft,) = await reports("MS-msft", [(585, "1"), (55, "MSFT")], 1)
    assert (msft.get(37), msft.get(911), msft.get(912), msft.get(1)) == (ids[1], "1", "Y", B)
    (by_account,) = await reports("MS-acct", [(585, "7"), (1, A)], 1)
    assert (by_account.get(37), by_account.get(911), by_account.get(912)) == (ids[0], "1", "Y")
    (none,) = await reports("MS-none", [(585, "1"), (55, "F")], 1)  # no working F order
    assert (none.get(37), none.get(150), none.get(39), none.get(911), none.get(912), none.get(103)) == (
        "NONE", "I", "8", "0", "Y", None)
    assert none.get(58) == "no orders match the mass status request"

    await mass1.send("AF", [(584, "MS-bad"), (585, "3")])
    bad = await next_of(mass1, "j", 379, "MS-bad")
    assert (bad.get(372), bad.get(380)) == ("AF", "0")
    await mass1.send("AF", [(584, "MS-foreign"), (585, "7"), (1, "ACC-CLIENT1")])
    foreign = await next_of(mass1, "j", 379, "MS-foreign")
    assert (foreign.get(380), foreign.get(58)) == ("6", "unknown account: ACC-CLIENT1 is not an account of this "
                                                        "session")


# -- OrderStatusRequest: OrdStatusReqID echo ---------------------------------------------------------------

async def test_order_status_echoes_ord_status_req_id(pool: asyncpg.Pool, quotes: QuoteReader,
                                                     mass1: FixClient) -> None:
    cl = await rest(mass1, "F", 1, await resting_price(quotes, "F"), A)
    await mass1.send("H", [(11, cl), (790, "RQ-1"), (55, "F"), (54, "1")])
    report = await next_of(mass1, "8", 790, "RQ-1")
    assert (report.get(11), report.get(150), report.get(39)) == (cl, "I", "0")
    await mass1.send("H", [(11, "NO-SUCH"), (790, "RQ-2"), (55, "F"), (54, "1")])
    unknown = await next_of(mass1, "8", 790, "RQ-2")
    assert (unknown.get(11), unknown.get(150), unknown.get(39), unknown.get(103)) == ("NO-SUCH", "I", "8", "5")
    await mass1.send("H", [(11, cl), (55, "F"), (54, "1")])
    plain = await mass1.wait_for(lambda m: m.msg_type == "8" and m.get(11) == cl and m.get(150) == "I"
                                 and m.get(790) is None)
    assert plain.get(37) == await order_id(pool, "MASS1", cl)


# -- What-if -------------------------------------------------------------------------------------------------

async def what_if_fix(client: FixClient, symbol: str, side: str, qty: int, price: Decimal | None,
                      account: str) -> InboundMessage:
    cl = client.new_cl_ord_id()
    body = new_order_single_body(cl, ticket(symbol, side, qty, "2" if price else "1", price, None, "0", account),
                                 datetime.now(UTC))
    await client.send("D", [*body, (9600, "Y")])
    return await next_of(client, "8", 11, cl)


async def test_what_if_over_fix_places_nothing(pool: asyncpg.Pool, quotes: QuoteReader,
                                               mass1: FixClient) -> None:
    price = await resting_price(quotes, "AAPL")
    blocked = await blocked_matches_open_orders(pool, A)
    cash = await pool.fetchval("SELECT amount FROM cash_balances WHERE account_id = $1", A)
    orders = await pool.fetchval("SELECT count(*) FROM orders")

    answer = await what_if_fix(mass1, "AAPL", "buy", 10, price, A)
    block = (10 * price).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
    assert (answer.get(37), answer.get(150), answer.get(39), answer.get(151), answer.get(14)) == (
        "NONE", "I", "8", "0", "0")
    assert (answer.get(9600), answer.get(9601), answer.get(103), answer.get(1)) == ("Y", "A", None, A)
    assert Decimal(answer.get(9602) or "") == block and Decimal(answer.get(9603) or "") == 0
    assert Decimal(answer.get(9604) or "") == cash - blocked
    assert Decimal(answer.get(9605) or "") == cash - blocked - block
    assert answer.get(9606) is not None and answer.get(9607) is not None
    assert (answer.get(9608), answer.get(9609), answer.get(9610)) == ("0", "0", "N")  # a cash account
    assert answer.get(58) == "what-if: would be accepted; nothing was placed"
    assert quickfix_refuses(answer.raw) == ""
    assert await pool.fetchval("SELECT count(*) FROM orders") == orders
    assert await blocked_matches_open_orders(pool, A) == blocked

    # beyond the account's means: the reject a real order gets, then the real order gets exactly that
    too_big = await what_if_fix(mass1, "AAPL", "buy", 90_000, price, B)
    assert (too_big.get(9601), too_big.get(39), too_big.get(9602), too_big.get(9610)) == ("R", "8", "0", "N")
    real = await mass1.new_order_single("AAPL", "buy", 90_000, "limit", price=price, account=B)
    rejected = await mass1.next_execution_report(real)
    assert (rejected.ord_status, rejected.ord_rej_reason, rejected.text) == (
        "8", int(too_big.get(103) or "-1"), too_big.get(58))

    # a margin account: maintenance before and after the fill, no call
    margin = await what_if_fix(mass1, "MSFT", "buy", 5, await resting_price(quotes, "MSFT"), B)
    assert margin.get(9601) == "A" and Decimal(margin.get(9609) or "") > Decimal(margin.get(9608) or "")
    assert margin.get(9610) == "N"
    # the session's accounts only
    foreign = await what_if_fix(mass1, "AAPL", "buy", 1, price, "ACC-CLIENT1")
    assert (foreign.get(9601), foreign.get(103), foreign.get(9602)) == ("R", "15", None)
    assert foreign.get(58) == "unknown account: ACC-CLIENT1 is not an account of this session"
    assert await pool.fetchval("SELECT count(*) FROM orders") == orders  # a rejected order leaves no row either


async def test_what_if_over_rest(env: OrderPathEnv, pool: asyncpg.Pool, quotes: QuoteReader,
                                 tmp_path: Path) -> None:
    token = new_api_token()
    await pool.execute("INSERT INTO api_tokens (token_id, token_hash, role, expires_at) "
                       "VALUES ('wi-tok', $1, 'account', now() + interval '1 day')", hash_api_token(token))
    await pool.execute("INSERT INTO api_token_accounts (token_id, account_id) VALUES ('wi-tok', $1)", A)
    app = create_app(Settings(database_url=env.database_url, redis_url=env.redis_url, data_dir=tmp_path,
                              trading_24h=True))
    price = await resting_price(quotes, "AAPL")
    orders = await pool.fetchval("SELECT count(*) FROM orders")
    blocked = await blocked_matches_open_orders(pool, A)
    cash = await pool.fetchval("SELECT amount FROM cash_balances WHERE account_id = $1", A)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.test",
            headers={"Authorization": f"Bearer {token}"}) as http:
        answer = await http.post(f"/v1/accounts/{A}/orders/whatif",
                                 json={"symbol": "AAPL", "side": "buy", "ord_type": "limit", "qty": "10",
                                       "price": str(price)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        block = (10 * price).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
        assert (body["decision"], body["reject_reason"], body["rule"], body["text"]) == ("accept", None, None, None)
        assert Decimal(body["blocked_cash"]) == block and Decimal(body["blocked_qty"]) == 0
        assert Decimal(body["buying_power_before"]) == cash - blocked
        assert Decimal(body["buying_power_after"]) == cash - blocked - block
        assert Decimal(body["maintenance_margin_after"]) == 0 and body["margin_call_after"] is False

        refused = await http.post(f"/v1/accounts/{A}/orders/whatif",
                                  json={"symbol": "AAPL", "side": "sell", "ord_type": "limit", "qty": "1000000",
                                        "price": str(price)})
        assert refused.status_code == 200
        assert refused.json()["decision"] == "reject" and refused.json()["rule"] == "max_order_qty"
        assert refused.json()["reject_reason"] == 13
        bad = await http.post(f"/v1/accounts/{A}/orders/whatif", json={"symbol": "AAPL", "side": "buy",
                                                                       "ord_type": "iceberg", "qty": "1"})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        hidden = await http.post(f"/v1/accounts/{B}/orders/whatif",
                                 json={"symbol": "AAPL", "side": "buy", "qty": "1", "price": str(price)})
        assert hidden.status_code in (403, 404)
    assert await pool.fetchval("SELECT count(*) FROM orders") == orders
    assert await blocked_matches_open_orders(pool, A) == blocked
