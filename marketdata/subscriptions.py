"""Who wants which symbol, and what is waiting to be sent to each client (pure: no I/O).

A client's outbox is *conflating*: it holds at most one pending update per symbol (a newer quote
replaces the unsent older one), so it can never hold more entries than the client has symbols, and
the client's symbols are capped. A slow reader therefore costs bounded memory and sees the latest
price, never a backlog; one that cannot take even that is dropped by the stream (send timeout).

Client messages are JSON objects: ``{"action": "subscribe" | "unsubscribe", "symbols": [...]}``; a
subscribe may carry ``"depth": N`` (0 the full book of 10 levels, 1..10 that many levels a side) to get
the symbols' books rather than their quotes (ADR 023).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

MAX_CLIENT_MESSAGE_CHARS = 16_384
MAX_DEPTH = 10  # marketdata.depth.MAX_LEVELS (0 asks for all of them)


class ClientMessageError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ClientRequest:
    action: str
    symbols: tuple[str, ...]
    depth: int | None = None  # subscribe: None quotes, N (0..10) books at that depth


def parse_client_message(text: str, max_symbols: int) -> ClientRequest:
    if len(text) > MAX_CLIENT_MESSAGE_CHARS:
        raise ClientMessageError("bad_request", f"message longer than {MAX_CLIENT_MESSAGE_CHARS} characters")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ClientMessageError("bad_request", "message is not JSON") from exc
    if not isinstance(data, dict):
        raise ClientMessageError("bad_request", "message must be a JSON object")
    action = data.get("action")
    if action not in ("subscribe", "unsubscribe"):
        raise ClientMessageError("bad_request", "action must be 'subscribe' or 'unsubscribe'")
    symbols = data.get("symbols")
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
        raise ClientMessageError("bad_request", "symbols must be a non-empty list of strings")
    if len(symbols) > max_symbols:
        raise ClientMessageError("too_many_symbols", f"at most {max_symbols} symbols per client")
    cleaned = tuple(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    if not cleaned:
        raise ClientMessageError("bad_request", "symbols must not be blank")
    depth = data.get("depth")
    if depth is not None and (action != "subscribe" or type(depth) is not int or not 0 <= depth <= MAX_DEPTH):
        raise ClientMessageError("bad_request", f"depth must be an integer from 0 to {MAX_DEPTH} "
                                 "(0 = the full book), on a subscribe")
    return ClientRequest(action, cleaned, depth)


@dataclass
class ConflatingOutbox:
    """Latest pending quote per symbol (JSON text), in first-changed order."""

    pending: dict[str, str] = field(default_factory=dict)
    conflated: int = 0  # updates replaced before they were sent

    def offer(self, symbol: str, payload: str) -> None:
        if symbol in self.pending:
            self.conflated += 1
        self.pending[symbol] = payload

    def discard(self, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            self.pending.pop(symbol, None)

    def take(self) -> list[tuple[str, str]]:
        out = list(self.pending.items())
        self.pending.clear()
        return out


@dataclass
class SubscriptionMap:
    """symbol → clients and client → symbols, for one server process."""

    by_symbol: dict[str, set[int]] = field(default_factory=dict)
    by_client: dict[int, set[str]] = field(default_factory=dict)

    def subscribe(self, client: int, symbols: Iterable[str], max_symbols: int) -> tuple[list[str], list[str]]:
        """Add symbols; returns (added, refused because the client is at its cap)."""
        mine = self.by_client.setdefault(client, set())
        added, refused = [], []
        for symbol in symbols:
            if symbol in mine:
                continue
            if len(mine) >= max_symbols:
                refused.append(symbol)
                continue
            mine.add(symbol)
            self.by_symbol.setdefault(symbol, set()).add(client)
            added.append(symbol)
        return added, refused

    def unsubscribe(self, client: int, symbols: Iterable[str]) -> list[str]:
        mine = self.by_client.get(client, set())
        removed = []
        for symbol in symbols:
            if symbol in mine:
                mine.discard(symbol)
                removed.append(symbol)
                holders = self.by_symbol.get(symbol)
                if holders is not None:
                    holders.discard(client)
                    if not holders:
                        del self.by_symbol[symbol]
        return removed

    def drop(self, client: int) -> None:
        self.unsubscribe(client, list(self.by_client.get(client, ())))
        self.by_client.pop(client, None)

    def symbols_of(self, client: int) -> list[str]:
        return sorted(self.by_client.get(client, ()))


def split_known(symbols: Iterable[str], is_known: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    known: list[str] = []
    unknown: list[str] = []
    for symbol in symbols:
        (known if is_known(symbol) else unknown).append(symbol)
    return known, unknown
