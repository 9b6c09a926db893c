"""Handlers of the invoice commands."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.invoice import Invoice, InvoiceItem
from payledger.domain.refund import Refund, end_for_chargeback
from payledger.handlers.coupon import redeem_coupon
from payledger.handlers.product import sale_rules
from payledger.handlers.refund import refund_late_payment
from payledger.handlers.steps import invoice_changed, of, on_one
from payledger.settings import Settings
from payledger.wiring import AggregateWiring, Handler
from payledger.work import Work

InvoiceStep = Callable[[Invoice, Any, Settings], None]


def create_invoice(work: Work, cmd: c.CreateInvoice, settings: Settings) -> UUID:
    """A draft invoice; its split rules are the command's, or those in force now.

    A coupon is redeemed in the same transaction: the coupon and the invoice are saved
    together or not at all, so a coupon's usage limit is exact.
    """
    rules = sale_rules(work, cmd, cmd.items[0].product_id, settings)
    invoice = Invoice(
        id=work.new_id(Invoice, cmd.invoice_id),
        items=[cast(InvoiceItem, item.model_dump(mode="json")) for item in cmd.items],
        customer=cmd.customer.to_dict(),
        currency=cmd.currency,
        method=cmd.method,
        split_rules=rules.model_dump(mode="json"),
        subtotal=cmd.subtotal,
        warranty_days=cmd.warranty_days,
        origin=cmd.origin,
        origin_id=cmd.origin_id,
    )
    work.add(invoice)
    if cmd.coupon_code is not None:
        redeem_coupon(work, invoice, cmd.coupon_code)
    return invoice.id


def on_invoice(step: InvoiceStep) -> Handler:
    """A handler running `step` on the command's invoice; the plan or subscription
    that issued the invoice follows it."""

    def run(work: Work, invoice: Invoice, cmd: Any, settings: Settings) -> None:
        step(invoice, cmd, settings)
        invoice_changed(work, invoice)

    return of(step)(on_one(lambda work, cmd: work.named(Invoice, cmd.invoice_id))(run))


@on_invoice
def _discount(invoice: Invoice, cmd: c.ApplyDiscount, _: Settings) -> None:
    invoice.apply_discount(cmd.amount, cmd.coupon)


@on_invoice
def _charge(invoice: Invoice, cmd: c.RequestCharge, _: Settings) -> None:
    invoice.request_charge(cmd.reason)


@on_invoice
def _decline(invoice: Invoice, cmd: c.DeclineCard, _: Settings) -> None:
    invoice.decline_card(cmd.reason)


def on_payment(step: InvoiceStep) -> Handler:
    """A handler running `step`, a payment the gateway reports; a payment on an invoice
    the ledger closed while the attempt was pending is answered by the `late_payment`
    policy (`answer_late_payment`), and what closed it stays closed."""

    def run(work: Work, invoice: Invoice, cmd: Any, settings: Settings) -> None:
        step(invoice, cmd, settings)
        if not answer_late_payment(work, invoice, settings):
            invoice_changed(work, invoice)

    return of(step)(on_one(lambda work, cmd: work.named(Invoice, cmd.invoice_id))(run))


def answer_late_payment(work: Work, invoice: Invoice, settings: Settings) -> bool:
    """Whether `invoice` was just paid after the ledger closed it, and so answered:
    refunded at once (`late_payment="refund"`, the default), or kept when it is a one-off
    sale and the policy is "reopen". A plan's or a subscription's invoice is refunded
    either way: what its cancellation ended is not reopened by a payment."""
    paid = invoice.pending_events[-1] if invoice.pending_events else None
    if not isinstance(paid, Invoice.Paid) or paid.after_close is None:
        return False
    if settings.late_payment == "reopen" and invoice.origin == "sale":
        return True
    refund_late_payment(work, invoice, settings, paid.after_close)
    return True


@on_payment
def _approve(invoice: Invoice, cmd: c.ApproveCard, _: Settings) -> None:
    invoice.approve_card(cmd.authorization_code)


@on_invoice
def _pix(invoice: Invoice, cmd: c.IssuePix, settings: Settings) -> None:
    seconds = cmd.expires_in_seconds or settings.pix_expiry_seconds
    invoice.issue_pix(cmd.txid, timedelta(seconds=seconds))


@on_invoice
def _boleto(invoice: Invoice, cmd: c.IssueBoleto, _: Settings) -> None:
    invoice.issue_boleto(cmd.digitable_line, cmd.due_at)


@on_payment
def _payment(invoice: Invoice, cmd: c.RecordPayment, _: Settings) -> None:
    invoice.record_payment(cmd.reference, cmd.paid_at or invoice.now)


@on_invoice
def _expire(invoice: Invoice, _cmd: c.ExpireInvoice, _: Settings) -> None:
    invoice.expire(invoice.now)


@on_invoice
def _abandon(invoice: Invoice, cmd: c.AbandonCheckout, settings: Settings) -> None:
    seconds = cmd.window_seconds or settings.abandon_window_seconds
    invoice.abandon(invoice.now, timedelta(seconds=seconds))


@on_invoice
def _void(invoice: Invoice, cmd: c.VoidInvoice, _: Settings) -> None:
    _not_a_subscriptions(invoice, "void")
    invoice.void(cmd.reason)


@on_invoice
def _uncollectible(invoice: Invoice, cmd: c.MarkUncollectible, _: Settings) -> None:
    _not_a_subscriptions(invoice, "mark uncollectible")
    invoice.mark_uncollectible(cmd.reason)


def _not_a_subscriptions(invoice: Invoice, command: str) -> None:
    """A subscription's invoices are closed by the subscription (its cancellation, its
    retries running out); closed from outside, the subscription would wait on them for
    ever, never renewed and never ended."""
    if invoice.origin == "subscription":
        raise invoice.refuse(command, f"it belongs to subscription {invoice.origin_id}: "
                                      "send CancelSubscription to end it")


@on_invoice
def _dispute(invoice: Invoice, cmd: c.OpenDispute, _: Settings) -> None:
    invoice.open_dispute(cmd.reason, cmd.respond_by)


@on_invoice
def _won(invoice: Invoice, _cmd: c.WinDispute, _: Settings) -> None:
    invoice.win_dispute()


def lose_dispute(work: Work, cmd: c.LoseDispute, _: Settings) -> UUID:
    """The chargeback, with every refund still open on the invoice ended by the ledger
    in the same transaction: their holds join what the card network took back."""
    invoice = work.named(Invoice, cmd.invoice_id)
    for refund_id in sorted(invoice.reserved):
        refund = work.get(Refund, UUID(refund_id))
        end_for_chargeback(refund)
        invoice.release_refund(refund.id)
    invoice.lose_dispute(cmd.amount)
    invoice_changed(work, invoice)
    return invoice.id


@on_invoice
def _warranty(invoice: Invoice, _cmd: c.EndWarranty, _: Settings) -> None:
    invoice.end_warranty(invoice.now)



INVOICES = AggregateWiring(
    kind=Invoice,
    app="ledger",
    handlers={
        c.CreateInvoice: create_invoice,
        c.ApplyDiscount: _discount,
        c.RequestCharge: _charge,
        c.DeclineCard: _decline,
        c.ApproveCard: _approve,
        c.IssuePix: _pix,
        c.IssueBoleto: _boleto,
        c.RecordPayment: _payment,
        c.ExpireInvoice: _expire,
        c.AbandonCheckout: _abandon,
        c.VoidInvoice: _void,
        c.MarkUncollectible: _uncollectible,
        c.OpenDispute: _dispute,
        c.WinDispute: _won,
        c.LoseDispute: lose_dispute,
        c.EndWarranty: _warranty,
    },
    timed_steps={
        "abandon": lambda i, at: c.AbandonCheckout(invoice_id=i, at=at),
        "expire": lambda i, at: c.ExpireInvoice(invoice_id=i, at=at),
        "end_warranty": lambda i, at: c.EndWarranty(invoice_id=i, at=at),
    },
)
