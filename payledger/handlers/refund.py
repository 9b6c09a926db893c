"""Handlers of the refund commands: a refund and its invoice always move together."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from payledger.domain import commands as c
from payledger.domain.invoice import Invoice
from payledger.domain.refund import Refund
from payledger.handlers.registry import handles, invoice_changed, on_one
from payledger.settings import Settings
from payledger.work import Work

RefundStep = Callable[[Refund, Invoice, Any], None]


@handles(c.RequestRefund)
def request_refund(work: Work, cmd: c.RequestRefund, _: Settings) -> UUID:
    invoice = work.get(Invoice, cmd.invoice_id)
    amount = cmd.amount if cmd.amount is not None else invoice.refundable
    refund_id = cmd.refund_id or uuid4()
    invoice.reserve_refund(refund_id, amount, cmd.requested_by)
    refund = Refund(
        id=refund_id, invoice_id=invoice.id, amount=amount, currency=invoice.currency,
        full=amount + invoice.refunded == invoice.paid, requested_by=cmd.requested_by,
        justification=cmd.justification, under_dispute=invoice.dispute == "open",
    )
    return work.add(refund).id


def on_refund(kind: type[c.RefundCommand]) -> Callable[[RefundStep], RefundStep]:
    """Register a step that moves a refund and its invoice together."""

    def register(step: RefundStep) -> RefundStep:
        def run(work: Work, refund: Refund, cmd: Any, _: Settings) -> None:
            invoice = work.get(Invoice, refund.invoice_id)
            step(refund, invoice, cmd)
            invoice_changed(work, invoice)

        on_one(kind, lambda work, cmd: work.get(Refund, cmd.refund_id))(run)
        return step

    return register


@on_refund(c.ApproveRefund)
def _approve_refund(refund: Refund, invoice: Invoice, _cmd: c.ApproveRefund) -> None:
    invoice.check_pix_refund_window("approve a refund")
    refund.approve()


@on_refund(c.RejectRefund)
def _reject_refund(refund: Refund, invoice: Invoice, cmd: c.RejectRefund) -> None:
    refund.reject(cmd.reason)
    invoice.release_refund(refund.id)


@on_refund(c.WithdrawRefund)
def _withdraw_refund(refund: Refund, invoice: Invoice, cmd: c.WithdrawRefund) -> None:
    refund.withdraw(cmd.reason)
    invoice.release_refund(refund.id)


@on_refund(c.SendRefund)
def _send_refund(refund: Refund, invoice: Invoice, cmd: c.SendRefund) -> None:
    invoice.check_pix_refund_window("send a refund")
    refund.send(cmd.gateway_reference)


@on_refund(c.SucceedRefund)
def _refund_succeeded(refund: Refund, invoice: Invoice, _cmd: c.SucceedRefund) -> None:
    refund.succeed()
    invoice.complete_refund(refund.id)


@on_refund(c.FailRefund)
def _refund_failed(refund: Refund, invoice: Invoice, cmd: c.FailRefund) -> None:
    refund.fail(cmd.reason)
    invoice.release_refund(refund.id)
