"""Commands on a product and its coproductions.

The owner registers products and invites or ends coproducers; the coproducer answers
(accept, decline) as a principal of its own account (`PartnerAnswer`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from payledger.domain.commands.base import Command, Instant, PartnerAnswer, Text
from payledger.domain.commands.subscription import SubscriptionPlan
from payledger.domain.permissions import P, account_only, either
from payledger.domain.splits import Party

Share = Annotated[int, Field(ge=1, le=10_000, strict=True)]


class RegisterProduct(Command):
    """The producer party is the registering account; no commission means no
    affiliates yet."""

    allowed = account_only(P.MANAGE_PRODUCTS)

    product_id: Text
    name: Text
    affiliate_commission_bps: Share | None = None


class ProductCommand(Command):
    product_id: Text


class SetAffiliateCommission(ProductCommand):
    allowed = account_only(P.MANAGE_PRODUCTS)
    bps: Share | None


class InviteCoproducer(ProductCommand):
    """`starts_at` defaults to the command's instant."""

    allowed = account_only(P.MANAGE_PRODUCTS)
    coproducer: Party
    bps: Share
    AHEAD = frozenset({"starts_at"})
    starts_at: Instant | None = None


class AcceptCoproduction(ProductCommand, PartnerAnswer):
    allowed = either(P.ANSWER_PARTNERSHIPS, P.RECORD_PARTNER_ACTIONS)
    coproducer: Party

    @property
    def partner(self) -> str:
        return self.coproducer


class DeclineCoproduction(ProductCommand, PartnerAnswer):
    allowed = either(P.ANSWER_PARTNERSHIPS, P.RECORD_PARTNER_ACTIONS)
    coproducer: Party
    reason: Text = "declined"

    @property
    def partner(self) -> str:
        return self.coproducer


class EndCoproduction(ProductCommand):
    allowed = account_only(P.MANAGE_PRODUCTS)
    coproducer: Party
    reason: Text


class RegisterSubscriptionPlan(ProductCommand):
    """A plan subscribers of the product may be switched to (`SwitchPlan` names it)."""

    allowed = account_only(P.MANAGE_PRODUCTS)
    plan: SubscriptionPlan
