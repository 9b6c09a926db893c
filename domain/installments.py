"""InstallmentPlan: smart installments, 1-12 monthly charges made by the platform.

The buyer pays the price plus the smart-installment `fee` (a total amount in minor
units, fixed at the sale; the plan's total is price + fee) in `count` installments
whose amounts differ by at most one minor unit (`money.installments`, larger first).
Installment n falls due on the first due date's day of the month, n - 1 months later,
clamped to the month's end (Jan 31 -> Feb 28/29 -> Mar 31), as a calendar day in the
account's timezone: it may be invoiced from the start of that day and is overdue once
the day has ended unpaid.

Each installment:
    scheduled -> invoiced -> paid | overdue -> paid_late
    invoiced and overdue are paid late when paid after the due day's end;
    paid and paid_late -> refunded (its invoice fully refunded);
    scheduled, invoiced and overdue -> canceled (the plan canceled).
Every installment has an Invoice of its own (origin "installment"); the plan follows
it (`follow_invoice`). The first installment is invoiced at the sale; the next ones
only in order, and only once the first was paid (a plan whose first charge never
succeeded is inactive, and charges nothing more).

The plan's status is `plan_status` of its installments' states, taken in this order:
    inactive               the first installment is overdue or canceled: it was never paid
    refunded               every installment is refunded or canceled
    canceled               some installment is canceled (the plan was canceled)
    completed              every installment is paid, none late
    completed_with_issues  every installment is paid, paid late or refunded, not all on time
    in_progress_with_issues  some installment is still scheduled or invoiced and some is
                           overdue now, was paid late or was refunded
    in_progress            otherwise: some still scheduled or invoiced, none with issues
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict
from uuid import UUID, uuid5
from zoneinfo import ZoneInfoNotFoundError

from eventsourcing.domain import event

from payledger.domain.customer import Customer, CustomerData
from payledger.domain.envelope import (
    LedgerAggregate,
    LedgerCreated,
    LedgerEvent,
    current_envelope,
)
from payledger.domain.errors import ValidationError
from payledger.domain.invoice import METHODS, Invoice, InvoiceItem
from payledger.domain.money import allocate, installments
from payledger.domain.splits import SplitRules, split, spread
from payledger.domain.time import day_start, due_dates, local_date, local_date_end


class InstallmentState(StrEnum):
    SCHEDULED = "scheduled"
    INVOICED = "invoiced"
    OVERDUE = "overdue"
    PAID = "paid"
    PAID_LATE = "paid_late"
    CANCELED = "canceled"
    REFUNDED = "refunded"


class PlanStatus(StrEnum):
    COMPLETED = "completed"
    COMPLETED_WITH_ISSUES = "completed_with_issues"
    IN_PROGRESS = "in_progress"
    IN_PROGRESS_WITH_ISSUES = "in_progress_with_issues"
    REFUNDED = "refunded"
    CANCELED = "canceled"
    INACTIVE = "inactive"


S = InstallmentState  # short, for the tuples and event bodies below
STATES = tuple(InstallmentState)
STATUSES = tuple(PlanStatus)
OPEN = (S.SCHEDULED, S.INVOICED, S.OVERDUE)
UNPAID = (S.INVOICED, S.OVERDUE)
PAID = (S.PAID, S.PAID_LATE)
WAS_PAID = (*PAID, S.REFUNDED)
ISSUES = (S.OVERDUE, S.PAID_LATE, S.REFUNDED)
VOIDABLE = ("draft", "open", "expired")
MICROSECOND = timedelta(microseconds=1)


class ScheduledInstallment(TypedDict):
    """An installment as the sale schedules it (`InstallmentPlan.Created.schedule`)."""

    number: int
    amount: int
    due_date: str  # ISO date


class Installment(ScheduledInstallment):
    """An installment as the plan holds it."""

    state: InstallmentState
    invoice_id: UUID | None
    invoiced_at: datetime | None
    paid_at: datetime | None
    reprocessed: int  # charge requests made again while overdue


class PlanRefund(TypedDict):
    """A refund asked for a paid installment (`InstallmentPlan.RefundRequested`)."""

    number: int
    refund_id: str
    amount: int


def plan_status(states: Sequence[str]) -> PlanStatus:
    """The dashboard's status of a plan whose installments are in `states` (in order)."""
    if not states or any(state not in STATES for state in states):
        raise ValidationError("states", f"must be 1 or more of {', '.join(STATES)}")
    if states[0] in (S.OVERDUE, S.CANCELED):
        return PlanStatus.INACTIVE
    kinds = set(states)
    if kinds <= {S.REFUNDED, S.CANCELED}:
        return PlanStatus.REFUNDED
    if S.CANCELED in kinds:
        return PlanStatus.CANCELED
    issues = bool(kinds.intersection(ISSUES))
    if kinds <= set(WAS_PAID):
        return PlanStatus.COMPLETED_WITH_ISSUES if issues else PlanStatus.COMPLETED
    return PlanStatus.IN_PROGRESS_WITH_ISSUES if issues else PlanStatus.IN_PROGRESS


