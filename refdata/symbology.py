"""Ticker symbology (pure): one canonical form for a symbol, whichever way it was typed.

The universe spells class shares with a hyphen, ``BRK-B`` (ADR 014): it is the form the universe has
always used (so FIX Symbol(55), ledger rows, Redis keys and REST paths keep their spelling), it needs no
escaping in a URL path or a Redis key, and it cannot be mistaken for a decimal or a path separator.
Users and feeds also write ``BRK.B`` (CQS, S&P, most brokers), ``BRK/B`` (Bloomberg, FIX front ends),
``BRK B`` (CMS), ``brk_b`` or ``BRKB``: :func:`canonical_symbol` maps every separated form to the
canonical one and :func:`compact_symbol` gives the separator-free alias search also accepts.
"""

from __future__ import annotations

import re

CLASS_SEPARATOR = "-"
_SEPARATORS = re.compile(r"[.\-/_\s]+")
_SHARE_CLASS = re.compile(r"[A-Z]")


def canonical_symbol(text: str) -> str:
    """Upper case, parts joined by one ``-``: ``brk.b``, ``BRK/B``, ``BRK B``, `` brk_b `` → ``BRK-B``.

    Runs of separators count as one and leading/trailing separators are dropped, so the function is
    idempotent and separator-insensitive. It does not validate: an empty or odd input gives an odd
    (possibly empty) result that simply matches no listing."""
    return CLASS_SEPARATOR.join(p for p in _SEPARATORS.split(text.strip().upper()) if p)


def compact_symbol(text: str) -> str:
    """The symbol without separators (``BRK-B`` → ``BRKB``): an alias search resolves too."""
    return canonical_symbol(text).replace(CLASS_SEPARATOR, "")


def share_class(symbol: str) -> str | None:
    """The share-class letter of a class share (``BRK-B`` → ``B``), None for a plain or preferred symbol
    (``AAPL``, ``RF-PB``)."""
    parts = canonical_symbol(symbol).split(CLASS_SEPARATOR)
    if len(parts) == 2 and _SHARE_CLASS.fullmatch(parts[1]):
        return parts[1]
    return None
