"""Commands on an installment plan: the sale, its monthly charges, cancel and refund."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from payledger.domain.commands.base import Command, Currency, LongText, Text
from payledger.domain.commands.invoice import Item, Sale
from payledger.domain.customer import Customer
from payledger.domain.money import MAX_INSTALLMENTS
from payledger.domain.permissions import P, either, platform_only

Number = Annotated[int, Field(ge=1, le=MAX_INSTALLMENTS, strict=True)]


class CreateInstallmentPlan(Sale):
    """A sale in `count` monthly installments; the first is invoiced and charged at once.

    `fee` is the smart-installment fee, a total in minor units added to the price; the
    buyer pays price + fee in `count` installments. `first_due` defaults to the day of
    the sale in the account's timezone.
    """

    allowed = platform_only(P.SELL)

    plan_id: UUID | None = None
    items: Annotated[tuple[Item, ...], Field(min_length=1, max_length=100)]
    customer: Customer
    currency: Currency
    method: Literal["card", "pix", "boleto"] = "card"
    count: Number
    fee: Annotated[int, Field(ge=0, le=10**12, strict=True)] = 0
    first_due: date | None = None
    warranty_days: Annotated[int, Field(ge=0, le=365)] = 7


class PlanCommand(Command):
    plan_id: UUID


class InvoiceInstallment(PlanCommand):
    """Time-driven: invoice and charge installment `number` (default: the next one due)."""

    allowed = platform_only(P.RUN_TIMED_STEPS)
    number: Number | None = None


class MarkInstallmentOverdue(PlanCommand):
    """Time-driven: installment `number` (default: the earliest due) passed its due day unpaid."""

    allowed = platform_only(P.RUN_TIMED_STEPS)
    number: Number | None = None


class ReprocessInstallment(PlanCommand):
    """Charge an overdue installment again (a new charge request on its invoice)."""

    allowed = either(P.MANAGE_SUBSCRIPTIONS, P.SELL)
    number: Number


class CancelPlan(PlanCommand):
    """Charge nothing more: scheduled installments canceled, open invoices voided."""

    allowed = either(P.MANAGE_SUBSCRIPTIONS, P.SELL)
    reason: Text


class RefundPlan(PlanCommand):
    """Request a refund of every paid installment. The plan is held (nothing more is
    invoiced) until the refunds are decided: an approval cancels what is left, a
    rejection or withdrawal lets the plan go on."""

    allowed = either(P.REQUEST_REFUNDS)
    justification: LongText
