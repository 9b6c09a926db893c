"""Commands on a refund: requested, decided, carried out by the gateway."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from payledger.domain.commands.base import Cents, Command, LongText, Text
from payledger.domain.permissions import Permission


class RequestRefund(Command):
    permission = Permission.REQUEST_REFUNDS

    refund_id: UUID | None = None
    invoice_id: UUID
    amount: Cents | None = Field(default=None, description="None refunds all that remains")
    requested_by: Literal["buyer", "producer", "support"]
    justification: LongText


class RefundCommand(Command):
    refund_id: UUID


class ApproveRefund(RefundCommand):
    permission = Permission.MANAGE_REFUNDS


class RejectRefund(RefundCommand):
    permission = Permission.MANAGE_REFUNDS
    reason: Text


class WithdrawRefund(RefundCommand):
    permission = Permission.REQUEST_REFUNDS
    reason: Text


class SendRefund(RefundCommand):
    permission = Permission.RECORD_PAYMENTS
    gateway_reference: Text


class SucceedRefund(RefundCommand):
    permission = Permission.RECORD_PAYMENTS


class FailRefund(RefundCommand):
    permission = Permission.RECORD_PAYMENTS
    reason: Text
