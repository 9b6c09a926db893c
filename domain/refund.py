"""Refund: a request against one paid invoice, decided, then carried out by the gateway.

requested -> approved | rejected | withdrawn; approved -> pending -> succeeded | failed.
The invoice holds the requested amount from the request on (see
`Invoice.reserve_refund`), so two refunds in flight can never exceed what was paid;
the application saves the invoice and the refund together at every step.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.permissions import Actor, Kind


class RefundStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"  # approved, never sent: support or the producer took it back
    EXPIRED = "expired"  # approved, never sent before its method's window closed


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
        self.status = RefundStatus.REQUESTED
        self.reason: str | None = None
        self.gateway_reference: str | None = None
        self.settled_at: datetime | None = None
        self.deadline: datetime | None = None

    @property
    def open(self) -> bool:
        """Still holding money on its invoice."""
        return self.status in (RefundStatus.REQUESTED, RefundStatus.APPROVED,
                               RefundStatus.PENDING)

    def approve(self, deadline: datetime | None = None) -> None:
        """`deadline`: when its method's window closes (None: never); an approved refund
        not sent by then expires, by a timed step, and releases its hold."""
        self._require("approve", RefundStatus.REQUESTED)
        self._approved(deadline=deadline)

    class Approved(LedgerEvent):
        TOPIC = "payledger:Refund.Approved"
        deadline: datetime | None = None

    @event(Approved)
    def _approved(self, deadline: datetime | None = None) -> None:
        self.status = RefundStatus.APPROVED
        self.deadline = deadline

    def timers(self, policy: object = None) -> dict[str, datetime]:
        """An approved refund's expiry at its deadline (fixed by its event)."""
        del policy
        if self.status == RefundStatus.APPROVED and self.deadline is not None:
            return {"expire": self.deadline}
        return {}

    def cancel(self, reason: str) -> None:
        self._require("cancel", RefundStatus.APPROVED)
        self._canceled(reason=reason)

    class Canceled(LedgerEvent):
        TOPIC = "payledger:Refund.Canceled"
        reason: str

    @event(Canceled)
    def _canceled(self, reason: str) -> None:
        self.status = RefundStatus.CANCELED
        self.reason = reason

    def expire(self) -> None:
        command = "expire"
        self._require(command, RefundStatus.APPROVED)
        if self.deadline is None or self.now < self.deadline:
            when = self.deadline.isoformat() if self.deadline else "never"
            raise self.refuse(command, f"its window closes {when}")
        self._expired()

    class Expired(LedgerEvent):
        TOPIC = "payledger:Refund.Expired"

    @event(Expired)
    def _expired(self) -> None:
        self.status = RefundStatus.EXPIRED
        self.reason = "not sent before its method's refund window closed"

    def reject(self, reason: str) -> None:
        self._require("reject", RefundStatus.REQUESTED)
        self._rejected(reason=reason)

    class Rejected(LedgerEvent):
        TOPIC = "payledger:Refund.Rejected"
        reason: str

    @event(Rejected)
    def _rejected(self, reason: str) -> None:
        self.status = RefundStatus.REJECTED
        self.reason = reason

    def withdraw(self, reason: str) -> None:
        self._require("withdraw", RefundStatus.REQUESTED)
        self._withdrawn(reason=reason)

    class Withdrawn(LedgerEvent):
        TOPIC = "payledger:Refund.Withdrawn"
        reason: str

    @event(Withdrawn)
    def _withdrawn(self, reason: str) -> None:
        self.status = RefundStatus.WITHDRAWN
        self.reason = reason

    def send(self, gateway_reference: str) -> None:
        self._require("send to the gateway", RefundStatus.APPROVED)
        self._pending(gateway_reference=gateway_reference)

    class Pending(LedgerEvent):
        TOPIC = "payledger:Refund.Pending"
        gateway_reference: str

    @event(Pending)
    def _pending(self, gateway_reference: str) -> None:
        self.status = RefundStatus.PENDING
        self.gateway_reference = gateway_reference

    def succeed(self) -> None:
        self._require("succeed", RefundStatus.PENDING)
        self._succeeded()

    class Succeeded(LedgerEvent):
        TOPIC = "payledger:Refund.Succeeded"

    @event(Succeeded)
    def _succeeded(self) -> None:
        self.status = RefundStatus.SUCCEEDED
        self.settled_at = self.updated_at

    def fail(self, reason: str) -> None:
        self._require("fail", RefundStatus.PENDING)
        self._failed(reason=reason)

    class Failed(LedgerEvent):
        TOPIC = "payledger:Refund.Failed"
        reason: str

    @event(Failed)
    def _failed(self, reason: str) -> None:
        self.status = RefundStatus.FAILED
        self.reason = reason


DISPUTE_LOST = "dispute lost: the card network took the money back"


def end_for_chargeback(refund: Refund) -> None:
    """A refund still open when its invoice's dispute is lost ends, by the step its state
    allows: sent, it failed; approved, it is canceled; requested, it is rejected."""
    if refund.status == RefundStatus.PENDING:
        refund.fail(DISPUTE_LOST)
    elif refund.status == RefundStatus.APPROVED:
        refund.cancel(DISPUTE_LOST)
    else:
        refund.reject(DISPUTE_LOST)


def requester(actor: Actor) -> str:
    """Who asks for a refund, from the principal that asks: the buyer through the
    platform's checkout, the producer as its account's owner, support otherwise. It
    decides the warranty check, so no caller names it."""
    if actor.kind is Kind.PLATFORM:
        return "buyer" if actor.role == "checkout" else "support"
    return "producer" if actor.role == "owner" else "support"
