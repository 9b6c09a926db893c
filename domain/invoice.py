"""Invoice: one per sale, per subscription cycle or per installment (DESIGN.md §3).

States: draft -> open -> paid -> partially_refunded -> refunded, with expired, void,
uncollectible and charged_back as ends. Abandonment and disputes are overlays: a
checkout is abandoned when the buyer left their contact but nothing was paid, nor a Pix
or boleto issued, within the window (an issued Pix or boleto expires instead); an
abandoned checkout can still be paid (a recovered cart). A dispute is opened on a paid
invoice and then won or lost (charged back).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypedDict
from uuid import UUID

from eventsourcing.domain import event

from payledger.domain.customer import CustomerData
from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.errors import ValidationError
from payledger.domain.splits import SplitLine, SplitRules, split
from payledger.domain.time import TimePolicy, add_business_days

PIX_EXPIRY = timedelta(hours=24)
PIX_GRACE = timedelta(minutes=15)
BOLETO_GRACE_BUSINESS_DAYS = 3
PIX_REFUND_WINDOW = timedelta(days=90)
REFUND_WINDOWS: Mapping[str, timedelta] = MappingProxyType({"pix": PIX_REFUND_WINDOW})
"""The central bank's rule for Pix; card and boleto have none by default (settings)."""
ABANDON_WINDOW = timedelta(hours=1)

METHODS = ("card", "pix", "boleto")


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"
    CHARGED_BACK = "charged_back"


class DisputeStatus(StrEnum):
    """The dispute overlay of a paid invoice (`Invoice.dispute`, None before any)."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


SETTLED = (InvoiceStatus.PAID, InvoiceStatus.PARTIALLY_REFUNDED)


class InvoiceItem(TypedDict):
    """One line of an invoice, as the sale's `Item` command value dumps it."""

    product_id: str
    description: str
    quantity: int
    unit_price: int


