"""Subscription: a buyer's recurring card charge for one plan (DESIGN.md §3).

States: incomplete (created, first charge pending) -> active when the first invoice is
paid, or -> expired when it is not paid within the window (23 h by default, like
Stripe's incomplete_expired; the first invoice is voided). A plan with a trial starts
trialing instead: nothing is charged until the trial ends, and the trial's end is the
first renewal. Then:

- every period end (`end_period`, the time-driven step) opens the next cycle: a
  renewal invoice and its charge request. The status follows the outcomes only: a
  declined attempt makes it past_due and schedules a retry (`RETRY_DAYS` after each
  failure); a paid cycle makes it active again and clears the failure count;
- a cycle fails when its retries are exhausted (the handler marks its invoice
  uncollectible) or when the next period end finds it still unpaid (superseded). After
  `FAILED_CYCLES` consecutive failed cycles the subscription is unpaid at once, and the
  following period end cancels it (canceled_by "system");
- cancel now, or at the period end (`cancel_at_period_end`); auto-renew off also ends
  the subscription as canceled at the period end (Hotmart shows it so); both record who
  and why. Canceling voids the invoice being collected and never refunds a paid one;
- paused (active only, nothing being collected): period ends pass without an invoice
  (`CycleSkipped`) until resumed;
- canceled or unpaid -> active by reactivation: plain (a new period to the next charge
  day, no charge; refused when nothing was ever paid) or with a charge (a new cycle and
  its invoice at once, the charge day moving to today);
- a plan switch takes effect at the next cycle; a charge-day change moves the next
  renewal to that day of the month it was due in (the month after when that has passed).

Expired is the only terminal state. The charge day is a day of the month in the
account's timezone (clamped to the month's last day), at the local time of day of the
start; the subscription is card-only (`payment_method` names the stored card): Pix and
boleto subscriptions would need an invoice per cycle without automatic retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from payledger.domain.customer import Customer, CustomerData
from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.errors import ValidationError
from payledger.domain.time import (
    add_local_days,
    charge_date,
    local_date,
    next_charge_date,
    wall_clock,
)

RETRY_DAYS = (1, 3, 5)
"""Days after each failed attempt of a cycle before the next retry; then the cycle fails."""
FAILED_CYCLES = 5
"""Consecutive failed cycles that make a subscription unpaid (then canceled)."""
INCOMPLETE_WINDOW = timedelta(hours=23)
SYSTEM = "system"


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "incomplete"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    EXPIRED = "expired"


S = SubscriptionStatus  # short, for the tuples and guards below
COLLECTING = (S.TRIALING, S.ACTIVE, S.PAST_DUE)
"""States whose period ends renew (paused skips, unpaid cancels)."""
MANAGED = (S.TRIALING, S.ACTIVE, S.PAST_DUE, S.PAUSED)
ENDED = (S.CANCELED, S.EXPIRED)
INTERVALS = (1, 3, 6, 12)


@dataclass(frozen=True)
class PeriodEnd:
    """What a period end asks of the invoices: which to give up, void, or create."""

    uncollectible: UUID | None = None
    void: UUID | None = None
    charge: UUID | None = None


class Subscription(LedgerAggregate):
    TOPIC = "payledger:Subscription"
    charge_time: str | None = None  # the local time renewals fall at (older snapshots: None)
    KIND = "Subscription"

    @classmethod
    def start(
        cls, id: UUID, customer: CustomerData, plan: dict[str, Any], payment_method: str,
        split_rules: dict[str, Any], now: datetime, timezone: str,
        first_invoice_id: UUID | None, incomplete_window: timedelta = INCOMPLETE_WINDOW,
    ) -> Subscription:
        """A new subscription: trialing when the plan has a trial, else incomplete."""
        if plan["interval_months"] not in INTERVALS:
            raise ValidationError("plan.interval_months", f"must be one of {INTERVALS}")
        trial_days = int(plan.get("trial_days") or 0)
        if (first_invoice_id is None) != (trial_days > 0):
            raise ValidationError("first_invoice_id", "is needed exactly when there is no trial")
        if trial_days:
            period_end = add_local_days(now, trial_days, timezone)
            trial_ends_at: datetime | None = period_end
            expires_at = None
        else:
            trial_ends_at = None
            period_end = charge_date(now, plan["interval_months"],
                                     local_date(now, timezone).day, timezone)
            expires_at = now + incomplete_window
        return cls(
            id=id, customer=customer, plan=plan, payment_method=payment_method,
            split_rules=split_rules, timezone=timezone,
            charge_day=local_date(period_end if trial_days else now, timezone).day,
            period_start=now, period_end=period_end, trial_ends_at=trial_ends_at,
            first_invoice_id=first_invoice_id, incomplete_expires_at=expires_at,
        )

    class Created(LedgerCreated):
        TOPIC = "payledger:Subscription.Created"
        customer: CustomerData
        plan: dict[str, Any]
        payment_method: str
        split_rules: dict[str, Any]
        timezone: str
        charge_day: int
        period_start: datetime
        period_end: datetime
        trial_ends_at: datetime | None
        first_invoice_id: UUID | None
        incomplete_expires_at: datetime | None

    @event(Created)
    def __init__(
        self,
        id: UUID,
        customer: CustomerData,
        plan: dict[str, Any],
        payment_method: str,
        split_rules: dict[str, Any],
        timezone: str,
        charge_day: int,
        period_start: datetime,
        period_end: datetime,
        trial_ends_at: datetime | None,
        first_invoice_id: UUID | None,
        incomplete_expires_at: datetime | None,
    ) -> None:
        self.customer = customer
        self.plan = plan
        self.pending_plan: dict[str, Any] | None = None
        self.payment_method = payment_method
        self.split_rules = split_rules
        self.timezone = timezone
        self.charge_day = charge_day
        self.period_start = period_start
        self.period_end = period_end
        self.charge_time = wall_clock(period_start, timezone)  # renewals keep it, DST or not
        self.trial_ends_at = trial_ends_at
        self.incomplete_expires_at = incomplete_expires_at
        self.status: SubscriptionStatus = S.TRIALING if trial_ends_at is not None else S.INCOMPLETE
        self.cycle = 0 if first_invoice_id is None else 1
        self.open_invoice_id = first_invoice_id
        self.invoice_ids: list[UUID] = [] if first_invoice_id is None else [first_invoice_id]
        self.failures = 0  # failed attempts of the open cycle
        self.failed_attempt = 0  # the invoice attempt whose failure was recorded last
        self.retry_at: datetime | None = None
        self.failed_cycles = 0  # consecutive
        self.paid_cycles = 0
        self.auto_renew = True
        self.auto_renew_off_by: str | None = None
        self.cancel_at_period_end = False
        self.canceled_by: str | None = None
        self.cancel_reason: str | None = None
        self.canceled_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Not canceled nor expired: the buyer still holds it (an email change reaches it)."""
        return self.status not in ENDED

    # -- outcomes of the cycle's invoice (told by the invoice hook) ----------------------

    def record_payment(self, invoice_id: UUID) -> None:
        command = "record a paid cycle"
        self._require(command, S.INCOMPLETE, *COLLECTING)
        self._require_open_invoice(command, invoice_id)
        self._cycle_paid(cycle=self.cycle, invoice_id=invoice_id)

    class CyclePaid(LedgerEvent):
        TOPIC = "payledger:Subscription.CyclePaid"
        cycle: int
        invoice_id: UUID

    @event(CyclePaid)
    def _cycle_paid(self, cycle: int, invoice_id: UUID) -> None:
        self.status = S.ACTIVE
        self.open_invoice_id = None
        self.retry_at = None
        self.failures = self.failed_attempt = self.failed_cycles = 0
        self.paid_cycles += 1

    def record_failure(
        self, invoice_id: UUID, attempt: int, reason: str,
        retry_days: tuple[int, ...] = RETRY_DAYS, failed_cycles_limit: int = FAILED_CYCLES,
    ) -> bool:
        """A renewal attempt was declined: schedule a retry, or fail the cycle.

        Returns whether the cycle failed (its invoice is then to be marked
        uncollectible). The first charge of an incomplete subscription is retried at the
        checkout instead, within the incomplete window.
        """
        command = "record a failed renewal charge"
        self._require(command, *COLLECTING)
        self._require_open_invoice(command, invoice_id)
        if attempt <= self.failed_attempt:
            raise self.refuse(command, f"attempt {attempt} was already recorded as failed")
        failures = self.failures + 1
        retry_at = (self.now + timedelta(days=retry_days[failures - 1])
                    if failures <= len(retry_days) else None)
        self._payment_failed(cycle=self.cycle, invoice_id=invoice_id, attempt=attempt,
                             reason=reason, retry_at=retry_at)
        if retry_at is None:
            self._fail_cycle("its retries were exhausted", failed_cycles_limit)
            return True
        return False

    class PaymentFailed(LedgerEvent):
        TOPIC = "payledger:Subscription.PaymentFailed"
        cycle: int
        invoice_id: UUID
        attempt: int
        reason: str
        retry_at: datetime | None

    @event(PaymentFailed)
    def _payment_failed(
        self, cycle: int, invoice_id: UUID, attempt: int, reason: str, retry_at: datetime | None,
    ) -> None:
        self.status = S.PAST_DUE
        self.failures += 1
        self.failed_attempt = attempt
        self.retry_at = retry_at

    def _fail_cycle(self, reason: str, failed_cycles_limit: int) -> None:
        assert self.open_invoice_id is not None
        consecutive = self.failed_cycles + 1
        self._cycle_failed(cycle=self.cycle, invoice_id=self.open_invoice_id,
                           consecutive=consecutive, reason=reason)
        if consecutive >= failed_cycles_limit:
            self._marked_unpaid(failed_cycles=consecutive)

    class CycleFailed(LedgerEvent):
        TOPIC = "payledger:Subscription.CycleFailed"
        cycle: int
        invoice_id: UUID
        consecutive: int
        reason: str

    @event(CycleFailed)
    def _cycle_failed(self, cycle: int, invoice_id: UUID, consecutive: int, reason: str) -> None:
        self.status = S.PAST_DUE
        self.open_invoice_id = None
        self.retry_at = None
        self.failures = self.failed_attempt = 0
        self.failed_cycles = consecutive

    class MarkedUnpaid(LedgerEvent):
        TOPIC = "payledger:Subscription.MarkedUnpaid"
        failed_cycles: int

    @event(MarkedUnpaid)
    def _marked_unpaid(self, failed_cycles: int) -> None:
        self.status = S.UNPAID

    # -- time-driven steps ---------------------------------------------------------------

    def retry(self, as_of: datetime) -> UUID:
        """Ask again for the open cycle's charge; returns the invoice to charge."""
        command = "retry a renewal charge"
        self._require(command, S.PAST_DUE)
        if self.retry_at is None or self.open_invoice_id is None:
            raise self.refuse(command, "no retry is scheduled")
        if as_of < self.retry_at:
            raise self.refuse(command, f"the retry is due at {self.retry_at.isoformat()}")
        self._retry_requested(cycle=self.cycle, invoice_id=self.open_invoice_id,
                              retry=self.failures)
        return self.open_invoice_id

    class RetryRequested(LedgerEvent):
        TOPIC = "payledger:Subscription.RetryRequested"
        cycle: int
        invoice_id: UUID
        retry: int

    @event(RetryRequested)
    def _retry_requested(self, cycle: int, invoice_id: UUID, retry: int) -> None:
        self.retry_at = None

    def expire(self, as_of: datetime) -> UUID:
        """The first charge was not paid within the window; returns the invoice to void."""
        self._require("expire", S.INCOMPLETE)
        assert self.incomplete_expires_at is not None
        assert self.open_invoice_id is not None
        if as_of < self.incomplete_expires_at:
            raise self.refuse("expire", f"it expires at {self.incomplete_expires_at.isoformat()}")
        invoice_id = self.open_invoice_id
        self._expired(expired_at=self.incomplete_expires_at, invoice_id=invoice_id)
        return invoice_id

    class Expired(LedgerEvent):
        TOPIC = "payledger:Subscription.Expired"
        expired_at: datetime
        invoice_id: UUID

    @event(Expired)
    def _expired(self, expired_at: datetime, invoice_id: UUID) -> None:
        self.status = S.EXPIRED
        self.open_invoice_id = None

    def end_period(
        self, as_of: datetime, invoice_id: UUID, failed_cycles_limit: int = FAILED_CYCLES,
    ) -> PeriodEnd:
        """The period ended: renew (a new cycle, charged as `invoice_id`), skip or cancel."""
        command = "end the period"
        self._require(command, *MANAGED, S.UNPAID)
        if as_of < self.period_end:
            raise self.refuse(command, f"it ends at {self.period_end.isoformat()}")
        ending = self._ending()
        if ending is not None:
            return self._cancel(*ending, at_period_end=True)
        if self.status == S.PAUSED:
            self._cycle_skipped(period_start=self.period_end, period_end=self._following_end())
            return PeriodEnd()
        stale = self.open_invoice_id
        if stale is not None:
            self._fail_cycle("the next period began unpaid", failed_cycles_limit)
            if (ending := self._ending()) is not None:  # that was the last cycle allowed
                self._cancel(*ending, at_period_end=True)
                return PeriodEnd(uncollectible=stale)
        plan = self.pending_plan or self.plan
        self._renewed(cycle=self.cycle + 1, invoice_id=invoice_id, plan=plan,
                      period_start=self.period_end,
                      period_end=self._following_end(plan["interval_months"]))
        return PeriodEnd(uncollectible=stale, charge=invoice_id)

    def _ending(self) -> tuple[str, str] | None:
        """Who ends the subscription at this period end, and why; None when it renews."""
        if self.status == S.UNPAID:
            return SYSTEM, f"{self.failed_cycles} consecutive cycles failed"
        if self.cancel_at_period_end:
            assert self.canceled_by is not None
            assert self.cancel_reason is not None
            return self.canceled_by, self.cancel_reason
        if not self.auto_renew:
            assert self.auto_renew_off_by is not None
            return self.auto_renew_off_by, "auto-renew was turned off"
        return None

    def _following_end(self, months: int | None = None) -> datetime:
        months = months or self.plan["interval_months"]
        return charge_date(self.period_end, months, self.charge_day, self.timezone,
                           self.charge_time)

    class Renewed(LedgerEvent):
        TOPIC = "payledger:Subscription.Renewed"
        cycle: int
        invoice_id: UUID
        plan: dict[str, Any]
        period_start: datetime
        period_end: datetime

    @event(Renewed)
    def _renewed(
        self, cycle: int, invoice_id: UUID, plan: dict[str, Any],
        period_start: datetime, period_end: datetime,
    ) -> None:
        self.cycle = cycle
        self.open_invoice_id = invoice_id
        self.invoice_ids.append(invoice_id)
        self.plan = plan
        self.pending_plan = None
        self.period_start = period_start
        self.period_end = period_end

    class CycleSkipped(LedgerEvent):
        TOPIC = "payledger:Subscription.CycleSkipped"
        period_start: datetime
        period_end: datetime

    @event(CycleSkipped)
    def _cycle_skipped(self, period_start: datetime, period_end: datetime) -> None:
        self.period_start = period_start
        self.period_end = period_end

    def timers(self, policy: object = None) -> dict[str, datetime]:
        """The time-driven steps pending, each with its due instant (from stored fields)."""
        del policy  # every due instant is fixed by an event
        due: dict[str, datetime] = {}
        if self.status == S.INCOMPLETE and self.incomplete_expires_at is not None:
            due["expire"] = self.incomplete_expires_at
        if self.status in (*MANAGED, S.UNPAID):
            due["end_period"] = self.period_end
        if self.status == S.PAST_DUE and self.retry_at is not None:
            due["retry"] = self.retry_at
        return due

    # -- management ----------------------------------------------------------------------

    def cancel(self, by: str, reason: str) -> UUID | None:
        """Cancel now; returns the invoice being collected, to void (paid ones stay paid)."""
        self._require("cancel", S.INCOMPLETE, *MANAGED, S.UNPAID)
        return self._cancel(by, reason, at_period_end=False).void

    def _cancel(self, by: str, reason: str, at_period_end: bool) -> PeriodEnd:
        open_invoice = self.open_invoice_id
        self._canceled(canceled_by=by, reason=reason, at_period_end=at_period_end,
                       voided_invoice_id=open_invoice)
        return PeriodEnd(void=open_invoice)

    class Canceled(LedgerEvent):
        TOPIC = "payledger:Subscription.Canceled"
        canceled_by: str
        reason: str
        at_period_end: bool
        voided_invoice_id: UUID | None

    @event(Canceled)
    def _canceled(
        self, canceled_by: str, reason: str, at_period_end: bool, voided_invoice_id: UUID | None,
    ) -> None:
        self.status = S.CANCELED
        self.canceled_by = canceled_by
        self.cancel_reason = reason
        self.canceled_at = self.updated_at
        self.cancel_at_period_end = False
        self.open_invoice_id = None
        self.retry_at = None

    def schedule_cancel(self, by: str, reason: str) -> None:
        command = "cancel at the period end"
        self._require(command, *MANAGED)
        if self.cancel_at_period_end:
            raise self.refuse(command, "a cancellation is already scheduled")
        self._cancellation_scheduled(canceled_by=by, reason=reason)

    class CancellationScheduled(LedgerEvent):
        TOPIC = "payledger:Subscription.CancellationScheduled"
        canceled_by: str
        reason: str

    @event(CancellationScheduled)
    def _cancellation_scheduled(self, canceled_by: str, reason: str) -> None:
        self.cancel_at_period_end = True
        self.canceled_by = canceled_by
        self.cancel_reason = reason

    def pause(self) -> None:
        self._require("pause", S.ACTIVE)
        if self.open_invoice_id is not None:
            raise self.refuse("pause", "a renewal charge is being collected")
        self._paused()

    class Paused(LedgerEvent):
        TOPIC = "payledger:Subscription.Paused"

    @event(Paused)
    def _paused(self) -> None:
        self.status = S.PAUSED

    def resume(self) -> None:
        self._require("resume", S.PAUSED)
        self._resumed()

    class Resumed(LedgerEvent):
        TOPIC = "payledger:Subscription.Resumed"

    @event(Resumed)
    def _resumed(self) -> None:
        self.status = S.ACTIVE

    def reactivate(self, by: str, charge_invoice_id: UUID | None = None) -> None:
        """Active again with a new period; with `charge_invoice_id`, a new cycle charged now."""
        command = "reactivate and charge" if charge_invoice_id else "reactivate"
        self._require(command, S.CANCELED, S.UNPAID)
        if charge_invoice_id is None:
            if not self.paid_cycles:
                raise self.refuse(command, "nothing was ever paid: reactivate and charge")
            self._reactivated(
                reactivated_by=by, cycle=self.cycle, invoice_id=None, plan=self.plan,
                charge_day=self.charge_day, period_start=self.now,
                period_end=next_charge_date(self.now, self.charge_day, self.timezone,
                                            self.charge_time or self.period_end),
            )
            return
        plan = self.pending_plan or self.plan
        self._reactivated(
            reactivated_by=by, cycle=self.cycle + 1, invoice_id=charge_invoice_id, plan=plan,
            charge_day=local_date(self.now, self.timezone).day, period_start=self.now,
            period_end=charge_date(self.now, plan["interval_months"],
                                   local_date(self.now, self.timezone).day, self.timezone),
        )

    class Reactivated(LedgerEvent):
        TOPIC = "payledger:Subscription.Reactivated"
        reactivated_by: str
        cycle: int
        invoice_id: UUID | None
        plan: dict[str, Any]
        charge_day: int
        period_start: datetime
        period_end: datetime

    @event(Reactivated)
    def _reactivated(
        self, reactivated_by: str, cycle: int, invoice_id: UUID | None, plan: dict[str, Any],
        charge_day: int, period_start: datetime, period_end: datetime,
    ) -> None:
        self.status = S.ACTIVE
        self.cycle = cycle
        if invoice_id is not None:  # a new cycle bought now: at this time of day on
            self.open_invoice_id = invoice_id
            self.invoice_ids.append(invoice_id)
            self.pending_plan = None
            self.charge_time = wall_clock(period_start, self.timezone)
        self.plan = plan
        self.charge_day = charge_day
        self.period_start = period_start
        self.period_end = period_end
        self.failures = self.failed_attempt = self.failed_cycles = 0
        self.auto_renew = True
        self.cancel_at_period_end = False
        self.auto_renew_off_by = self.canceled_by = self.cancel_reason = None
        self.canceled_at = None

    def set_auto_renew(self, enabled: bool, by: str) -> None:
        command = f"turn auto-renew {'on' if enabled else 'off'}"
        self._require(command, *MANAGED)
        if self.auto_renew == enabled:
            raise self.refuse(command, f"auto-renew is already {'on' if enabled else 'off'}")
        self._auto_renew_changed(enabled=enabled, changed_by=by)

    class AutoRenewChanged(LedgerEvent):
        TOPIC = "payledger:Subscription.AutoRenewChanged"
        enabled: bool
        changed_by: str

    @event(AutoRenewChanged)
    def _auto_renew_changed(self, enabled: bool, changed_by: str) -> None:
        self.auto_renew = enabled
        self.auto_renew_off_by = None if enabled else changed_by

    def switch_plan(self, plan: dict[str, Any]) -> None:
        """Schedule `plan` for the next cycle (switching back to the current one undoes it)."""
        self._require("switch the plan", *MANAGED)
        for key in ("product_id", "currency"):
            if plan[key] != self.plan[key]:
                raise ValidationError(f"plan.{key}", f"must stay {self.plan[key]!r}")
        if plan["interval_months"] not in INTERVALS:
            raise ValidationError("plan.interval_months", f"must be one of {INTERVALS}")
        if plan == (self.pending_plan or self.plan):
            raise ValidationError("plan", "is already the plan of the next cycle")
        self._plan_switched(plan=plan, effective_at=self.period_end)

    class PlanSwitched(LedgerEvent):
        TOPIC = "payledger:Subscription.PlanSwitched"
        plan: dict[str, Any]
        effective_at: datetime

    @event(PlanSwitched)
    def _plan_switched(self, plan: dict[str, Any], effective_at: datetime) -> None:
        self.pending_plan = None if plan == self.plan else plan

    def change_charge_day(self, day: int) -> None:
        """Charge on `day` of the month from the next renewal on (no proration)."""
        command = "change the charge date"
        self._require(command, S.ACTIVE, S.PAST_DUE, S.PAUSED)
        if not 1 <= day <= 31:
            raise ValidationError("charge_day", "must be between 1 and 31")
        if day == self.charge_day:
            raise ValidationError("charge_day", f"is already {day}")
        next_renewal = charge_date(self.period_end, 0, day, self.timezone, self.charge_time)
        if next_renewal <= self.now:
            next_renewal = charge_date(self.period_end, 1, day, self.timezone, self.charge_time)
        self._charge_date_changed(charge_day=day, period_end=next_renewal)

    class ChargeDateChanged(LedgerEvent):
        TOPIC = "payledger:Subscription.ChargeDateChanged"
        charge_day: int
        period_end: datetime

    @event(ChargeDateChanged)
    def _charge_date_changed(self, charge_day: int, period_end: datetime) -> None:
        self.charge_day = charge_day
        self.period_end = period_end

    def change_email(self, email: str) -> None:
        """The buyer's new email (a no-op when unchanged)."""
        self._require("change the email", S.INCOMPLETE, *MANAGED, S.UNPAID)
        checked = Customer.parse(**{**self.customer, "email": email}).email
        if checked != self.customer["email"]:
            self._email_changed(email=checked)

    class EmailChanged(LedgerEvent):
        TOPIC = "payledger:Subscription.EmailChanged"
        email: str

    @event(EmailChanged)
    def _email_changed(self, email: str) -> None:
        self.customer = {**self.customer, "email": email}

    # -- guards --------------------------------------------------------------------------

    def _require_open_invoice(self, command: str, invoice_id: UUID) -> None:
        if self.open_invoice_id is None:
            raise self.refuse(command, "no cycle is being collected")
        if invoice_id != self.open_invoice_id:
            raise self.refuse(command, f"invoice {invoice_id} is not the open cycle's")
