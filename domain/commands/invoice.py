"""Commands on an invoice: the checkout and the gateway's reports."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from payledger.domain.commands.base import Cents, Command, Currency, Instant, Text, _in_field
from payledger.domain.commands.coupon import Code
from payledger.domain.customer import Customer
from payledger.domain.errors import ValidationError
from payledger.domain.permissions import P, either, platform_only
from payledger.domain.splits import Party, SplitRules
from payledger.domain.text import clean_line


class Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: Text
    description: Annotated[str, StringConstraints(max_length=500),
                           AfterValidator(_in_field(clean_line))] = ""
    quantity: Annotated[int, Field(ge=1, le=10_000, strict=True)] = 1
    unit_price: Cents


class Sale(Command):
    """What every sale (invoice, installment plan, subscription) says of its split.

    Without `split`, the rules in force at the command's instant are taken: the
    coproductions of the sold product and the approved affiliation of `affiliate` to
    it, with the platform fee of the settings.
    """

    split: SplitRules | None = None
    affiliate: Party | None = None

    @model_validator(mode="after")
    def _one_source_of_rules(self) -> Sale:
        if self.split is not None and self.affiliate is not None:
            raise ValidationError("affiliate", "an explicit split names its own affiliate")
        return self


class CreateInvoice(Sale):
    """A sale (or a cycle or installment) as a draft invoice.

    The split rules are the first item's product's (see `Sale`). `coupon_code` is
    redeemed in the same transaction and lowers the total.
    """

    allowed = platform_only(P.SELL)

    invoice_id: UUID | None = None
    items: Annotated[tuple[Item, ...], Field(min_length=1, max_length=100)]
    customer: Customer
    currency: Currency
    method: Literal["card", "pix", "boleto"]
    coupon_code: Code | None = None
    warranty_days: Annotated[int, Field(ge=0, le=365)] = 7
    origin: Literal["sale", "installment", "subscription"] = "sale"
    origin_id: UUID | None = None

    @property
    def subtotal(self) -> int:
        return sum(item.quantity * item.unit_price for item in self.items)


class InvoiceCommand(Command):
    invoice_id: UUID


class ApplyDiscount(InvoiceCommand):
    allowed = platform_only(P.SELL)
    amount: Cents
    coupon: Text | None = None


class RequestCharge(InvoiceCommand):
    allowed = platform_only(P.SELL)
    reason: Text = "checkout"


class DeclineCard(InvoiceCommand):
    allowed = platform_only(P.RECORD_PAYMENTS)
    reason: Text


class ApproveCard(InvoiceCommand):
    allowed = platform_only(P.RECORD_PAYMENTS)
    authorization_code: Text


class IssuePix(InvoiceCommand):
    allowed = platform_only(P.RECORD_PAYMENTS)
    txid: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9]{26,35}$")]
    expires_in_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] | None = None


class IssueBoleto(InvoiceCommand):
    allowed = platform_only(P.RECORD_PAYMENTS)
    digitable_line: Annotated[str, StringConstraints(pattern=r"^[0-9]{47,48}$")]
    AHEAD = frozenset({"due_at"})
    due_at: Instant


class RecordPayment(InvoiceCommand):
    """A Pix (end-to-end id) or boleto payment reported by the gateway."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    reference: Text
    paid_at: Instant | None = None


class ExpireInvoice(InvoiceCommand):
    allowed = platform_only(P.RUN_TIMED_STEPS)


class AbandonCheckout(InvoiceCommand):
    allowed = platform_only(P.RUN_TIMED_STEPS)
    window_seconds: Annotated[int, Field(ge=60, le=30 * 86_400)] | None = None


class VoidInvoice(InvoiceCommand):
    allowed = either(P.REQUEST_REFUNDS, P.SELL)
    reason: Text


class MarkUncollectible(InvoiceCommand):
    allowed = platform_only(P.RECORD_PAYMENTS)
    reason: Text


class OpenDispute(InvoiceCommand):
    allowed = platform_only(P.RECORD_PAYMENTS)
    reason: Text
    AHEAD = frozenset({"respond_by"})
    respond_by: Instant


class WinDispute(InvoiceCommand):
    allowed = platform_only(P.RECORD_PAYMENTS)


class LoseDispute(InvoiceCommand):
    """`amount`: what the card network took back, as the gateway reports it (default:
    what was paid less the refunds that succeeded)."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    amount: Cents | None = None


class EndWarranty(InvoiceCommand):
    allowed = platform_only(P.RUN_TIMED_STEPS)


