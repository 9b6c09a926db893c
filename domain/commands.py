"""Commands: what a caller asks of the ledger, validated before anything is loaded.

Each command names the permission it needs. Constructing one with bad input raises
`payledger.domain.errors.ValidationError` naming the field (dotted for nested fields),
never pydantic's own error, so callers handle one hierarchy.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from payledger.domain.customer import Customer
from payledger.domain.errors import ValidationError
from payledger.domain.money import currency_code
from payledger.domain.permissions import Permission
from payledger.domain.splits import SplitRules
from payledger.domain.time import aware

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Cents = Annotated[int, Field(ge=1, le=10**12, strict=True)]


def _in_field(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Run a domain check as a pydantic one, so its error is named by the field it is on."""

    def validate(value: Any) -> Any:
        try:
            return check(value)
        except ValidationError as error:
            raise PydanticCustomError("payledger", error.reason) from None

    return validate


Instant = Annotated[datetime, AfterValidator(_in_field(lambda v: aware(v, "instant")))]
Currency = Annotated[str, AfterValidator(_in_field(currency_code))]


def from_pydantic(error: pydantic.ValidationError) -> ValidationError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "command"
    return ValidationError(field, first["msg"])


class Command(BaseModel):
    """Fields every command may carry besides its own."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    permission: ClassVar[Permission]

    at: Instant | None = None
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as error:
            raise from_pydantic(error) from None

    def digest_fields(self) -> dict[str, Any]:
        """What makes two commands "the same request" for an idempotency key."""
        meta = {"at", "idempotency_key", "correlation_id", "causation_id"}
        return self.model_dump(mode="json", exclude=meta)


class Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: Text
    description: str = ""
    quantity: Annotated[int, Field(ge=1, le=10_000, strict=True)] = 1
    unit_price: Cents


# -- invoice --------------------------------------------------------------------


class CreateInvoice(Command):
    permission = Permission.SELL

    invoice_id: UUID | None = None
    items: Annotated[tuple[Item, ...], Field(min_length=1, max_length=100)]
    customer: Customer
    currency: Currency
    method: Literal["card", "pix", "boleto"]
    split: SplitRules
    warranty_days: Annotated[int, Field(ge=0, le=365)] = 7
    origin: Literal["sale", "installment", "subscription"] = "sale"
    origin_id: UUID | None = None

    @property
    def subtotal(self) -> int:
        return sum(item.quantity * item.unit_price for item in self.items)


class InvoiceCommand(Command):
    invoice_id: UUID


class ApplyDiscount(InvoiceCommand):
    permission = Permission.SELL
    amount: Cents
    coupon: Text | None = None


class RequestCharge(InvoiceCommand):
    permission = Permission.SELL
    reason: Text = "checkout"


class DeclineCard(InvoiceCommand):
    permission = Permission.RECORD_PAYMENTS
    reason: Text


class ApproveCard(InvoiceCommand):
    permission = Permission.RECORD_PAYMENTS
    authorization_code: Text


class IssuePix(InvoiceCommand):
    permission = Permission.RECORD_PAYMENTS
    txid: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9]{26,35}$")]
    expires_in_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] | None = None


class IssueBoleto(InvoiceCommand):
    permission = Permission.RECORD_PAYMENTS
    digitable_line: Annotated[str, StringConstraints(pattern=r"^[0-9]{47,48}$")]
    due_at: Instant


class RecordPayment(InvoiceCommand):
    """A Pix (end-to-end id) or boleto payment reported by the gateway."""

    permission = Permission.RECORD_PAYMENTS
    reference: Text
    paid_at: Instant | None = None


class ExpireInvoice(InvoiceCommand):
    permission = Permission.RECORD_PAYMENTS


class AbandonCheckout(InvoiceCommand):
    permission = Permission.SELL
    window_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] | None = None


class VoidInvoice(InvoiceCommand):
    permission = Permission.SELL
    reason: Text


class MarkUncollectible(InvoiceCommand):
    permission = Permission.RECORD_PAYMENTS
    reason: Text


class OpenDispute(InvoiceCommand):
    permission = Permission.RECORD_PAYMENTS
    reason: Text
    respond_by: Instant


class WinDispute(InvoiceCommand):
    permission = Permission.RECORD_PAYMENTS


class LoseDispute(InvoiceCommand):
    permission = Permission.RECORD_PAYMENTS


class EndWarranty(InvoiceCommand):
    permission = Permission.SELL


# -- refund -----------------------------------------------------------------------


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
