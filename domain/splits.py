"""Split rules of a sale, fixed when the sale is made, and their exact division."""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from payledger.domain.money import BPS_WHOLE, allocate, apportion
from payledger.domain.permissions import PLATFORM_PARTY

Party = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Bps = Annotated[int, Field(ge=0, le=10_000, strict=True)]
Role = Literal["platform", "affiliate", "coproducer", "producer"]


class SplitLine(TypedDict):
    """One party's part of a sale (`split`), as the invoice's Paid event stores it."""

    party: str
    role: Role
    amount: int


class Share(BaseModel):
    model_config = ConfigDict(frozen=True)

    party: Party
    bps: Bps


class SplitRules(BaseModel):
    """Who gets what of a sale.

    The platform takes `platform_fee_bps` of the total plus a fixed fee; the affiliate
    takes its commission of what is left (the net); each coproducer takes its share of
    what then remains, and the producer keeps the rest. `split` works out every part
    exactly and rounds them all at once, so the parts always sum to the total.
    """

    model_config = ConfigDict(frozen=True)

    producer: Party
    platform: Party = PLATFORM_PARTY
    platform_fee_bps: Bps = 0
    platform_fee_fixed: Annotated[int, Field(ge=0, strict=True)] = 0
    affiliate: Share | None = None
    coproducers: tuple[Share, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> SplitRules:
        if sum(share.bps for share in self.coproducers) > 10_000:
            raise ValueError("coproducers: shares exceed 100%")
        parties = [self.producer, *(share.party for share in self.coproducers)]
        if self.affiliate is not None:
            parties.append(self.affiliate.party)
        if len(set(parties)) != len(parties) or self.platform in parties:
            raise ValueError("a party appears twice in the split rules")
        return self


EXACT = 10_000**3
"""Every exact part is a multiple of 1/EXACT cent: three percentages apply in turn."""


def split(total: int, rules: SplitRules) -> list[SplitLine]:
    """The parts of `total` per party, in cents, summing exactly to `total`.

    One pass (DESIGN.md §3, docs/money.md): every party's exact share of `total` is
    worked out first, as a fraction, and the cents are allocated once by largest
    remainder; rounding the fee before the rest would let its cent fall on whoever
    comes after it.
    """
    fee = min(Fraction(total), Fraction(total * rules.platform_fee_bps, BPS_WHOLE)
              + rules.platform_fee_fixed)
    net = total - fee
    lines: list[tuple[str, Role, Fraction]] = [(rules.platform, "platform", fee)]
    if rules.affiliate is not None:
        commission = net * rules.affiliate.bps / BPS_WHOLE
        lines.append((rules.affiliate.party, "affiliate", commission))
        net -= commission
    for share in rules.coproducers:
        lines.append((share.party, "coproducer", net * share.bps / BPS_WHOLE))
    lines.append((rules.producer, "producer", total - sum((part for *_, part in lines),
                                                          Fraction(0))))
    weights = [int(part * EXACT) for *_, part in lines]
    amounts = allocate(total, weights) if total else [0] * len(lines)
    return [{"party": p, "role": r, "amount": a}
            for (p, r, _), a in zip(lines, amounts, strict=True)]


def spread(parts: list[SplitLine], amounts: list[int]) -> list[list[SplitLine]]:
    """`parts` of a whole paid in `amounts` (an installment plan's), per amount.

    Each amount's cents go to the party furthest below its exact cumulative share of
    the amounts so far (`apportion`), so every amount's parts sum to it and, once all
    are paid, each party has exactly its part of the whole.
    """
    weights = [line["amount"] for line in parts]
    given = [0] * len(parts)
    spread_parts: list[list[SplitLine]] = []
    for amount in amounts:
        shares = apportion(amount, weights, given) if sum(weights) else [0] * len(parts)
        given = [g + s for g, s in zip(given, shares, strict=True)]
        spread_parts.append([{**line, "amount": s}
                             for line, s in zip(parts, shares, strict=True)])
    return spread_parts
