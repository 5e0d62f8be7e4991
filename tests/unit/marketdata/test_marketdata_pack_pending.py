"""The ingestor's one-pass packer sends exactly what the item-by-item path sends: each quote's JSON
(``quote_json``: ``Quote.to_json()``'s text for tickers, tested in test_marketdata_quote_json) at
``quote:SYMBOL`` and in its shard's PUBLISH line (ADR 038)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from marketdata.book import QuoteBook, SymbolState
from marketdata.redis_quotes import QuoteWriter, resp

_decimals = st.one_of(st.none(), st.decimals(min_value=0, max_value=10**9, places=4),
                      st.sampled_from([Decimal("1E+2"), Decimal("0E-7"), Decimal("1.10"), Decimal("0.00000001")]))
_levels = st.dictionaries(st.decimals(min_value=0, max_value=10**6, places=2), st.decimals(min_value=1, max_value=10**6,
                                                                                             places=0), max_size=3)
_present = st.decimals(min_value=0, max_value=10**9, places=4)
# the trade and day fields: any mix, and each of the shapes the packer formats in one go
_tails = st.one_of(st.tuples(_decimals, _decimals, _decimals, _decimals), st.just((None, None, None, None)),
                   st.tuples(_present, _present, st.none(), st.none()),
                   st.tuples(_present, _present, _present, _present))
_states = st.builds(lambda bids, asks, tail, ts: (bids, asks, *tail, ts), _levels, _levels, _tails,
                    st.integers(0, 2**60))
# tickers, and a few a feed could send that are not ASCII (their RESP lengths are bytes, not characters)
_symbols = st.one_of(st.from_regex(r"[A-Z]{1,5}([-.][A-Z])?", fullmatch=True), st.sampled_from(["ÄBC", "日本"]))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_symbols, _states, max_size=12), st.integers(1, 15), st.integers(0, 2**60), st.booleans())
def test_pack_pending_is_the_item_by_item_write(
    books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal], Decimal | None, Decimal | None,
                           Decimal | None, Decimal | None, int]],
    limit: int, ingest_ts: int, publish: bool) -> None:
    book, twin = QuoteBook(), QuoteBook()
    for symbol, (bids, asks, last, last_size, volume, prev_close, ts) in books.items():
        for target in (book, twin):
            target.states[symbol] = SymbolState(dict(bids), dict(asks), last, last_size, volume, prev_close, ts)
            target.mark_dirty(symbol)
    writer = QuoteWriter(None, publish=publish)  # type: ignore[arg-type]  # packing only: no Redis

    packed = writer.pack_pending(book, ingest_ts, limit)

    drained = twin.drain_encoded(ingest_ts, limit)
    mset, publishes = writer.pack([(symbol, payload) for symbol, payload, _ in drained])
    assert packed.symbols == [symbol for symbol, _, _ in drained]
    assert packed.stamps == [ts for _, _, ts in drained if ts]
    assert b"*%d\r\n$4\r\nMSET\r\n" % (len(mset) + 1) + packed.mset_args == resp([b"MSET", *mset])
    assert packed.publishes == publishes
    assert book.pending == twin.pending
