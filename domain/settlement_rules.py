"""The money rules of settlement (DESIGN.md §3, docs/money.md), pure and exact.

When a sale's money becomes available to each party (release terms by payment
method), and how money leaving a sale (a refund, a chargeback) or withheld for a
dispute is shared among the sale's parties. Every division is `allocate`, so the
parts always sum to the whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from payledger.domain.money import apportion
from payledger.domain.time import day_start, local_date

Days = Annotated[int, Field(ge=0, le=365, strict=True)]
Policy = Literal["hubla", "hotmart"]


class ReleaseTerms(BaseModel):
    """Calendar days from the payment's confirmation to the money's release, by method."""

    model_config = ConfigDict(frozen=True)

    card_days: Days
    pix_days: Days
    boleto_days: Days

    @classmethod
    def preset(cls, policy: Policy, currency: str) -> ReleaseTerms:
        """Hubla: card D+15, Pix D+8; boleto D+2 after compensation (Hotmart's rule for
        boleto). Hotmart: 30 days for every BRL sale, 15 for other currencies.
        Sources in docs/money.md."""
        if policy == "hotmart":
            days = 30 if currency == "BRL" else 15
            return cls(card_days=days, pix_days=days, boleto_days=days)
        return cls(card_days=15, pix_days=8, boleto_days=2)

    def with_overrides(self, **days: int | None) -> ReleaseTerms:
        return self.model_copy(update={k: v for k, v in days.items() if v is not None})

    def days(self, method: str) -> int:
        return int(getattr(self, f"{method}_days"))

    def available_on(self, method: str, confirmed_at: datetime, timezone: str) -> datetime:
        """The start of the local calendar day `days(method)` after the confirmation."""
        day = local_date(confirmed_at, timezone) + timedelta(days=self.days(method))
        return day_start(day, timezone)


class Stake(NamedTuple):
    """One line of what a sale's parties stand to give back if all of it leaves."""

    party: str
    role: str
    amount: int
    kept_fee: bool = False  # the platform's fee the selling producer gives back for it


def stakes(splits: Sequence[Mapping[str, Any]], *, platform_refunds_fee: bool) -> list[Stake]:
    """The lines among which money leaving a sale is shared, summing to what was paid.

    Each party's share of the sale (`splits`, from `Invoice.Paid`). When the platform
    keeps its fee on money that leaves the sale, its line is 0 and the fee becomes a
    line of the selling producer's (docs/decisions/0004): a partner never gives back
    a fee it did not take. When the platform was the only party paid, it gives it back.
    """
    lines = [Stake(s["party"], s["role"], int(s["amount"])) for s in splits]
    fee = sum(line.amount for line in lines if line.role == "platform")
    others = sum(line.amount for line in lines if line.role != "platform")
    producer = next((line.party for line in lines if line.role == "producer"), None)
    if platform_refunds_fee or not fee or not others or producer is None:
        return lines
    kept = [line._replace(amount=0) if line.role == "platform" else line for line in lines]
    return [*kept, Stake(producer, "producer", fee, kept_fee=True)]


@dataclasses.dataclass(frozen=True)
class Outflows:
    """The money that left a sale so far (refunds and chargebacks, in order), per line
    of its `stakes`, by the cumulative rule (`apportion`, docs/money.md)."""

    stakes: list[Stake]
    given: list[int]

    @classmethod
    def of(cls, lines: list[Stake], steps: Iterable[int]) -> Outflows:
        outflows = cls(lines, [0] * len(lines))
        for amount in steps:
            outflows = outflows.after(outflows.shares(amount))
        return outflows

    def shares(self, amount: int) -> list[int]:
        """`amount`'s part per line: each cent to the line furthest below its exact
        cumulative share of all that left the sale, this amount included."""
        weights = [line.amount for line in self.stakes]
        if not amount or not sum(weights):
            return [0] * len(weights)
        return apportion(amount, weights, self.given)

    def after(self, shares: list[int]) -> Outflows:
        return Outflows(self.stakes, [g + s for g, s in zip(self.given, shares, strict=True)])

    def left(self) -> list[int]:
        """What each line still has at stake."""
        return [line.amount - g for line, g in zip(self.stakes, self.given, strict=True)]


def by_party(lines: Sequence[Stake], amounts: Sequence[int]) -> dict[str, tuple[int, int]]:
    """Per party, in the order of `lines`: its amount, and the part of it paying a
    kept fee."""
    parties: dict[str, tuple[int, int]] = {}
    for line, amount in zip(lines, amounts, strict=True):
        total, kept = parties.get(line.party, (0, 0))
        parties[line.party] = (total + amount, kept + (amount if line.kept_fee else 0))
    return parties
