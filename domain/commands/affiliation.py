"""Commands on an affiliation: asked for by the affiliate (through the host platform),
decided by whoever may approve affiliates."""

from __future__ import annotations

from payledger.domain.commands.base import Command, Text
from payledger.domain.permissions import Permission
from payledger.domain.splits import Party


class AffiliationCommand(Command):
    product_id: Text
    affiliate: Party


class RequestAffiliation(AffiliationCommand):
    permission = Permission.RECORD_PARTNER_ACTIONS


class ApproveAffiliation(AffiliationCommand):
    """Approved at the commission the producer set on the product."""

    permission = Permission.APPROVE_AFFILIATES


class RefuseAffiliation(AffiliationCommand):
    permission = Permission.APPROVE_AFFILIATES
    reason: Text


class EndAffiliation(AffiliationCommand):
    permission = Permission.APPROVE_AFFILIATES
    reason: Text
