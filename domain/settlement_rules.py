"""The money rules of settlement (DESIGN.md §3, docs/money.md), pure and exact.

When a sale's money becomes available to each party (release terms by payment
method), and how money leaving a sale (a refund, a chargeback) or withheld for a
dispute is shared among the sale's parties. Every division is `allocate`, so the
parts always sum to the whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from payledger.domain.money import allocate
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


def stakes(splits: Sequence[Mapping[str, Any]], *, platform_refunds_fee: bool) -> dict[str, int]:
    """What each party of a sale stands to lose if all of it is refunded.

    Its share of the sale (`splits`, from `Invoice.Paid`); when the platform keeps its
    fee on refunds, the fee is spread over the other parties by their shares, so the
    stakes still sum to what was paid.
    """
    parts = {split["party"]: int(split["amount"]) for split in splits}
    if platform_refunds_fee:
        return parts
    fee_parties = [s["party"] for s in splits if s["role"] == "platform"]
    others = [s["party"] for s in splits if s["role"] != "platform"]
    fee = sum(parts[p] for p in fee_parties)
    weights = [parts[p] for p in others]
    if not fee or sum(weights) == 0:
        return parts
    extra = allocate(fee, weights)
    return {**dict.fromkeys(fee_parties, 0),
            **{p: parts[p] + e for p, e in zip(others, extra, strict=True)}}


def shares(amount: int, remaining: Mapping[str, int]) -> dict[str, int]:
    """`amount` shared by what each party still has at stake in the sale.

    No part exceeds that party's remaining stake, and when `amount` is all that
    remains, each party gives back exactly its remaining stake.
    """
    if amount == 0 or not any(remaining.values()):
        return dict.fromkeys(remaining, 0)
    parties = list(remaining)
    parts = allocate(amount, [max(remaining[p], 0) for p in parties])
    return dict(zip(parties, parts, strict=True))


def remaining(stake: Mapping[str, int], steps: Iterable[int]) -> dict[str, int]:
    """Each party's stake left after the money that already left the sale, in order."""
    left = dict(stake)
    for amount in steps:
        for party, part in shares(amount, left).items():
            left[party] -= part
    return left
