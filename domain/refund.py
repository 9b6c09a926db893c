"""Refund: a request against one paid invoice, decided, then carried out by the gateway.

requested -> approved | rejected | withdrawn; approved -> pending -> succeeded | failed.
The invoice holds the requested amount from the request on (see
`Invoice.reserve_refund`), so two refunds in flight can never exceed what was paid;
the application saves the invoice and the refund together at every step.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from payledger.domain.envelope import LedgerAggregate, LedgerCreated


class Refund(LedgerAggregate):
    TOPIC = "payledger:Refund"
    KIND = "Refund"

    class Requested(LedgerCreated):
        TOPIC = "payledger:Refund.Requested"
        invoice_id: UUID
        amount: int
        currency: str
        full: bool
        requested_by: str
        justification: str
        under_dispute: bool

    @event(Requested)
    def __init__(
        self,
        id: UUID,
        invoice_id: UUID,
        amount: int,
        currency: str,
        full: bool,
        requested_by: str,
        justification: str,
        under_dispute: bool,
    ) -> None:
        self.invoice_id = invoice_id
        self.amount = amount
        self.currency = currency
        self.full = full
        self.requested_by = requested_by
        self.justification = justification
        self.under_dispute = under_dispute
        self.status = "requested"
        self.reason: str | None = None
        self.gateway_reference: str | None = None
        self.settled_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Still holding money on its invoice."""
        return self.status in ("requested", "approved", "pending")

    def approve(self) -> None:
        self._require("approve", "requested")
        self._approved()

    @event("Approved", topic="payledger:Refund.Approved")
    def _approved(self) -> None:
        self.status = "approved"

    def reject(self, reason: str) -> None:
        self._require("reject", "requested")
        self._rejected(reason=reason)

    @event("Rejected", topic="payledger:Refund.Rejected")
    def _rejected(self, reason: str) -> None:
        self.status = "rejected"
        self.reason = reason

    def withdraw(self, reason: str) -> None:
        self._require("withdraw", "requested")
        self._withdrawn(reason=reason)

    @event("Withdrawn", topic="payledger:Refund.Withdrawn")
    def _withdrawn(self, reason: str) -> None:
        self.status = "withdrawn"
        self.reason = reason

    def send(self, gateway_reference: str) -> None:
        self._require("send to the gateway", "approved")
        self._pending(gateway_reference=gateway_reference)

    @event("Pending", topic="payledger:Refund.Pending")
    def _pending(self, gateway_reference: str) -> None:
        self.status = "pending"
        self.gateway_reference = gateway_reference

    def succeed(self) -> None:
        self._require("succeed", "pending")
        self._succeeded()

    @event("Succeeded", topic="payledger:Refund.Succeeded")
    def _succeeded(self) -> None:
        self.status = "succeeded"
        self.settled_at = self.updated_at

    def fail(self, reason: str) -> None:
        self._require("fail", "pending")
        self._failed(reason=reason)

    @event("Failed", topic="payledger:Refund.Failed")
    def _failed(self, reason: str) -> None:
        self.status = "failed"
        self.reason = reason

