"""Money and quantities as Decimal at fixed scales: cash to 4 dp (NUMERIC(20,4)), prices to 6 dp.

Rounding rules, chosen so a reservation always covers what it reserves for:
- reservations round UP (``ceil_cash``): a blocked amount is never less than the exposure;
- fill cash amounts round DOWN (``floor_cash``): the sum of the fills of an order never exceeds the
  order's reserved notional, since Σ floor(xᵢ) ≤ floor(Σ xᵢ) ≤ ceil(q·p);
- everything else (average costs, ratios) rounds half-even.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation

from ledger.errors import InvalidAmount, InvalidQuantity

CASH_DP = 4
CASH_QUANTUM = Decimal(1).scaleb(-CASH_DP)  # 0.0001
QTY_QUANTUM = Decimal("0.0001")
PRICE_QUANTUM = Decimal("0.000001")
ZERO = Decimal(0)
MAX_AMOUNT = Decimal("1e15")  # NUMERIC(20,4) holds 16 integer digits; leave headroom for sums


def quantize_cash(value: Decimal) -> Decimal:
    return value.quantize(CASH_QUANTUM, rounding=ROUND_HALF_EVEN)


def ceil_cash(value: Decimal) -> Decimal:
    return value.quantize(CASH_QUANTUM, rounding=ROUND_CEILING)


def floor_cash(value: Decimal) -> Decimal:
    return value.quantize(CASH_QUANTUM, rounding=ROUND_FLOOR)


def quantize_price(value: Decimal) -> Decimal:
    return value.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN)


def _to_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool | float):  # floats carry binary noise: refuse them outright
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def parse_amount(value: object) -> Decimal:
    """A positive cash amount with at most 4 decimals (e.g. a deposit), normalised to scale 4."""
    number = _to_decimal(value)
    if number is None:
        raise InvalidAmount(value, "not a finite decimal number")
    if number <= 0:
        raise InvalidAmount(value, "must be greater than zero")
    if number != number.quantize(CASH_QUANTUM, rounding=ROUND_HALF_EVEN):
        raise InvalidAmount(value, f"at most {CASH_DP} decimal places")
    if number >= MAX_AMOUNT:
        raise InvalidAmount(value, "too large")
    return number.quantize(CASH_QUANTUM)


def parse_quantity(value: object) -> Decimal:
    """A positive share quantity with at most 4 decimals."""
    number = _to_decimal(value)
    if number is None:
        raise InvalidQuantity(value, "not a finite decimal number")
    if number <= 0:
        raise InvalidQuantity(value, "must be greater than zero")
    if number != number.quantize(QTY_QUANTUM, rounding=ROUND_HALF_EVEN):
        raise InvalidQuantity(value, "at most 4 decimal places")
    return number.quantize(QTY_QUANTUM)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency; arithmetic across currencies is refused."""

    amount: Decimal
    currency: str = "USD"

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise InvalidAmount(self.amount, "money must be a finite Decimal")
        if len(self.currency) != 3 or not self.currency.isalpha() or not self.currency.isupper():
            raise InvalidAmount(self.currency, "currency must be an ISO 4217 code like USD")

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidAmount(other, f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def quantized(self) -> Money:
        return Money(quantize_cash(self.amount), self.currency)

    def __str__(self) -> str:
        return f"{quantize_cash(self.amount)} {self.currency}"
