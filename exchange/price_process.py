"""Seeded fair values: a geometric random walk per symbol with volatility regimes (pure, deterministic).

The fair value is the simulation's latent state, a float in *ticks*; it never reaches the wire. The
market makers round it to integer ticks before quoting. Each symbol gets an annualised volatility
between 20% and 60% (from the seed and the symbol), scaled to the step length and a ``time_scale``
(simulated seconds per real second, so a demo's prices visibly move). Now and then a symbol enters a
turbulent regime (three times its volatility) for a while: that is what makes spreads widen.
Realised volatility is an exponentially weighted mean of squared log returns.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
EWMA_DECAY = 0.99
TURBULENT_MULTIPLIER = 3.0
P_ENTER_TURBULENCE = 0.002
P_LEAVE_TURBULENCE = 0.05


@dataclass(slots=True)
class FairValue:
    symbol: str
    ticks: float  # fair value in ticks of the symbol's tick size
    sigma: float  # calm per-step log-return standard deviation
    realized_var: float  # EWMA of squared per-step log returns
    turbulent: bool = False

    @property
    def vol_ratio(self) -> float:
        """Realised over calm volatility (1.0 in a calm market)."""
        return math.sqrt(self.realized_var) / self.sigma if self.sigma > 0 else 1.0


class PriceProcess:
    def __init__(self, reference: Iterable[tuple[str, Decimal, Decimal]], seed: int,
                 step_seconds: float = 0.5, time_scale: float = 60.0) -> None:
        """``reference``: (symbol, reference price, tick size), any order (sorted here for determinism)."""
        self.rng = random.Random(seed)
        self.values: dict[str, FairValue] = {}
        scale = math.sqrt(step_seconds * time_scale / TRADING_SECONDS_PER_YEAR)
        for symbol, price, tick in sorted(reference):
            annual = 0.2 + 0.4 * random.Random(f"{seed}:{symbol}").random()
            sigma = annual * scale
            self.values[symbol] = FairValue(symbol, float(price / tick), sigma, sigma * sigma)

    def step(self) -> None:
        """Advance every symbol one step (symbols in sorted order so the draws are reproducible)."""
        rng = self.rng
        for fv in self.values.values():
            if fv.turbulent:
                fv.turbulent = rng.random() >= P_LEAVE_TURBULENCE
            else:
                fv.turbulent = rng.random() < P_ENTER_TURBULENCE
            sigma = fv.sigma * (TURBULENT_MULTIPLIER if fv.turbulent else 1.0)
            r = rng.gauss(0.0, sigma)
            fv.ticks = max(fv.ticks * math.exp(r), 20.0)  # keep at least 20 ticks so spreads stay sane
            fv.realized_var = EWMA_DECAY * fv.realized_var + (1 - EWMA_DECAY) * r * r

    def __getitem__(self, symbol: str) -> FairValue:
        return self.values[symbol]
