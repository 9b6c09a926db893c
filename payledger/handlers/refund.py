"""Handlers of the refund commands: a refund and its invoice always move together."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid5

from payledger.domain import commands as c
from payledger.domain.invoice import Invoice
from payledger.domain.refund import Refund, requester
from payledger.handlers.steps import invoice_changed, of, on_one
from payledger.settings import Settings
from payledger.wiring import AggregateWiring, Handler
from payledger.work import Work

RefundStep = Callable[[Refund, Invoice, Any, Settings], None]
LEDGER = "ledger"  # who requests a refund the ledger's own policy decides


def request_refund(work: Work, cmd: c.RequestRefund, settings: Settings) -> UUID:
    invoice = work.named(Invoice, cmd.invoice_id)
    amount = cmd.amount if cmd.amount is not None else invoice.refundable
    refund_id = work.new_id(Refund, cmd.refund_id)
    requested_by = requester(work.actor)
    invoice.reserve_refund(refund_id, amount, requested_by, settings.refund_windows)
    refund = Refund(
        id=refund_id, invoice_id=invoice.id, amount=amount, currency=invoice.currency,
        full=amount + invoice.refunded == invoice.paid, requested_by=requested_by,
        justification=cmd.justification, under_dispute=invoice.dispute == "open",
    )
    return work.add(refund).id


def refund_late_payment(work: Work, invoice: Invoice, settings: Settings, closed: str) -> Refund:
    """A payment recorded after the ledger closed its invoice (`Invoice.Paid.after_close`)
    refunded at once: requested and approved by the ledger in the payment's transaction,
    for the host to send like any approved refund."""
    refund_id = uuid5(invoice.id, f"late payment/{invoice.version}")
    amount = invoice.refundable
    invoice.reserve_refund(refund_id, amount, LEDGER, settings.refund_windows)
    refund = work.add(Refund(
        id=refund_id, invoice_id=invoice.id, amount=amount, currency=invoice.currency,
        full=True, requested_by=LEDGER, under_dispute=False,
        justification=f"paid after the invoice was closed ({closed}): refunded at once "
                      "(late_payment=refund)",
    ))
    refund.approve(invoice.refund_deadline(settings.refund_windows))
    return refund


def on_refund(step: RefundStep) -> Handler:
    """A handler running `step`, which moves a refund and its invoice together."""

    def run(work: Work, refund: Refund, cmd: Any, settings: Settings) -> None:
        invoice = work.get(Invoice, refund.invoice_id)
        step(refund, invoice, cmd, settings)
        invoice_changed(work, invoice)

    return of(step)(on_one(lambda work, cmd: work.named(Refund, cmd.refund_id))(run))


@on_refund
def _approve_refund(refund: Refund, invoice: Invoice, _cmd: c.ApproveRefund,
                    settings: Settings) -> None:
    invoice.check_refund_window("approve a refund", settings.refund_windows)
    refund.approve(invoice.refund_deadline(settings.refund_windows))


@on_refund
def _reject_refund(refund: Refund, invoice: Invoice, cmd: c.RejectRefund, _: Settings) -> None:
    refund.reject(cmd.reason)
    invoice.release_refund(refund.id)


@on_refund
def _withdraw_refund(refund: Refund, invoice: Invoice, cmd: c.WithdrawRefund,
                     _: Settings) -> None:
    refund.withdraw(cmd.reason)
    invoice.release_refund(refund.id)


@on_refund
def _cancel_refund(refund: Refund, invoice: Invoice, cmd: c.CancelRefund, _: Settings) -> None:
    refund.cancel(cmd.reason)
    invoice.release_refund(refund.id)


@on_refund
def _expire_refund(refund: Refund, invoice: Invoice, _cmd: c.ExpireRefund, _: Settings) -> None:
    refund.expire()
    invoice.release_refund(refund.id)


@on_refund
def _send_refund(refund: Refund, invoice: Invoice, cmd: c.SendRefund,
                 settings: Settings) -> None:
    invoice.check_refund_window("send a refund", settings.refund_windows)
    refund.send(cmd.gateway_reference)


@on_refund
def _refund_succeeded(refund: Refund, invoice: Invoice, _cmd: c.SucceedRefund,
                      _: Settings) -> None:
    refund.succeed()
    invoice.complete_refund(refund.id)


@on_refund
def _refund_failed(refund: Refund, invoice: Invoice, cmd: c.FailRefund, _: Settings) -> None:
    refund.fail(cmd.reason)
    invoice.release_refund(refund.id)


REFUNDS = AggregateWiring(
    kind=Refund,
    app="ledger",
    handlers={
        c.RequestRefund: request_refund,
        c.ApproveRefund: _approve_refund,
        c.RejectRefund: _reject_refund,
        c.WithdrawRefund: _withdraw_refund,
        c.SendRefund: _send_refund,
        c.SucceedRefund: _refund_succeeded,
        c.FailRefund: _refund_failed,
        c.CancelRefund: _cancel_refund,
        c.ExpireRefund: _expire_refund,
    },
    timed_steps={"expire": lambda i, at: c.ExpireRefund(refund_id=i, at=at)},
)
