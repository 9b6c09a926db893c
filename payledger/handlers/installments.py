"""Handlers of the installment-plan commands, and the plan following its invoices.

Every installment's Invoice is created, charged, voided or refunded in the same
transaction as the plan event that asks for it; the plan hears of payments and
refunds through its outcome hook (`INSTALLMENT_PLANS.outcome_hooks["installment"]`).
"""

from __future__ import annotations

from typing import cast
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.installments import (
    VOIDABLE,
    InstallmentPlan,
    PlanRefund,
    installment_invoice_id,
)
from payledger.domain.invoice import Invoice, InvoiceItem
from payledger.domain.refund import Refund, RefundStatus, requester
from payledger.handlers.account import account_timezone
from payledger.handlers.customer import link_customer
from payledger.handlers.product import sale_rules
from payledger.handlers.refund import request_refund
from payledger.settings import Settings
from payledger.wiring import AggregateWiring
from payledger.work import Work

APPROVED = {RefundStatus.APPROVED, RefundStatus.PENDING, RefundStatus.SUCCEEDED}
"""A refund's states that mean it was approved."""


def create_plan(work: Work, cmd: c.CreateInstallmentPlan, settings: Settings) -> UUID:
    plan = work.add(InstallmentPlan.sell(
        id=work.new_id(InstallmentPlan, cmd.plan_id),
        customer=cmd.customer.to_dict(),
        items=[cast(InvoiceItem, item.model_dump(mode="json")) for item in cmd.items],
        currency=cmd.currency,
        method=cmd.method,
        split_rules=sale_rules(work, cmd, cmd.items[0].product_id, settings).model_dump(
            mode="json"),
        count=cmd.count,
        fee=cmd.fee,
        first_due=cmd.first_due,
        timezone=account_timezone(work, settings),
        warranty_days=cmd.warranty_days,
    ))
    link_customer(work, plan.customer, "InstallmentPlan", plan.id)
    invoice_installment(work, plan, 1, "checkout")
    return plan.id


def invoice_installment(work: Work, plan: InstallmentPlan, number: int, reason: str) -> Invoice:
    """Record installment `number`'s invoice on the plan, create it and ask for its charge."""
    invoice_id = installment_invoice_id(plan.id, number)
    plan.invoice_installment(number, invoice_id, plan.now)
    invoice = work.add(Invoice(
        id=invoice_id,
        items=plan.invoice_lines(number),
        customer=plan.customer,
        currency=plan.currency,
        method=plan.method,
        split_rules=plan.invoice_split_rules(number),
        subtotal=plan.installment(number)["amount"],
        warranty_days=plan.invoice_warranty_days(number),
        origin="installment",
        origin_id=plan.id,
    ))
    invoice.request_charge(reason)
    return invoice


def _invoice(work: Work, cmd: c.InvoiceInstallment, _: Settings) -> UUID:
    plan = work.named(InstallmentPlan, cmd.plan_id)
    number = cmd.number or plan.next_to_invoice()
    if number is None:
        raise plan.refuse("invoice an installment", "no installment may be invoiced now")
    invoice_installment(work, plan, number, "installment")
    return plan.id


def _overdue(work: Work, cmd: c.MarkInstallmentOverdue, _: Settings) -> UUID:
    plan = work.named(InstallmentPlan, cmd.plan_id)
    number = cmd.number or plan.next_overdue(plan.now)
    if number is None:
        raise plan.refuse("mark an installment overdue", "no installment is past due unpaid")
    plan.mark_overdue(number, plan.now)
    return plan.id


def _reprocess(work: Work, cmd: c.ReprocessInstallment, _: Settings) -> UUID:
    plan = work.named(InstallmentPlan, cmd.plan_id)
    invoice = work.get(Invoice, plan.reprocessable(cmd.number))
    invoice.request_charge("reprocess")
    plan.reprocess(cmd.number)
    return plan.id


def cancel_plan(work: Work, plan: InstallmentPlan, reason: str) -> None:
    """Void the open invoices of the plan and cancel what it has not charged."""
    plan.check_cancel()
    for invoice_id in plan.open_invoice_ids():
        invoice = work.get(Invoice, invoice_id)
        if invoice.status in VOIDABLE:
            invoice.void(f"installment plan canceled: {reason}")
    plan.cancel(reason)


def _cancel(work: Work, cmd: c.CancelPlan, _: Settings) -> UUID:
    plan = work.named(InstallmentPlan, cmd.plan_id)
    cancel_plan(work, plan, cmd.reason)
    return plan.id


def _refund(work: Work, cmd: c.RefundPlan, settings: Settings) -> UUID:
    plan = work.named(InstallmentPlan, cmd.plan_id)
    refunds: list[PlanRefund] = []
    for number in plan.numbers("paid", "paid_late"):
        invoice = work.get(Invoice, plan.invoice_of(number))
        if invoice.refundable <= 0:
            continue  # refunds in flight already hold all of it
        refund_id = request_refund(work, c.RequestRefund(
            invoice_id=invoice.id, justification=cmd.justification), settings)
        refunds.append({"number": number, "refund_id": str(refund_id),
                        "amount": invoice.reserved[str(refund_id)]})
    plan.request_refunds(refunds, cmd.justification, requester(work.actor))
    return plan.id


def follow_invoice(work: Work, invoice: Invoice) -> None:
    """The outcome hook of installment invoices: the plan follows its installment's
    invoice, and a refund request holding it follows the refunds' decision."""
    if invoice.origin_id is None:
        return
    plan = work.get(InstallmentPlan, invoice.origin_id)
    plan.follow_invoice(invoice)
    if plan.held_by:
        follow_refunds(work, plan)


def follow_refunds(work: Work, plan: InstallmentPlan) -> None:
    """A plan's refund request holds it (nothing more is invoiced); the request is not
    its approval. The first refund approved cancels what is left of the plan; when every
    one was rejected, withdrawn or otherwise ended unapproved, the plan goes on."""
    statuses = {work.get(Refund, UUID(refund_id)).status for refund_id in plan.held_by}
    if statuses & APPROVED:
        plan.decide_hold(approved=True)
        if plan.open:
            cancel_plan(work, plan, "its refund was approved")
    elif RefundStatus.REQUESTED not in statuses:
        plan.decide_hold(approved=False)


INSTALLMENT_PLANS = AggregateWiring(
    kind=InstallmentPlan,
    app="ledger",
    handlers={
        c.CreateInstallmentPlan: create_plan,
        c.InvoiceInstallment: _invoice,
        c.MarkInstallmentOverdue: _overdue,
        c.ReprocessInstallment: _reprocess,
        c.CancelPlan: _cancel,
        c.RefundPlan: _refund,
    },
    timed_steps={
        "invoice_installment": lambda i, at: c.InvoiceInstallment(plan_id=i, at=at),
        "mark_overdue": lambda i, at: c.MarkInstallmentOverdue(plan_id=i, at=at),
    },
    outcome_hooks={"installment": follow_invoice},
)
