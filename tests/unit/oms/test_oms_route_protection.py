"""The order service routes a market buy with market-order protection (an IOC limit at its collar)."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from gateway.oms.model import OrdType
from gateway.oms.self_trade import SelfTradeModes
from gateway.oms.service import OrderService
from ledger.reservations import OrderReservation
from tests.unit.oms.test_oms_market_protection import order

D = Decimal


def test_the_service_routes_a_market_buy_with_its_protection() -> None:
    sent: list[tuple[str, dict[int, object]]] = []
    venue = SimpleNamespace(send=lambda msg_type, fields: sent.append((msg_type, dict(fields))) or True)
    shell = SimpleNamespace(known_accounts={}, venue=venue, routed_at=None, self_trade=SelfTradeModes())
    OrderService.route(shell, order(), OrderReservation.for_buy(D(10), D("101.0005")))  # type: ignore[arg-type]
    OrderService.route(shell, order(ord_type=OrdType.LIMIT), OrderReservation.for_buy(D(10), D(100)))  # type: ignore[arg-type]
    (kind, market), (_, limit) = sent
    assert kind == "D" and (market[40], D(str(market[44])), market[59]) == ("2", D("101.00"), "3")
    assert (limit[40], D(str(limit[44])), limit[59]) == ("2", D(100), "0")
    assert market[7940] == limit[7940] == "1"  # self-trade prevention: the account's mode, cancel newest
