"""Money as integer minor units, and the exact arithmetic that splits it.

Amounts are always `int` counts of the currency's minor unit (cents for BRL, yen for
JPY); floats and Decimals never enter. Every split below sums back exactly to the total
it was given, so no cent is created or lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator

from payledger.domain.errors import ValidationError

MINOR_UNITS: Mapping[str, int] = MappingProxyType(
    {
        "ARS": 2,
        "AUD": 2,
        "BRL": 2,
        "CAD": 2,
        "CLP": 0,
        "COP": 2,
        "EUR": 2,
        "GBP": 2,
        "JPY": 0,
        "MXN": 2,
        "PEN": 2,
        "PYG": 0,
        "USD": 2,
        "UYU": 2,
    }
)
"""Supported ISO 4217 codes and the exponent of their minor unit."""

BPS_WHOLE = 10_000
"""Basis points in one whole (100%)."""


def currency_code(value: str) -> str:
    """Return `value` as a supported ISO 4217 code (upper case), or raise."""
    code = value.strip().upper()
    if code not in MINOR_UNITS:
        raise ValidationError("currency", f"unsupported currency code {value!r}")
    return code


def minor_units(currency: str) -> int:
    """Return the minor-unit exponent of a supported currency (2 for BRL, 0 for JPY)."""
    return MINOR_UNITS[currency_code(currency)]


def _currency_input(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("currency", "must be a string")
    return currency_code(value)


Currency = Annotated[str, BeforeValidator(_currency_input)]
"""A pydantic field type holding a validated, upper-case currency code."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Money(BaseModel):
    """An amount in minor units of one currency; negative amounts are balances owed."""

    model_config = ConfigDict(frozen=True, strict=True)

    amount: int
    currency: Currency

    @field_validator("amount", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> object:
        if not _is_int(value):
            raise ValidationError("amount", "must be an integer number of minor units")
        return value

    @classmethod
    def of(cls, amount: int, currency: str) -> Money:
        return cls(amount=amount, currency=currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=0, currency=currency)

    def is_zero(self) -> bool:
        return self.amount == 0

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._check_same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount=-self.amount, currency=self.currency)

    def __str__(self) -> str:
        return f"{self.currency} {format_minor(self.amount, MINOR_UNITS[self.currency])}"

    def _check_same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValidationError(
                "currency", f"cannot combine {self.currency} with {other.currency}"
            )


def format_minor(amount: int, exponent: int) -> str:
    """Write minor units as a decimal string: `format_minor(-1234, 2) == "-12.34"`."""
    sign = "-" if amount < 0 else ""
    if exponent == 0:
        return f"{sign}{abs(amount)}"
    whole, fraction = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}"


def check_bps(field: str, bps: int) -> int:
    """Return `bps` if it is a percentage in basis points (0..10_000), else raise."""
    if not _is_int(bps) or not 0 <= bps <= BPS_WHOLE:
        raise ValidationError(field, f"must be an integer from 0 to {BPS_WHOLE} basis points")
    return bps


def bps_of(amount: int, bps: int) -> int:
    """Return `amount * bps / 10_000` rounded to the nearest minor unit.

    Exact integer math. A half rounds away from zero: half up for a positive result
    (`bps_of(5, 1_000) == 1`), half down for a negative one (`bps_of(-5, 1_000) == -1`),
    so `bps_of(-a, b) == -bps_of(a, b)`. `bps` is not capped here; call `check_bps`
    where a percentage is meant.
    """
    magnitude = (abs(amount) * abs(bps) + BPS_WHOLE // 2) // BPS_WHOLE
    return -magnitude if (amount < 0) != (bps < 0) else magnitude


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` in proportion to `weights`, the parts summing exactly to `total`.

    Largest remainder: each part gets the floor of its exact share, and the minor units
    left over go one each to the largest remainders, the earliest index winning a tie.
    Each part is therefore within one unit of its exact share, and a zero weight gets
    zero. A negative total is allocated by magnitude and negated.
    """
    _check_weights(weights)
    if total < 0:
        return [-part for part in allocate(-total, weights)]
    whole = sum(weights)
    shares = [divmod(total * weight, whole) for weight in weights]
    left_over = total - sum(floor for floor, _ in shares)
    by_remainder = sorted(range(len(shares)), key=lambda index: (-shares[index][1], index))
    winners = set(by_remainder[:left_over])
    return [floor + (1 if index in winners else 0) for index, (floor, _) in enumerate(shares)]


def apportion(amount: int, weights: Sequence[int], given: Sequence[int]) -> list[int]:
    """Share `amount`, one step of a whole moving in steps, by cumulative exact shares.

    `weights` are the parties' parts of the whole, `given` what each already moved in
    earlier steps. Each unit of `amount` goes to the party furthest below its exact
    cumulative share of everything moved so far, this step included (weight x moved /
    whole), the earliest index winning a tie. So no part is negative, after any
    sequence of steps each party's total is within one unit of its exact share, and
    when the whole has moved each party has moved exactly its weight.

    Units go in bulk where the order cannot matter: a party below its share by more
    than one unit per party gets all but that many at once, the rest one by one (at
    most a few dozen), so a large amount costs no more than a small one.
    """
    _check_weights(weights)
    if len(given) != len(weights):
        raise ValidationError("given", "one amount per weight")
    if amount < 0:
        raise ValidationError("amount", "must not be negative")
    whole, count = sum(weights), len(weights)
    moved = sum(given) + amount
    # deficits scaled by `whole`, so they are integers: weight x moved - given x whole
    deficits = [weight * moved - part * whole for weight, part in zip(weights, given,
                                                                        strict=True)]
    parts = [0] * count
    left = amount
    for index, deficit in enumerate(deficits):
        bulk = min(max(deficit // whole - count, 0), left)
        parts[index] += bulk
        deficits[index] -= bulk * whole
        left -= bulk
    for _ in range(left):
        index = max(range(count), key=lambda i: (deficits[i], -i))
        parts[index] += 1
        deficits[index] -= whole
    return parts


def _check_weights(weights: Sequence[int]) -> None:
    if not all(_is_int(weight) and weight >= 0 for weight in weights):
        raise ValidationError("weights", "must be non-negative integers")
    if sum(weights) <= 0:
        raise ValidationError("weights", "must have a positive sum")


def split_by_bps(total: int, shares_bps: Sequence[int]) -> list[int]:
    """Split `total` by shares in basis points that add up to exactly 10_000."""
    if not all(_is_int(share) and share >= 0 for share in shares_bps):
        raise ValidationError("shares", "must be non-negative integer basis points")
    if sum(shares_bps) != BPS_WHOLE:
        raise ValidationError("shares", f"must sum to {BPS_WHOLE} basis points")
    return allocate(total, shares_bps)


MAX_INSTALLMENTS = 12


def installments(total: int, count: int) -> list[int]:
    """Split `total` into `count` (1..12) parts differing by at most one minor unit.

    The larger parts come first: `installments(1000, 3) == [334, 333, 333]`, and
    `installments(-1000, 3) == [-333, -333, -334]`.
    """
    if not _is_int(count) or not 1 <= count <= MAX_INSTALLMENTS:
        raise ValidationError("count", f"must be from 1 to {MAX_INSTALLMENTS}")
    base, extra = divmod(total, count)
    return [base + 1] * extra + [base] * (count - extra)
