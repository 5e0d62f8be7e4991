"""Property: for generated orders, the what-if's decision is the real order's risk outcome.

Real PostgreSQL (the ledger the order path locks and blocks) and Redis (quotes written here, fresh each example,
so both read the same prices); the order service's FIX links capture what would go to the client and the
exchange. Each example asks the what-if, then enters the same order for real: accepted ⇔ accepted, the same
OrdRejReason (103) and Text (58) when rejected, the same block (orders.reserved_cash / reserved_qty) when
accepted. Accepted orders stay open (nothing reaches an exchange), so buying power, open orders and blocked
shares shrink from example to example and the later ones meet the limits.
"""

from __future__ import annotations

import itertools
import time
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from brokerage.settings import Settings
from gateway.oms.audit_trail import now
from gateway.oms.config import rate_limit
from gateway.oms.context import RiskInputs
from gateway.oms.fix_codec import NewOrderCommand
from gateway.oms.links import ClientLink, VenueLink
from gateway.oms.model import ClOrdID, OrdType, Side, TimeInForce
from gateway.oms.service import OrderService
from ledger.provisioning import ensure_fix_session
from ledger.repository import LedgerRepository
from marketdata.quotes import Quote, quote_key
from marketdata.redis_quotes import QuoteReader
from refdata.instruments import universe_by_symbol

pytestmark = pytest.mark.integration

SESSION = "WHATIF1"
CASH, MARGIN = "WI-CASH", "WI-MARGIN"
PRICES = {"AAPL": Decimal("100.00"), "MSFT": Decimal("250.00"), "F": Decimal("12.00")}
_ids = itertools.count()

orders = st.fixed_dictionaries({
    "symbol": st.sampled_from([*PRICES, "AAPL", "F", "NOPE"]),
    "side": st.sampled_from([Side.BUY, Side.BUY, Side.SELL, Side.SELL_SHORT]),
    "ord_type": st.sampled_from([OrdType.LIMIT, OrdType.LIMIT, OrdType.MARKET]),
    "tif": st.sampled_from([TimeInForce.DAY, TimeInForce.GTC, TimeInForce.IOC]),
    "qty": st.integers(1, 3_000),
    "through": st.integers(-40, 20),  # limit price: % away from the last price (aggressive when positive for buys)
    "account": st.sampled_from([CASH, MARGIN, MARGIN, None, "NOT-MINE"]),
})


class Captured:
    def __init__(self) -> None:
        self.client: list[tuple[str, dict[int, str]]] = []
        self.venue: list[str] = []

    def to_client(self, _sid: object, message: Any) -> bool:
        fields = {int(t): v for t, _, v in (p.partition("=") for p in str(message.toString()).split("\x01")) if t}
        self.client.append((str(message.getHeader().getField(35)), fields))
        return True

    def to_venue(self, message: Any) -> bool:
        self.venue.append(str(message.getHeader().getField(35)))
        return True


async def _seed(pool: asyncpg.Pool) -> None:
    repository = LedgerRepository(pool)
    await repository.open_account(CASH, "cash", "what-if cash")
    await repository.open_account(MARGIN, "margin", "what-if margin", short_selling_enabled=True)
    await repository.deposit(CASH, Decimal(60_000), idempotency_key="wi-cash", actor="test")
    await repository.deposit(MARGIN, Decimal(25_000), idempotency_key="wi-margin", actor="test")
    await ensure_fix_session(pool, SESSION, "pw", [CASH, MARGIN])


async def _fresh_quotes(redis: Any) -> None:
    now_us = time.time_ns() // 1000
    for symbol, last in PRICES.items():
        quote = Quote(symbol, bid=last - Decimal("0.05"), ask=last + Decimal("0.05"), last=last,
                      exchange_ts_us=now_us, ingest_ts_us=now_us)
        await redis.set(quote_key(symbol), quote.to_json())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=orders)
async def test_what_if_decision_is_the_real_orders(db_pool: asyncpg.Pool, redis_client: Any,
                                                   spec: dict[str, Any]) -> None:
    await _seed(db_pool)  # idempotent: the database is shared by the examples, so state builds up
    await _fresh_quotes(redis_client)
    config = Settings(trading_24h=True)
    inputs = RiskInputs(config, QuoteReader(redis_client))
    captured = Captured()
    service = OrderService(db_pool, inputs, ClientLink(captured.to_client, "BROKER"), VenueLink(captured.to_venue),
                           universe_by_symbol(), {SESSION: (CASH, frozenset({CASH, MARGIN}))}, rate_limit(config))
    reference = PRICES.get(spec["symbol"], Decimal(50))
    price = None
    if spec["ord_type"] is OrdType.LIMIT:
        price = (reference * (100 + spec["through"]) / 100).quantize(Decimal("0.01"))
    cmd = NewOrderCommand(cl_ord_id=ClOrdID(f"P{next(_ids)}-{time.time_ns()}"), account=spec["account"],
                          symbol=spec["symbol"], side=spec["side"], ord_type=spec["ord_type"],
                          time_in_force=spec["tif"], qty=Decimal(spec["qty"]), price=price, stop_px=None,
                          poss_resend=False)
    ledger_before = await _ledger_state(db_pool)
    await service.on_what_if(SESSION, cmd)
    assert await _ledger_state(db_pool) == ledger_before, "a what-if wrote to the ledger"
    msg_type, what = captured.client[-1]
    assert msg_type == "8" and what[11] == cmd.cl_ord_id
    assert (what[37], what[150], what[39], what[9600], what[151]) == ("NONE", "I", "8", "Y", "0")
    assert not captured.venue
    event(f"what-if {what[9601]}: {what[58].split(':')[0]}")

    order = await service.new_order(SESSION, cmd, received=now())
    msg_type, real = captured.client[-1]
    assert msg_type == "8" and real[11] == cmd.cl_ord_id
    if what[9601] == "R":
        assert order is None, f"what-if rejected ({what[58]}) but the order was accepted"
        assert (real[39], real[103], real[58]) == ("8", what[103], what[58])
        assert not captured.venue
        return
    assert what[9601] == "A" and 103 not in what
    assert order is not None, f"what-if accepted but the order was rejected: {real.get(58)}"
    row = await db_pool.fetchrow("SELECT reserved_cash, reserved_qty FROM orders WHERE order_id = $1", order.order_id)
    assert row is not None
    assert (row["reserved_cash"], row["reserved_qty"]) == (Decimal(what[9602]), Decimal(what[9603]))
    assert captured.venue == ["D"]


async def _ledger_state(pool: asyncpg.Pool) -> tuple[object, ...]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM orders) AS orders, (SELECT count(*) FROM executions) AS executions, "
        "(SELECT count(*) FROM order_cl_ord_ids) AS cl_ord_ids, (SELECT count(*) FROM outbox) AS events, "
        "(SELECT coalesce(sum(blocked), 0) FROM cash_balances) AS blocked, "
        "(SELECT coalesce(sum(blocked_qty), 0) FROM holdings) AS blocked_qty")
    assert row is not None
    return tuple(row.values())