def installment_invoice_id(plan_id: UUID, number: int) -> UUID:
    """The id of installment `number`'s invoice: one per installment, never two."""
    return uuid5(plan_id, f"installment/{number}")


class InstallmentPlan(LedgerAggregate):
    TOPIC = "payledger:InstallmentPlan"
    KIND = "InstallmentPlan"
    held_by: list[str] | tuple[()] = ()  # refunds awaiting a decision (older snapshots: ())

    @classmethod
    def sell(
        cls, id: UUID, customer: CustomerData, items: list[InvoiceItem], currency: str,
        method: str, split_rules: dict[str, Any], count: int, fee: int,
        first_due: date | None, timezone: str, warranty_days: int,
    ) -> InstallmentPlan:
        """Check a sale in `count` installments and schedule it (the first due on the
        sale's own day unless `first_due` says otherwise)."""
        if method not in METHODS:
            raise ValidationError("method", f"must be one of {', '.join(METHODS)}")
        try:
            sold_on = local_date(current_envelope().at, timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError("timezone", f"unknown timezone {timezone!r}") from None
        first_due = first_due or sold_on
        if first_due < sold_on:
            raise ValidationError("first_due", f"must be on or after the sale's day {sold_on}")
        price = sum(item["quantity"] * item["unit_price"] for item in items)
        if price < 1:
            raise ValidationError("items", "the price must be at least one minor unit")
        if isinstance(fee, bool) or not isinstance(fee, int) or fee < 0:
            raise ValidationError("fee", "must be a non-negative number of minor units")
        amounts = installments(price + fee, count)
        if amounts[-1] < 1:
            raise ValidationError("count", "each installment must be at least one minor unit")
        schedule = [ScheduledInstallment(number=n, amount=amount, due_date=day.isoformat())
                    for n, (amount, day) in enumerate(
                        zip(amounts, due_dates(first_due, count), strict=True), start=1)]
        return cls(id=id, customer=customer, items=items, currency=currency, method=method,
                   split_rules=split_rules, price=price, fee=fee, timezone=timezone,
                   warranty_days=warranty_days, schedule=schedule)

    class Created(LedgerCreated):
        TOPIC = "payledger:InstallmentPlan.Created"
        customer: CustomerData
        items: list[InvoiceItem]
        currency: str
        method: str
        split_rules: dict[str, Any]
        price: int
        fee: int
        timezone: str
        warranty_days: int
        schedule: list[ScheduledInstallment]

    @event(Created)
    def __init__(
        self, id: UUID, customer: CustomerData, items: list[InvoiceItem], currency: str,
        method: str, split_rules: dict[str, Any], price: int, fee: int, timezone: str,
        warranty_days: int, schedule: list[ScheduledInstallment],
    ) -> None:
        self.customer = customer
        self.items = items
        self.currency = currency
        self.method = method
        self.split_rules = split_rules
        self.price = price
        self.fee = fee
        self.timezone = timezone
        self.warranty_days = warranty_days
        self.installments: list[Installment] = [
            {**entry, "state": S.SCHEDULED, "invoice_id": None, "invoiced_at": None,
             "paid_at": None, "reprocessed": 0}
            for entry in schedule
        ]
        self.activated_at: datetime | None = None
        self.cancel_reason: str | None = None
        self.refunds: list[PlanRefund] = []

    # -- reading ---------------------------------------------------------------------

    @property
    def status(self) -> PlanStatus:
        return plan_status(self.states)

    @property
    def states(self) -> tuple[InstallmentState, ...]:
        return tuple(entry["state"] for entry in self.installments)

    @property
    def count(self) -> int:
        return len(self.installments)

    @property
    def total(self) -> int:
        return self.price + self.fee

    @property
    def open(self) -> bool:
        """Some installment may still be charged or paid."""
        return any(state in OPEN for state in self.states)

    def installment(self, number: int) -> Installment:
        if isinstance(number, bool) or not isinstance(number, int) \
                or not 1 <= number <= self.count:
            raise ValidationError("number", f"must be from 1 to {self.count}")
        return self.installments[number - 1]

    def numbers(self, *states: str) -> list[int]:
        return [entry["number"] for entry in self.installments if entry["state"] in states]

    def number_of(self, invoice_id: UUID) -> int | None:
        for entry in self.installments:
            if entry["invoice_id"] == invoice_id:
                return entry["number"]
        return None

    def due_date(self, number: int) -> date:
        return date.fromisoformat(self.installment(number)["due_date"])

    def due_start(self, number: int) -> datetime:
        """From when installment `number` may be invoiced."""
        return day_start(self.due_date(number), self.timezone)

    def due_end(self, number: int) -> datetime:
        """The last instant installment `number` is paid on time."""
        return local_date_end(self.due_start(number), self.timezone)

    def amount_due(self) -> int:
        return sum(self.installment(n)["amount"] for n in self.numbers(S.OVERDUE))

    # -- the installments' invoices ----------------------------------------------------

    def invoice_lines(self, number: int) -> list[InvoiceItem]:
        """Installment `number`'s share of each item, its amounts summing to the installment."""
        amount = self.installment(number)["amount"]
        weights = [item["quantity"] * item["unit_price"] for item in self.items]
        lines: list[InvoiceItem] = []
        for item, part in zip(self.items, allocate(amount, weights), strict=True):
            if part:
                label = item["description"] or item["product_id"]
                lines.append({"product_id": item["product_id"], "quantity": 1, "unit_price": part,
                              "description": f"{label} ({number}/{self.count})"})
        return lines

    def invoice_split_rules(self, number: int) -> dict[str, Any]:
        """The sale's rules, with installment `number`'s parts `allotted`: the plan's
        parts of its whole total (its fixed fee counted once), spread over the
        installments cent by cent (`spread`), so the plan's parts are exact."""
        parts = split(self.total, SplitRules.model_validate(self.split_rules))
        amounts = [entry["amount"] for entry in self.installments]
        rules = {**self.split_rules, "allotted": spread(parts, amounts)[number - 1]}
        fixed = rules.get("platform_fee_fixed", 0)
        if fixed:  # the rules as this invoice reads them: its part of the fixed fee
            rules["platform_fee_fixed"] = allocate(fixed, amounts)[number - 1]
        return rules

    def invoice_warranty_days(self, number: int) -> int:
        """The buyer's guarantee runs from the purchase: only the first invoice carries it."""
        return self.warranty_days if number == 1 else 0

    # -- installment transitions -------------------------------------------------------

    def next_to_invoice(self) -> int | None:
        """The installment to invoice next, if one may be: in order, after a first payment."""
        scheduled = self.numbers(S.SCHEDULED)
        if self.held_by or not scheduled or (scheduled[0] > 1
                                             and self.states[0] not in WAS_PAID):
            return None
        return scheduled[0]

    def invoice_installment(self, number: int, invoice_id: UUID, as_of: datetime) -> None:
        """Record installment `number`'s invoice: the first at the sale, then each from
        the start of its due day."""
        command = "invoice an installment"
        entry = self._require_installment(command, number, S.SCHEDULED)
        if number != self.next_to_invoice():
            earlier = self.installment(number - 1)["state"] == S.SCHEDULED
            raise self.refuse(command, f"installment {number - 1} is not invoiced yet" if earlier
                              else "the first installment was never paid")
        if number > 1 and as_of < self.due_start(number):
            raise self.refuse(command, f"installment {number} may be invoiced from "
                                       f"{self.due_start(number).isoformat()}")
        self._installment_invoiced(number=number, invoice_id=invoice_id, amount=entry["amount"])

    class InstallmentInvoiced(LedgerEvent):
        TOPIC = "payledger:InstallmentPlan.InstallmentInvoiced"
        number: int
        invoice_id: UUID
        amount: int

    @event(InstallmentInvoiced)
    def _installment_invoiced(self, number: int, invoice_id: UUID, amount: int) -> None:
        entry = self.installments[number - 1]
        self.installments[number - 1] = {**entry, "state": S.INVOICED, "invoice_id": invoice_id,
                                         "invoiced_at": self.updated_at}

    def record_payment(self, number: int, paid_at: datetime) -> None:
        """Installment `number`'s invoice was paid: late if overdue or after its due day."""
        entry = self._require_installment("record an installment's payment", number, *UNPAID)
        late = entry["state"] == S.OVERDUE or paid_at > self.due_end(number)
        self._installment_paid(number=number, invoice_id=self.invoice_of(number), paid_at=paid_at,
                               late=late)

    class InstallmentPaid(LedgerEvent):
        TOPIC = "payledger:InstallmentPlan.InstallmentPaid"
        number: int
        invoice_id: UUID
        paid_at: datetime
        late: bool

    @event(InstallmentPaid)
    def _installment_paid(self, number: int, invoice_id: UUID, paid_at: datetime,
                          late: bool) -> None:
        entry = self.installments[number - 1]
        self.installments[number - 1] = {**entry, "state": S.PAID_LATE if late else S.PAID,
                                         "paid_at": paid_at}
        if number == 1:
            self.activated_at = self.updated_at

    def mark_overdue(self, number: int, as_of: datetime) -> None:
        command = "mark an installment overdue"
        self._require_installment(command, number, S.INVOICED)
        due_end = self.due_end(number)
        if as_of <= due_end:
            raise self.refuse(command, f"installment {number} is due until {due_end.isoformat()}")
        self._installment_overdue(number=number, due_end=due_end)

    class InstallmentOverdue(LedgerEvent):
        TOPIC = "payledger:InstallmentPlan.InstallmentOverdue"
        number: int
        due_end: datetime

    @event(InstallmentOverdue)
    def _installment_overdue(self, number: int, due_end: datetime) -> None:
        self.installments[number - 1] = {**self.installments[number - 1], "state": S.OVERDUE}

    def next_overdue(self, as_of: datetime) -> int | None:
        """The earliest invoiced installment whose due day ended before `as_of`."""
        late = [n for n in self.numbers(S.INVOICED) if as_of > self.due_end(n)]
        return late[0] if late else None

    def reprocessable(self, number: int) -> UUID:
        """The invoice to charge again for overdue installment `number`."""
        self._require_installment("reprocess an installment", number, S.OVERDUE)
        return self.invoice_of(number)

    def reprocess(self, number: int) -> None:
        """Record a new charge request for overdue installment `number` (on its invoice)."""
        invoice_id = self.reprocessable(number)
        self._installment_reprocessed(number=number, invoice_id=invoice_id,
                                      attempt=self.installment(number)["reprocessed"] + 1)

    class InstallmentReprocessed(LedgerEvent):
        TOPIC = "payledger:InstallmentPlan.InstallmentReprocessed"
        number: int
        invoice_id: UUID
        attempt: int

    @event(InstallmentReprocessed)
    def _installment_reprocessed(self, number: int, invoice_id: UUID, attempt: int) -> None:
        self.installments[number - 1] = {**self.installments[number - 1], "reprocessed": attempt}

    def record_refund(self, number: int) -> None:
        """Installment `number`'s invoice was fully refunded."""
        self._require_installment("record an installment's refund", number, *PAID)
        self._installment_refunded(number=number, invoice_id=self.invoice_of(number))

    class InstallmentRefunded(LedgerEvent):
        TOPIC = "payledger:InstallmentPlan.InstallmentRefunded"
        number: int
        invoice_id: UUID

    @event(InstallmentRefunded)
    def _installment_refunded(self, number: int, invoice_id: UUID) -> None:
        self.installments[number - 1] = {**self.installments[number - 1], "state": S.REFUNDED}

    def follow_invoice(self, invoice: Invoice) -> None:
        """Move the installment billed by `invoice` after what happened to it (idempotent)."""
        number = self.number_of(invoice.id)
        if number is None:
            return
        state = self.installment(number)["state"]
        if state in UNPAID and invoice.status == "void":
            raise self.refuse("void an installment's invoice", "cancel the plan instead")
        if state in UNPAID and invoice.paid_at is not None:
            self.record_payment(number, invoice.paid_at)
            state = self.installment(number)["state"]
        if state in PAID and invoice.status == "refunded":
            self.record_refund(number)

    # -- the plan as a whole ---------------------------------------------------------

    def open_invoice_ids(self) -> list[UUID]:
        """The invoices of installments invoiced and not paid (to void on cancel)."""
        return [self.invoice_of(n) for n in self.numbers(*UNPAID)]

    def check_cancel(self) -> None:
        if not self.open:
            raise self.refuse("cancel", "no installment is left to charge")

    def cancel(self, reason: str) -> None:
        """Charge nothing more: every installment not paid is canceled."""
        self.check_cancel()
        self._canceled(reason=reason, numbers=self.numbers(*OPEN))

    class Canceled(LedgerEvent):
        TOPIC = "payledger:InstallmentPlan.Canceled"
        reason: str
        numbers: list[int]

    @event(Canceled)
    def _canceled(self, reason: str, numbers: list[int]) -> None:
        self.cancel_reason = reason
        for number in numbers:
            self.installments[number - 1] = {**self.installments[number - 1],
                                             "state": S.CANCELED}

    def request_refunds(self, refunds: list[PlanRefund], justification: str,
                        requested_by: str) -> None:
        """Record the refunds asked for paid installments: `{number, refund_id, amount}`."""
        command = "request the plan's refund"
        if not refunds:
            raise self.refuse(command, "no paid installment is left to refund")
        for refund in refunds:
            self._require_installment(command, refund["number"], *PAID)
        self._refund_requested(refunds=refunds, justification=justification,
                               requested_by=requested_by)

    class RefundRequested(LedgerEvent):
        TOPIC = "payledger:InstallmentPlan.RefundRequested"
        refunds: list[PlanRefund]
        justification: str
        requested_by: str

    @event(RefundRequested)
    def _refund_requested(self, refunds: list[PlanRefund], justification: str,
                          requested_by: str) -> None:
        self.refunds.extend(refunds)
        if self.open:  # held: nothing more is invoiced until the refunds are decided
            self.held_by = [refund["refund_id"] for refund in refunds]

    def decide_hold(self, approved: bool) -> None:
        """The refunds that hold the plan were decided: an approval lets the plan be
        canceled (what the refund covers); rejected or withdrawn, the plan goes on."""
        if not self.held_by:
            raise self.refuse("decide the plan's refund", "no refund holds the plan")
        self._refund_decided(approved=approved)

    class RefundDecided(LedgerEvent):
        TOPIC = "payledger:InstallmentPlan.RefundDecided"
        approved: bool

    @event(RefundDecided)
    def _refund_decided(self, approved: bool) -> None:
        self.held_by = []

    def change_email(self, email: str) -> bool:
        """Bill an open plan to the buyer's new `email`; False when closed or unchanged."""
        customer = Customer.parse(**{**self.customer, "email": email}).to_dict()
        if not self.open or customer["email"] == self.customer["email"]:
            return False
        self._buyer_email_changed(customer=customer)
        return True

    class BuyerEmailChanged(LedgerEvent):
        TOPIC = "payledger:InstallmentPlan.BuyerEmailChanged"
        customer: CustomerData

    @event(BuyerEmailChanged)
    def _buyer_email_changed(self, customer: CustomerData) -> None:
        self.customer = customer

    # -- time ------------------------------------------------------------------------

    def timers(self, policy: object = None) -> dict[str, datetime]:
        """The time-driven steps pending, each with its due instant (see the module doc)."""
        due: dict[str, datetime] = {}
        number = self.next_to_invoice()
        if number is not None and number > 1:
            assert self.activated_at is not None
            due["invoice_installment"] = max(self.due_start(number), self.activated_at)
        pending = [max(self.due_end(n) + MICROSECOND, self._invoiced_at(n))
                   for n in self.numbers(S.INVOICED)]
        if pending:
            due["mark_overdue"] = min(pending)
        return due

    # -- guards ----------------------------------------------------------------------

    def _require_installment(self, command: str, number: int, *states: str) -> Installment:
        """Refuses `command` unless installment `number` is in one of `states`."""
        entry = self.installment(number)
        if entry["state"] not in states:
            raise self.refuse(command, f"installment {number} is {entry['state']}; "
                                       f"allowed only when {' or '.join(states)}")
        return entry

    def _invoiced_at(self, number: int) -> datetime:
        invoiced_at = self.installment(number)["invoiced_at"]
        assert invoiced_at is not None  # asked of invoiced installments only
        return invoiced_at

    def invoice_of(self, number: int) -> UUID:
        """The invoice of installment `number`, once invoiced."""
        invoice_id = self.installment(number)["invoice_id"]
        assert invoice_id is not None, f"installment {number} is not invoiced"
        return invoice_id