class Invoice(LedgerAggregate):
    TOPIC = "payledger:Invoice"
    KIND = "Invoice"
    first_charge: str | None = None  # the first charge request's reason (older snapshots)
    closed_attempt: int | None = None  # the attempt pending when the ledger closed it

    class Created(LedgerCreated):
        TOPIC = "payledger:Invoice.Created"
        items: list[InvoiceItem]
        customer: CustomerData
        currency: str
        method: str
        split_rules: dict[str, Any]
        subtotal: int
        warranty_days: int
        origin: str
        origin_id: UUID | None

    @event(Created)
    def __init__(
        self,
        id: UUID,
        items: list[InvoiceItem],
        customer: CustomerData,
        currency: str,
        method: str,
        split_rules: dict[str, Any],
        subtotal: int,
        warranty_days: int,
        origin: str,
        origin_id: UUID | None,
    ) -> None:
        self.items = items
        self.customer = customer
        self.currency = currency
        self.method = method
        self.split_rules = split_rules
        self.subtotal = subtotal
        self.total = subtotal
        self.discount = 0
        self.coupon: str | None = None
        self.warranty_days = warranty_days
        self.origin = origin
        self.origin_id = origin_id
        self.status = InvoiceStatus.DRAFT
        self.attempts = 0
        self.declines = 0
        self.expires_at: datetime | None = None
        self.instrument: str | None = None
        self.abandoned_at: datetime | None = None
        self.paid_at: datetime | None = None
        self.paid = 0
        self.splits: list[SplitLine] = []
        self.refunded = 0
        self.reserved: dict[str, int] = {}
        self.dispute: DisputeStatus | None = None
        self.dispute_deadline: datetime | None = None
        self.charged_back = 0
        self.warranty_ended = False

    # -- checkout --------------------------------------------------------------

    def apply_discount(self, amount: int, coupon: str | None) -> None:
        self._require("apply a discount", InvoiceStatus.DRAFT)
        if self.discount:
            raise self.refuse("apply a discount", "a discount was already applied")
        if not 0 < amount < self.subtotal:
            raise ValidationError("amount", f"must be between 1 and {self.subtotal - 1}")
        self._discount_applied(amount=amount, coupon=coupon)

    class DiscountApplied(LedgerEvent):
        TOPIC = "payledger:Invoice.DiscountApplied"
        amount: int
        coupon: str | None

    @event(DiscountApplied)
    def _discount_applied(self, amount: int, coupon: str | None) -> None:
        self.discount = amount
        self.coupon = coupon
        self.total = self.subtotal - amount

    def request_charge(self, reason: str) -> None:
        """A charge attempt; refused while the last one awaits the gateway's answer (a
        double click, two workers), so one due is never charged twice."""
        command = "request a charge"
        self._require(command, InvoiceStatus.DRAFT, InvoiceStatus.OPEN)
        if self.pending_attempt:
            raise self.refuse(command, f"attempt {self.attempts} is still pending at the "
                                       "gateway")
        self._charge_requested(attempt=self.attempts + 1, reason=reason)

    @property
    def pending_attempt(self) -> bool:
        """The last charge attempt awaits the gateway: a card attempt neither approved
        nor declined; a Pix or boleto requested and not issued, or issued and not yet
        expired."""
        if self.status != InvoiceStatus.OPEN:
            return False
        if self.method == "card":
            return self.attempts > self.declines
        if self.expires_at is not None:  # a Pix or boleto issued
            return self.now <= self.expires_at
        return self.attempts > 0

    @property
    def at_checkout(self) -> bool:
        """Opened by a buyer at a checkout: a sale, or the first invoice of a plan or a
        subscription (charged at the checkout). Only these are abandoned carts."""
        return self.origin == "sale" or self.first_charge == "checkout"

    class ChargeRequested(LedgerEvent):
        TOPIC = "payledger:Invoice.ChargeRequested"
        attempt: int
        reason: str

    @event(ChargeRequested)
    def _charge_requested(self, attempt: int, reason: str) -> None:
        self.attempts = attempt
        self.status = InvoiceStatus.OPEN
        if self.first_charge is None:
            self.first_charge = reason

    def decline_card(self, reason: str) -> None:
        self._require_method("record a card decline", "card")
        self._require("record a card decline", InvoiceStatus.OPEN)
        self._card_declined(attempt=self.attempts, reason=reason)

    class CardDeclined(LedgerEvent):
        TOPIC = "payledger:Invoice.CardDeclined"
        attempt: int
        reason: str

    @event(CardDeclined)
    def _card_declined(self, attempt: int, reason: str) -> None:
        self.declines += 1

    def issue_pix(self, txid: str, expires_in: timedelta = PIX_EXPIRY) -> None:
        self._require_method("issue a Pix charge", "pix")
        self._require("issue a Pix charge", InvoiceStatus.DRAFT, InvoiceStatus.OPEN,
                      InvoiceStatus.EXPIRED)
        self._pix_issued(txid=txid, expires_at=self.now + expires_in)

    class PixIssued(LedgerEvent):
        TOPIC = "payledger:Invoice.PixIssued"
        txid: str
        expires_at: datetime

    @event(PixIssued)
    def _pix_issued(self, txid: str, expires_at: datetime) -> None:
        self.instrument = txid
        self.expires_at = expires_at
        self.status = InvoiceStatus.OPEN

    def issue_boleto(self, digitable_line: str, due_at: datetime) -> None:
        self._require_method("issue a boleto", "boleto")
        self._require("issue a boleto", InvoiceStatus.DRAFT, InvoiceStatus.OPEN,
                      InvoiceStatus.EXPIRED)
        if due_at <= self.now:
            raise ValidationError("due_at", "must be after the issue instant")
        self._boleto_issued(digitable_line=digitable_line, due_at=due_at)

    class BoletoIssued(LedgerEvent):
        TOPIC = "payledger:Invoice.BoletoIssued"
        digitable_line: str
        due_at: datetime

    @event(BoletoIssued)
    def _boleto_issued(self, digitable_line: str, due_at: datetime) -> None:
        self.instrument = digitable_line
        self.expires_at = due_at
        self.status = InvoiceStatus.OPEN

    # -- payment ---------------------------------------------------------------

    def approve_card(self, authorization_code: str) -> None:
        """An approved attempt; on an invoice closed while an attempt was pending, the
        capture the gateway reports is still recorded (a late payment, `after_close`)."""
        self._require_method("approve a card attempt", "card")
        closed = self._closed_with_an_attempt()
        if closed is None:
            self._require("approve a card attempt", InvoiceStatus.OPEN)
        self._paid(
            reference=authorization_code, amount=self.total, splits=self._split(),
            paid_at=self.now, late=closed is not None, after_close=closed,
        )

    def _closed_with_an_attempt(self) -> str | None:
        """The state the ledger closed this invoice in while an attempt it requested
        still awaited the gateway (None: not so closed)."""
        closing = (InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE)
        if self.status in closing and self.closed_attempt is not None:
            return self.status.value
        return None

    def _split(self) -> list[SplitLine]:
        """The parts of the total: an installment's are allotted by its plan (exact for
        the plan, `InstallmentPlan.invoice_split_rules`), any other sale's split now."""
        allotted: list[SplitLine] | None = self.split_rules.get("allotted")
        if allotted is not None and sum(line["amount"] for line in allotted) == self.total:
            return [line.copy() for line in allotted]
        return split(self.total, SplitRules.model_validate(self.split_rules))

    def record_payment(self, reference: str, paid_at: datetime) -> None:
        """A Pix or boleto payment the gateway reported; late reports get a grace period."""
        command = f"record a {self.method} payment"
        if self.method == "card":
            raise self.refuse(command, "card payments are approved attempts")
        closed = self._closed_with_an_attempt()
        if closed is None:
            self._require(command, InvoiceStatus.OPEN, InvoiceStatus.EXPIRED)
        if self.instrument is None:
            raise self.refuse(command, f"no {self.method} charge was issued")
        assert self.expires_at is not None
        if not self.created_at <= paid_at <= self.now:
            raise ValidationError("paid_at", "must fall between the checkout and the report")
        late = self.now > self.expires_at or closed is not None
        if closed is None and late and self.now > self.grace_ends_at():
            raise self.refuse(command, f"reported after the grace period ({self.grace_ends_at()})")
        self._paid(
            reference=reference, amount=self.total, splits=self._split(),
            paid_at=paid_at, late=late, after_close=closed,
        )

    def grace_ends_at(self) -> datetime:
        assert self.expires_at is not None
        if self.method == "boleto":
            return add_business_days(self.expires_at, BOLETO_GRACE_BUSINESS_DAYS)
        return self.expires_at + PIX_GRACE

    class Paid(LedgerEvent):
        TOPIC = "payledger:Invoice.Paid"
        reference: str
        amount: int
        splits: list[SplitLine]
        paid_at: datetime
        late: bool
        after_close: str | None = None  # paid after the ledger closed it: void, uncollectible

    @event(Paid)
    def _paid(
        self, reference: str, amount: int, splits: list[SplitLine],
        paid_at: datetime, late: bool, after_close: str | None = None,
    ) -> None:
        self.closed_attempt = None
        self.instrument = reference
        self.paid = amount
        self.splits = splits
        self.paid_at = paid_at
        self.status = InvoiceStatus.PAID

    def expire(self, as_of: datetime) -> None:
        self._require("expire", InvoiceStatus.OPEN)
        if self.expires_at is None:
            raise self.refuse("expire", "no Pix or boleto charge was issued")
        if as_of <= self.expires_at:
            raise self.refuse("expire", f"it expires at {self.expires_at.isoformat()}")
        self._expired(expired_at=self.expires_at)

    class Expired(LedgerEvent):
        TOPIC = "payledger:Invoice.Expired"
        expired_at: datetime

    @event(Expired)
    def _expired(self, expired_at: datetime) -> None:
        self.status = InvoiceStatus.EXPIRED

    def abandon(self, as_of: datetime, window: timedelta = ABANDON_WINDOW) -> None:
        self._require("abandon the checkout", InvoiceStatus.DRAFT, InvoiceStatus.OPEN)
        if not self.at_checkout:
            raise self.refuse("abandon the checkout", f"a {self.origin} invoice was not opened "
                                                      "by a buyer at a checkout")
        if self.abandoned_at is not None:
            raise self.refuse("abandon the checkout", "it was already abandoned")
        if self.instrument is not None:
            raise self.refuse("abandon the checkout", "a Pix or boleto awaits payment")
        if as_of < self.created_at + window:
            raise self.refuse("abandon the checkout", f"the {window} window has not passed")
        self._checkout_abandoned(contact=self.customer, window_seconds=int(window.total_seconds()))

    class CheckoutAbandoned(LedgerEvent):
        TOPIC = "payledger:Invoice.CheckoutAbandoned"
        contact: CustomerData
        window_seconds: int

    @event(CheckoutAbandoned)
    def _checkout_abandoned(self, contact: CustomerData, window_seconds: int) -> None:
        self.abandoned_at = self.updated_at

    def void(self, reason: str) -> None:
        self._require("void", InvoiceStatus.DRAFT, InvoiceStatus.OPEN,
                      InvoiceStatus.EXPIRED)
        self._voided(reason=reason, open_attempt=self._open_attempt())

    def _open_attempt(self) -> int | None:
        return self.attempts if self.pending_attempt else None

    class Voided(LedgerEvent):
        TOPIC = "payledger:Invoice.Voided"
        reason: str
        open_attempt: int | None = None  # the attempt awaiting the gateway, if one was

    @event(Voided)
    def _voided(self, reason: str, open_attempt: int | None = None) -> None:
        self.status = InvoiceStatus.VOID
        self.closed_attempt = open_attempt

    def mark_uncollectible(self, reason: str) -> None:
        self._require("mark uncollectible", InvoiceStatus.OPEN)
        self._marked_uncollectible(reason=reason, open_attempt=self._open_attempt())

    class MarkedUncollectible(LedgerEvent):
        TOPIC = "payledger:Invoice.MarkedUncollectible"
        reason: str
        open_attempt: int | None = None  # as in Voided

    @event(MarkedUncollectible)
    def _marked_uncollectible(self, reason: str, open_attempt: int | None = None) -> None:
        self.status = InvoiceStatus.UNCOLLECTIBLE
        self.closed_attempt = open_attempt

    # -- after payment -----------------------------------------------------------

    @property
    def refundable(self) -> int:
        """What may still be refunded: paid less refunded, in flight and charged back."""
        return self.paid - self.refunded - sum(self.reserved.values()) - self.charged_back

    def reserve_refund(self, refund_id: UUID, amount: int, requested_by: str,
                       windows: Mapping[str, timedelta] = REFUND_WINDOWS) -> None:
        """`windows`: how long after payment each method allows a refund (a method
        not named: no limit; the settings give them)."""
        command = "accept a refund request"
        self._require(command, *SETTLED)
        if amount < 1 or amount > self.refundable:
            raise ValidationError("amount", f"must be between 1 and {self.refundable}")
        if requested_by == "buyer" and self.warranty_ended:
            raise self.refuse(command, "the buyer's warranty has ended")
        self.check_refund_window(command, windows)
        self._refund_reserved(refund_id=refund_id, amount=amount)

    def refund_deadline(self, windows: Mapping[str, timedelta]) -> datetime | None:
        """The last instant a refund of this invoice may be carried out (None: none)."""
        assert self.paid_at is not None
        window = windows.get(self.method)
        return None if window is None else self.paid_at + window

    def check_refund_window(self, command: str,
                            windows: Mapping[str, timedelta] = REFUND_WINDOWS) -> None:
        deadline = self.refund_deadline(windows)
        if deadline is not None and self.now > deadline:
            raise self.refuse(command, f"a {self.method} refund is possible only until "
                                       f"{deadline.isoformat()} ({windows[self.method].days} "
                                       "days after payment)")

    class RefundReserved(LedgerEvent):
        TOPIC = "payledger:Invoice.RefundReserved"
        refund_id: UUID
        amount: int

    @event(RefundReserved)
    def _refund_reserved(self, refund_id: UUID, amount: int) -> None:
        self.reserved[str(refund_id)] = amount

    def release_refund(self, refund_id: UUID) -> None:
        if str(refund_id) not in self.reserved:
            raise self.refuse("release a refund", f"refund {refund_id} holds nothing")
        self._refund_released(refund_id=refund_id, amount=self.reserved[str(refund_id)])

    class RefundReleased(LedgerEvent):
        TOPIC = "payledger:Invoice.RefundReleased"
        refund_id: UUID
        amount: int

    @event(RefundReleased)
    def _refund_released(self, refund_id: UUID, amount: int) -> None:
        del self.reserved[str(refund_id)]

    def complete_refund(self, refund_id: UUID) -> None:
        if str(refund_id) not in self.reserved:
            raise self.refuse("complete a refund", f"refund {refund_id} holds nothing")
        self._refunded(refund_id=refund_id, amount=self.reserved[str(refund_id)])

    class Refunded(LedgerEvent):
        TOPIC = "payledger:Invoice.Refunded"
        refund_id: UUID
        amount: int

    @event(Refunded)
    def _refunded(self, refund_id: UUID, amount: int) -> None:
        del self.reserved[str(refund_id)]
        self.refunded += amount
        if self.status != InvoiceStatus.CHARGED_BACK:
            fully = self.refunded + self.charged_back >= self.paid
            self.status = InvoiceStatus.REFUNDED if fully else InvoiceStatus.PARTIALLY_REFUNDED

    def open_dispute(self, reason: str, respond_by: datetime) -> None:
        self._require("open a dispute", *SETTLED)
        if self.dispute == DisputeStatus.OPEN:
            raise self.refuse("open a dispute", "a dispute is already open")
        if respond_by <= self.now:
            raise ValidationError("respond_by", "must be after the dispute opens")
        self._dispute_opened(reason=reason, respond_by=respond_by)

    class DisputeOpened(LedgerEvent):
        TOPIC = "payledger:Invoice.DisputeOpened"
        reason: str
        respond_by: datetime

    @event(DisputeOpened)
    def _dispute_opened(self, reason: str, respond_by: datetime) -> None:
        self.dispute = DisputeStatus.OPEN
        self.dispute_deadline = respond_by

    def win_dispute(self) -> None:
        self._require_dispute("win a dispute")
        self._dispute_won()

    class DisputeWon(LedgerEvent):
        TOPIC = "payledger:Invoice.DisputeWon"

    @event(DisputeWon)
    def _dispute_won(self) -> None:
        self.dispute = DisputeStatus.WON

    def lose_dispute(self, amount: int | None = None) -> None:
        """The card network took back `amount` (default: what was paid less the refunds
        that succeeded). Refunds still open must have released their holds first: the
        money they held is the network's now (docs/money.md, Disputes)."""
        command = "lose a dispute"
        self._require_dispute(command)
        if self.reserved:
            raise self.refuse(command, f"refunds {', '.join(sorted(self.reserved))} still "
                                       "hold money: end them first")
        most = self.paid - self.refunded
        taken = most if amount is None else amount
        if not (1 if most else 0) <= taken <= most:
            raise ValidationError("amount", f"must be between 1 and {most} (paid less "
                                            "refunded)" if most else "nothing is left to take back")
        self._charged_back(amount=taken)

    class ChargedBack(LedgerEvent):
        TOPIC = "payledger:Invoice.ChargedBack"
        amount: int

    @event(ChargedBack)
    def _charged_back(self, amount: int) -> None:
        self.dispute = DisputeStatus.LOST
        self.charged_back = amount
        if amount:  # a fully refunded purchase has nothing left to take back
            self.status = InvoiceStatus.CHARGED_BACK

    def end_warranty(self, as_of: datetime) -> None:
        self._require("end the warranty", *SETTLED, InvoiceStatus.REFUNDED,
                      InvoiceStatus.CHARGED_BACK)
        if self.warranty_ended:
            raise self.refuse("end the warranty", "it has already ended")
        assert self.paid_at is not None
        ends_at = self.paid_at + timedelta(days=self.warranty_days)
        if as_of < ends_at:
            raise self.refuse("end the warranty", f"it runs until {ends_at.isoformat()}")
        self._warranty_ended(ended_at=ends_at)

    class WarrantyEnded(LedgerEvent):
        TOPIC = "payledger:Invoice.WarrantyEnded"
        ended_at: datetime

    @event(WarrantyEnded)
    def _warranty_ended(self, ended_at: datetime) -> None:
        self.warranty_ended = True

    # -- time ----------------------------------------------------------------------

    def timers(self, policy: TimePolicy) -> dict[str, datetime]:
        """The time-driven steps this invoice has pending, each with its due instant."""
        due: dict[str, datetime] = {}
        waiting = self.status in (InvoiceStatus.DRAFT, InvoiceStatus.OPEN)
        if waiting and self.abandoned_at is None and not self.instrument and self.at_checkout:
            due["abandon"] = self.created_at + policy.abandon_window
        if self.status == InvoiceStatus.OPEN and self.expires_at is not None:
            due["expire"] = self.expires_at + timedelta(microseconds=1)
        if self.paid_at is not None and not self.warranty_ended:
            due["end_warranty"] = self.paid_at + timedelta(days=self.warranty_days)
        return due

    # -- guards ------------------------------------------------------------------

    def _require_method(self, command: str, method: str) -> None:
        if self.method != method:
            raise self.refuse(command, f"the invoice is paid by {self.method}")

    def _require_dispute(self, command: str) -> None:
        if self.dispute != DisputeStatus.OPEN:
            raise self.refuse(command, "no dispute is open")
