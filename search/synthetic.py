"""Generated listings that extend the real universe to a benchmark size (pure, deterministic).

Made-up companies get made-up tickers that never collide with real ones, pronounceable names and
market caps between $50M and $20B (log-uniform), so the real large caps keep ranking first.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from decimal import Decimal

from search.ranking import Listing

_ONSETS = ("b", "br", "c", "cr", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "qu", "r", "s",
           "st", "t", "tr", "v", "w", "z")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io")
_CODAS = ("", "n", "r", "x", "s", "l", "m", "nt", "rk")
_SUFFIXES = ("Holdings", "Group", "Technologies", "Systems", "Industries", "Partners", "Labs", "Capital",
             "Therapeutics", "Energy", "Networks", "Brands", "Logistics", "Materials", "Bancorp")
_SECTORS = ("Information Technology", "Health Care", "Financials", "Industrials", "Energy", "Materials",
            "Consumer Discretionary", "Consumer Staples", "Utilities", "Real Estate", "Communication Services")
_EXCHANGES = ("NYSE", "NASDAQ")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _word(rng: random.Random) -> str:
    syllables = rng.randint(2, 3)
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))


def extend_listings(real: Sequence[Listing], target: int, seed: int = 7) -> list[Listing]:
    """``real`` plus generated listings up to ``target`` in all (``real`` alone if already there)."""
    out = list(real)
    taken = {listing.symbol for listing in real}
    rng = random.Random(seed)
    while len(out) < target:
        symbol = "".join(rng.choice(_LETTERS) for _ in range(rng.randint(4, 5)))
        if symbol in taken:
            continue
        taken.add(symbol)
        cap = math.exp(rng.uniform(math.log(5e7), math.log(2e10)))
        out.append(
            Listing(
                symbol=symbol,
                name=f"{_word(rng).capitalize()} {rng.choice(_SUFFIXES)}",
                exchange=rng.choice(_EXCHANGES),
                sector=rng.choice(_SECTORS),
                market_cap=Decimal(int(cap)),
            )
        )
    return out
