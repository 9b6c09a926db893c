"""Commands on an affiliation: asked for and left by the affiliate as a principal of its
own account (`PartnerAnswer`), decided and ended by whoever may approve affiliates."""

from __future__ import annotations

from payledger.domain.commands.base import Command, PartnerAnswer, Text
from payledger.domain.permissions import P, account_only, either
from payledger.domain.splits import Party


class AffiliationCommand(Command):
    product_id: Text
    affiliate: Party


class RequestAffiliation(AffiliationCommand, PartnerAnswer):
    allowed = either(P.ANSWER_PARTNERSHIPS, P.RECORD_PARTNER_ACTIONS)

    @property
    def partner(self) -> str:
        return self.affiliate


class LeaveAffiliation(AffiliationCommand, PartnerAnswer):
    """The affiliate ends its own affiliation."""

    allowed = either(P.ANSWER_PARTNERSHIPS, P.RECORD_PARTNER_ACTIONS)
    reason: Text = "left"

    @property
    def partner(self) -> str:
        return self.affiliate


class ApproveAffiliation(AffiliationCommand):
    """Approved at the commission the producer set on the product."""

    allowed = account_only(P.APPROVE_AFFILIATES)


class RefuseAffiliation(AffiliationCommand):
    allowed = account_only(P.APPROVE_AFFILIATES)
    reason: Text


class EndAffiliation(AffiliationCommand):
    allowed = account_only(P.APPROVE_AFFILIATES)
    reason: Text
