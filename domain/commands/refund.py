"""Commands on a refund: requested, decided, carried out by the gateway."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from payledger.domain.commands.base import Cents, Command, LongText, Text
from payledger.domain.permissions import P, account_only, either, platform_only


class RequestRefund(Command):
    """Who asked (buyer, producer or support) follows from the principal
    (`payledger.domain.refund.requester`)."""

    allowed = either(P.REQUEST_REFUNDS)

    refund_id: UUID | None = None
    invoice_id: UUID
    amount: Cents | None = Field(default=None, description="None refunds all that remains")
    justification: LongText


class RefundCommand(Command):
    refund_id: UUID


class ApproveRefund(RefundCommand):
    allowed = account_only(P.MANAGE_REFUNDS)


class RejectRefund(RefundCommand):
    allowed = account_only(P.MANAGE_REFUNDS)
    reason: Text


class WithdrawRefund(RefundCommand):
    allowed = either(P.REQUEST_REFUNDS)
    reason: Text


class SendRefund(RefundCommand):
    allowed = platform_only(P.RECORD_PAYMENTS)
    gateway_reference: Text


class SucceedRefund(RefundCommand):
    allowed = platform_only(P.RECORD_PAYMENTS)


class FailRefund(RefundCommand):
    allowed = platform_only(P.RECORD_PAYMENTS)
    reason: Text


class CancelRefund(RefundCommand):
    """Take back an approved refund the gateway was never sent: its hold is released."""

    allowed = account_only(P.REQUEST_REFUNDS)
    reason: Text


class ExpireRefund(Command):
    """Time-driven: an approved refund not sent before its method's window closed."""

    allowed = platform_only(P.RUN_TIMED_STEPS)
    refund_id: UUID
