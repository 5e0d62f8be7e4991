"""Market data subscriptions: snapshots, incremental actions that rebuild the book, rejects; FIX encoding."""

from __future__ import annotations

from decimal import Decimal
from xml.etree import ElementTree

import pytest
import quickfix as fix

from exchange import fix_codec
from exchange.events import BUY, SELL, OrdType, TimeInForce
from exchange.market_data import MarketData, MdEntry, MdReject
from exchange.reports import CancelReject, ExecReport
from exchange.simulation import Simulation, SimulationConfig
from exchange.venue import NewOrder
from fixsession.settings import DATA_DICTIONARY
from refdata.instruments import universe_by_symbol

S = "FIX.4.4:EXCHANGE->MDFEED"


@pytest.fixture
def md() -> MarketData:
    by_symbol = universe_by_symbol()
    sim = Simulation([by_symbol["AAPL"], by_symbol["F"]], SimulationConfig(seed=4, taker_probability=0.0))
    sim.open()
    return MarketData(sim)


Book = dict[tuple[str, str, Decimal], Decimal]


def apply(book: Book, entries: list[MdEntry], symbol: str | None = None) -> None:
    for e in entries:
        if e.entry_type not in ("0", "1"):
            continue
        assert e.price is not None
        key = (e.symbol or symbol or "", e.entry_type, e.price)
        if e.action == "2":
            del book[key]
        else:
            assert e.size is not None
            book[key] = e.size


def expected(md: MarketData, symbol: str, depth: int = 10) -> Book:
    venue, book = md.sim.venue, md.sim.venue.engines[symbol].book
    out: Book = {}
    for entry_type, side in (("0", book.bids), ("1", book.asks)):
        for px, qty in side.depth(depth):
            out[(symbol, entry_type, venue.price(symbol, px))] = Decimal(qty)
    return out


def rest_limit_orders(md: MarketData, symbol: str, side: int, prices: range) -> None:
    """Resting client orders at ``prices`` (ticks), so the book is deeper than the market makers' five levels."""
    venue = md.sim.venue
    for ticks in prices:
        md.sim.submit(NewOrder(symbol, side, OrdType.LIMIT, TimeInForce.DAY, Decimal(100), venue.price(symbol, ticks)))
    md.sim.tick()


def test_snapshot_then_increments_rebuild_the_top_ten(md: MarketData) -> None:
    book_side = md.sim.venue.engines["AAPL"].book.bids
    best = book_side.best_price()
    assert best is not None
    rest_limit_orders(md, "AAPL", BUY, range(best - 40, best - 10))  # levels below the makers' ladder
    result = md.subscribe(S, "r1", "1", 0, ["0", "1", "2", "B"], ["AAPL"])  # 264=0: the full book
    assert not isinstance(result, MdReject)
    [(symbol, entries)] = result
    book: Book = {}
    apply(book, entries, symbol)
    assert book == expected(md, "AAPL")
    positions = [e.position for e in entries if e.entry_type == "0"]
    assert positions == list(range(1, 11))  # MAX_DEPTH levels, in order
    sim = md.sim
    for i in range(30):
        side = BUY if i % 2 else SELL
        sim.submit(NewOrder("AAPL", side, OrdType.MARKET, TimeInForce.IOC, Decimal(700 + 100 * (i % 5))))
        changes = sim.tick()
        for (_, increment) in md.flush({"AAPL", *changes}):
            apply(book, increment)
            trades = [e for e in increment if e.entry_type == "2"]
            assert len(trades) <= 1 and all(e.action == "0" for e in trades)
        assert book == expected(md, "AAPL"), f"diverged at step {i}"


def test_top_of_book_subscription_and_snapshot_only(md: MarketData) -> None:
    result = md.subscribe(S, "top", "0", 1, [], ["F"])
    assert not isinstance(result, MdReject)
    [(_, entries)] = result
    assert [e.entry_type for e in entries] == ["0", "1"]  # default types; no trade yet
    assert not md.subscriptions  # snapshot only: nothing to keep


def test_md_rejects(md: MarketData) -> None:
    bad = md.subscribe(S, "x", "1", 5, ["0"], ["AAPL", "NOPE"])
    assert isinstance(bad, MdReject) and bad.reason == "0" and "NOPE" in bad.text
    assert isinstance(md.subscribe(S, "x", "1", 5, ["Z"], ["AAPL"]), MdReject)
    assert isinstance(md.subscribe(S, "x", "9", 5, ["0"], ["AAPL"]), MdReject)
    assert not isinstance(md.subscribe(S, "x", "1", 5, ["0"], ["AAPL"]), MdReject)
    dup = md.subscribe(S, "x", "1", 5, ["0"], ["AAPL"])
    assert isinstance(dup, MdReject) and dup.reason == "1"
    assert md.subscribe(S, "x", "2", 0, [], []) == [] and not md.subscriptions


def required_tags(message_name: str) -> set[int]:
    """Tags FIX44.xml marks required at the top level of ``message_name`` (components expanded)."""
    root = ElementTree.parse(DATA_DICTIONARY).getroot()
    numbers = {f.get("name"): int(f.get("number") or 0) for f in root.iter("field") if f.get("number")}
    components = {c.get("name"): c for c in root.find("components") or []}

    def walk(node: ElementTree.Element) -> set[int]:
        tags: set[int] = set()
        for child in node:
            if child.get("required") != "Y":
                continue
            if child.tag in ("field", "group"):
                tags.add(numbers[child.get("name")])
            elif child.tag == "component":
                tags |= walk(components[child.get("name")])
        return tags

    [message] = [m for m in root.iter("message") if m.get("name") == message_name]
    return walk(message)


def test_encoded_messages_carry_every_required_fix44_field() -> None:
    report = ExecReport("s", "12", "c1", "1-1", "F", "1", "AAPL", "1", Decimal(300), Decimal(100), Decimal(200),
                        Decimal("16.2350"), ord_type="2", time_in_force="0", price=Decimal("16.30"),
                        last_qty=Decimal(200), last_px=Decimal("16.235"), last_liquidity_ind="2")
    snapshot = fix_codec.snapshot("r", "AAPL", [MdEntry("0", Decimal("16.20"), Decimal(1000), 1),
                                                MdEntry("B", None, Decimal(5000))])
    increment = fix_codec.incremental("r", [MdEntry("1", Decimal("16.30"), None, None, "2", "AAPL")])
    reject = fix_codec.cancel_reject(CancelReject("s", "NONE", "c2", "c1", "8", "1", 1, "unknown order"))
    for name, message in (("ExecutionReport", fix_codec.execution_report(report)),
                          ("MarketDataSnapshotFullRefresh", snapshot), ("MarketDataIncrementalRefresh", increment),
                          ("OrderCancelReject", reject)):
        present = {int(pair.split("=", 1)[0]) for pair in message.toString().split("\x01") if "=" in pair}
        assert required_tags(name) <= present, (name, required_tags(name) - present)
        dictionary = fix.DataDictionary(str(DATA_DICTIONARY))
        fix.Message(message.toString(), dictionary, True)  # groups and field types parse
    text = fix_codec.execution_report(report).toString()
    assert "\x0131=16.235\x01" in text and "\x016=16.235\x01" in text and "\x01851=2\x01" in text
