"""Split rules of a sale, fixed when the sale is made, and their exact division."""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from payledger.domain.money import allocate, bps_of
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
    what then remains, and the producer keeps the rest. Every step is integer cents, and
    the coproducers' and producer's parts are divided by largest remainder, so the parts
    always sum to the total.
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


def split(total: int, rules: SplitRules) -> list[SplitLine]:
    """The parts of `total` per party, in cents, summing exactly to `total`."""
    fee = min(total, bps_of(total, rules.platform_fee_bps) + rules.platform_fee_fixed)
    net = total - fee
    parts: list[tuple[str, Role, int]] = [(rules.platform, "platform", fee)]
    if rules.affiliate is not None:
        commission = bps_of(net, rules.affiliate.bps)
        parts.append((rules.affiliate.party, "affiliate", commission))
        net -= commission
    weights = [share.bps for share in rules.coproducers]
    producer_weight = 10_000 - sum(weights)
    amounts = allocate(net, [*weights, producer_weight]) if net else [0] * (len(weights) + 1)
    for share, amount in zip(rules.coproducers, amounts, strict=False):
        parts.append((share.party, "coproducer", amount))
    parts.append((rules.producer, "producer", amounts[-1]))
    return [{"party": p, "role": r, "amount": a} for p, r, a in parts]
