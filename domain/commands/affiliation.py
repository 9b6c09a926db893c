"""Commands on an affiliation: asked for by the affiliate (through the host platform),
decided by whoever may approve affiliates."""

from __future__ import annotations

from payledger.domain.commands.base import Command, Text
from payledger.domain.permissions import P, account_only, platform_only
from payledger.domain.splits import Party


class AffiliationCommand(Command):
    product_id: Text
    affiliate: Party


class RequestAffiliation(AffiliationCommand):
    allowed = platform_only(P.RECORD_PARTNER_ACTIONS)


class ApproveAffiliation(AffiliationCommand):
    """Approved at the commission the producer set on the product."""

    allowed = account_only(P.APPROVE_AFFILIATES)


class RefuseAffiliation(AffiliationCommand):
    allowed = account_only(P.APPROVE_AFFILIATES)
    reason: Text


class EndAffiliation(AffiliationCommand):
    allowed = account_only(P.APPROVE_AFFILIATES)
    reason: Text
