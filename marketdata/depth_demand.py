"""Which symbols' books the ingestor keeps in Redis: depth on demand (pure: no I/O; ADR 033).

The ingestor keeps every symbol's levels in memory (``QuoteBook``) but writes ``book:SYMBOL`` only for
symbols someone reads books of. Readers (``marketdata.depth_redis.BookReader``: the REST book endpoint,
the WebSocket hub, the FIX gateway's depth subscriptions) ask for them: a lease in the ``books:wanted``
sorted set (score = expiry, for an ingestor that starts later) and a message on ``books:want`` (so a
running ingestor hears at once). A wanted symbol's book is written in full at the next write (its
snapshot), then with every change of the symbol, in the same MSET as its quote, until its lease lapsed
at a moment when nobody listens to the ``books:`` channels (a streaming subscriber holds a book for as
long as it listens, without refreshing anything); then its key is deleted, so a book in Redis is either
current or absent, never silently stale.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

WANTED_KEY = "books:wanted"  # sorted set: symbol → lease expiry (Unix ms)
WANT_CHANNEL = "books:want"  # readers publish the symbols they read books of, one per line
LIVE_KEY = "books:live"  # set (with a short TTL) while an ingestor writes books on demand
LEASE_SECONDS = 60.0  # a one-shot reader (REST) keeps a symbol's book written this long
LIVE_TTL_SECONDS = 10  # the ingestor refreshes LIVE_KEY every second; readers wait for books only if set


def parse_want(message: str | bytes) -> list[str]:
    text = message.decode() if isinstance(message, bytes) else message
    return [s for s in text.split("\n") if s]


class BookDemand:
    """Leases of the symbols whose books are written, and the snapshots owed to new readers."""

    def __init__(self, lease_seconds: float = LEASE_SECONDS) -> None:
        self.lease_seconds = lease_seconds
        self.expiry: dict[str, float] = {}  # symbol → lease end (s); a key here = its book is written
        self.owed: dict[str, None] = {}  # full books to write at the next write (insertion-ordered set)

    def want(self, symbols: Iterable[str], now: float, until: float | None = None) -> None:
        """A reader wants these books: (re)start their leases and owe each a full book (the reader may be
        waiting for one, e.g. its first read of the symbol)."""
        end = now + self.lease_seconds if until is None else until
        expiry, owed = self.expiry, self.owed
        for symbol in symbols:
            if expiry.get(symbol, 0.0) < end:
                expiry[symbol] = end
            owed[symbol] = None

    def take_owed(self, held: Collection[str]) -> list[str]:
        """The owed books this ingestor can write (``held``: symbols it has data for). The rest are
        forgotten: another shard's symbols, or symbols whose first data is still to come (their book
        is written with their first quote, as their lease is running)."""
        if not self.owed:
            return []
        out = [s for s in self.owed if s in held]
        self.owed.clear()
        return out

    def expire(self, now: float, listeners: bool) -> list[str]:
        """Drop the lapsed leases unless someone listens to the book channels; returns the dropped
        symbols (their keys are deleted by the caller)."""
        if listeners:
            return []
        dropped = [s for s, end in self.expiry.items() if end <= now]
        for symbol in dropped:
            del self.expiry[symbol]
            self.owed.pop(symbol, None)
        return dropped
