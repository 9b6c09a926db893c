"""Balance: what one party holds in one currency (DESIGN.md §3, docs/money.md).

A party is an account, and its balance (its wallet) belongs to it: one per currency,
whatever its role in each sale, so a coproducer or an affiliate holds what it earned
from every producer in one wallet, and only its own principals withdraw from it. The
platform (party `platform`, account `platform`) has one balance per selling account
and currency, so no single aggregate takes every sale. Each movement records the
account of the sale it came from and the party's role in it.

Money sits in four places, and moves only between them, except where it enters
(a credit, a positive adjustment) or leaves (a debit, a negative adjustment, a paid
withdrawal):

- pending: receivables, one per sale, each released on its `available_on`;
- available: released money; negative only after a refund or a chargeback took back
  money already withdrawn, and then no withdrawal is allowed;
- disputed: withheld from a sale under dispute until it is won (reinstated) or lost;
- in flight: withdrawals requested and not yet paid, failed or canceled.

The reserve is not a place but a level: a withdrawal never exceeds available minus
reserved. Each credit raises it by a percentage of the credit, and a weekly beat
recomputes it as that percentage of the credits on sales paid in the last days.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict
from uuid import UUID, uuid5

from eventsourcing.domain import event

from payledger.domain.envelope import (
    LedgerAggregate,
    LedgerCreated,
    LedgerEvent,
    current_envelope,
)
from payledger.domain.errors import InvalidTransition, ValidationError
from payledger.domain.money import bps_of
from payledger.domain.permissions import PLATFORM_PARTY, Permission
from payledger.domain.time import local_date

NAMESPACE = UUID("0b6c7f1e-2f0d-4a57-9a5e-3c1d7e8b9f21")
CAUSES = ("refund", "chargeback")


class BalanceStatus(StrEnum):
    OPEN = "open"
    NEGATIVE = "negative"  # a refund or a chargeback took back money already withdrawn


class WithdrawalStatus(StrEnum):
    REQUESTED = "requested"
    SENT = "sent"  # the host took it for transfer: only its outcome ends it
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"


IN_TRANSFER = (WithdrawalStatus.REQUESTED, WithdrawalStatus.SENT)
"""A withdrawal's states its transfer's outcome (paid, failed) may end."""


class Receivable(TypedDict):
    """A sale's credit, pending until `available_on` (`Balance.receivables`)."""

    amount: int
    available_on: datetime


class Hold(TypedDict):
    """What a dispute withholds from one sale (`Balance.holds`): from its receivable
    (`pending`, released on `available_on`, None when it had none) and from available."""

    pending: int
    available: int
    available_on: datetime | None


class Withdrawal(TypedDict):
    amount: int
    status: WithdrawalStatus


class Source(TypedDict):
    """Where a movement of a sale's money comes from: the selling account, and the
    party's role in that sale (a partner sees the invoice ids, never the buyers)."""

    source_account: str
    role: str


class Balance(LedgerAggregate):
    TOPIC = "payledger:Balance"
    KIND = "Balance"
    READ = Permission.FINANCIAL_REPORTS
    fees_owed = 0  # platform fees given back for it: docs/decisions/0004 (older snapshots)

    @staticmethod
    def create_id(party: str, currency: str, selling_account: str | None = None) -> UUID:
        """A party's wallet in `currency`; the platform's balance of `selling_account`."""
        if party != PLATFORM_PARTY:
            return uuid5(NAMESPACE, f"wallet\n{party}\n{currency}")
        if not selling_account:
            raise ValidationError("selling_account", "the platform has one balance per "
                                                     "selling account: name it")
        return uuid5(NAMESPACE, f"platform\n{selling_account}\n{currency}")

    @classmethod
    def open(cls, party: str, currency: str, *, reserve_interval: timedelta,
             selling_account: str | None = None) -> Balance:
        """A new balance, opened in its party's own envelope (its account is the
        party's); the platform's holds no reserve."""
        envelope = current_envelope()
        platform = party == PLATFORM_PARTY
        return cls(
            id=cls.create_id(party, currency, selling_account), party=party,
            currency=currency, platform=platform,
            selling_account=selling_account if platform else None,
            next_recompute_at=None if platform else envelope.at + reserve_interval,
        )

    class Opened(LedgerCreated):
        TOPIC = "payledger:Balance.Opened"
        party: str
        currency: str
        platform: bool
        selling_account: str | None
        next_recompute_at: datetime | None

    @event(Opened)
    def __init__(
        self, id: UUID, party: str, currency: str, platform: bool,
        selling_account: str | None, next_recompute_at: datetime | None,
    ) -> None:
        self.party = party
        self.currency = currency
        self.platform = platform
        self.selling_account = selling_account
        self.next_recompute_at = next_recompute_at
        self.receivables: dict[str, Receivable] = {}  # by invoice id
        self.holds: dict[str, Hold] = {}  # by invoice id
        self.credits_by_day: dict[str, int] = {}  # by ISO local date of payment
        self.withdrawals: dict[str, Withdrawal] = {}  # by withdrawal id
        self.pending = 0
        self.available = 0
        self.disputed = 0
        self.in_flight = 0
        self.withdrawn = 0
        self.reserved = 0
        self.fees_owed = 0
        self.document: str | None = None
        self.bank_account: dict[str, Any] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Balance:
        """A copy at the cost of its containers, not of every receivable in them.

        The repository copies a cached balance for each use. Event bodies never change
        a value inside a container, they replace it, so copying the containers makes
        a copy as independent as `copy.deepcopy`'s.
        """
        clone = object.__new__(type(self))
        clone.__dict__.update({k: copy.copy(v) if isinstance(v, dict | list) else v
                               for k, v in vars(self).items()})
        return clone

    # -- reading -------------------------------------------------------------------

    @property
    def status(self) -> BalanceStatus:
        return BalanceStatus.NEGATIVE if self.available < 0 else BalanceStatus.OPEN

    @property
    def withdrawable(self) -> int:
        return max(self.available - self.reserved, 0) if self.available >= 0 else 0

    @property
    def holding(self) -> int:
        """Everything the balance holds: pending, available, disputed and in flight."""
        return self.pending + self.available + self.disputed + self.in_flight

    @property
    def next_release_at(self) -> datetime | None:
        return min((r["available_on"] for r in self.receivables.values()), default=None)

    def timers(self, policy: object = None) -> dict[str, datetime]:
        """The time-driven steps pending, each with its due instant (from stored fields):
        release at the earliest `available_on`, the reserve at `next_recompute_at`."""
        del policy  # every due instant is fixed by an event
        due: dict[str, datetime] = {}
        if self.next_release_at is not None:
            due["release"] = self.next_release_at
        if self.next_recompute_at is not None:
            due["recompute_reserve"] = self.next_recompute_at
        return due

    # -- money in and out of sales -------------------------------------------------

    def credit(self, invoice_id: UUID, amount: int, available_on: datetime,
               paid_at: datetime, timezone: str, source: Source, *,
               reserve_bps: int = 0) -> None:
        """A party's share of a paid sale, receivable on `available_on`; the reserve
        covers `reserve_bps` of it from now on (docs/decisions/0003), the platform's
        balance none."""
        if amount < 1:
            raise ValidationError("amount", "a credit is at least one minor unit")
        if str(invoice_id) in self.receivables or str(invoice_id) in self.holds:
            raise self.refuse("credit a sale", f"invoice {invoice_id} is already credited")
        self._credited(invoice_id=invoice_id, amount=amount, available_on=available_on,
                       paid_on=local_date(paid_at, timezone).isoformat(), **source,
                       reserved=0 if self.platform else bps_of(amount, reserve_bps))

    class Credited(LedgerEvent):
        TOPIC = "payledger:Balance.Credited"
        invoice_id: UUID
        amount: int
        available_on: datetime
        paid_on: str
        source_account: str
        role: str
        reserved: int = 0  # what the reserve rose by (0 in events before the rule)

    @event(Credited)
    def _credited(self, invoice_id: UUID, amount: int, available_on: datetime,
                  paid_on: str, source_account: str, role: str, reserved: int = 0) -> None:
        self.receivables[str(invoice_id)] = {"amount": amount, "available_on": available_on}
        self.pending += amount
        self.reserved += reserved
        self.credits_by_day[paid_on] = self.credits_by_day.get(paid_on, 0) + amount

    def release(self, as_of: datetime) -> None:
        """Time-driven: every receivable due by `as_of` becomes available."""
        due = sorted(k for k, r in self.receivables.items() if r["available_on"] <= as_of)
        if not due:
            upcoming = self.next_release_at
            detail = f"the next matures at {upcoming.isoformat()}" if upcoming else "none"
            raise self.refuse("release funds", f"no receivable has matured ({detail})")
        amount = sum(self.receivables[k]["amount"] for k in due)
        self._released(invoices=due, amount=amount)

    class Released(LedgerEvent):
        TOPIC = "payledger:Balance.Released"
        invoices: list[str]
        amount: int

    @event(Released)
    def _released(self, invoices: list[str], amount: int) -> None:
        for key in invoices:
            del self.receivables[key]
        self.pending -= amount
        self.available += amount

    def debit(self, invoice_id: UUID, amount: int, cause: str, reference: str,
              source: Source, *, kept_fee: int = 0) -> None:
        """A refund's or a chargeback's share: off the sale's hold, then its receivable,
        then available, which may go negative (money already withdrawn, or a platform
        fee kept: `kept_fee` of `amount` pays it, docs/decisions/0004)."""
        if cause not in CAUSES:
            raise ValidationError("cause", f"must be one of {', '.join(CAUSES)}")
        if amount < 1:
            raise ValidationError("amount", "a debit is at least one minor unit")
        key = str(invoice_id)
        hold = self.holds.get(key)
        from_disputed = min(amount, hold["pending"] + hold["available"]) if hold is not None else 0
        from_pending = min(amount - from_disputed, self._receivable(key))
        self._debited(invoice_id=invoice_id, amount=amount, cause=cause, reference=reference,
                      from_disputed=from_disputed, from_pending=from_pending,
                      from_available=amount - from_disputed - from_pending, **source,
                      kept_fee=kept_fee)

    class Debited(LedgerEvent):
        TOPIC = "payledger:Balance.Debited"
        invoice_id: UUID
        amount: int
        cause: str
        reference: str
        from_disputed: int
        from_pending: int
        from_available: int
        source_account: str
        role: str
        kept_fee: int = 0  # the part paying a fee the platform kept (0 before the rule)

    @event(Debited)
    def _debited(self, invoice_id: UUID, amount: int, cause: str, reference: str,
                 from_disputed: int, from_pending: int, from_available: int,
                 source_account: str, role: str, kept_fee: int = 0) -> None:
        key = str(invoice_id)
        self.fees_owed += kept_fee
        if from_disputed:
            hold = self.holds.pop(key)
            from_held_pending = min(from_disputed, hold["pending"])
            hold = {**hold, "pending": hold["pending"] - from_held_pending,
                    "available": hold["available"] - (from_disputed - from_held_pending)}
            if hold["pending"] + hold["available"]:
                self.holds[key] = hold
            self.disputed -= from_disputed
        if from_pending:
            self._take_receivable(key, from_pending)
        self.available -= from_available

    def withhold(self, invoice_id: UUID, amount: int, source: Source) -> None:
        """A dispute opened: the party's stake in the sale is withheld, from its
        receivable first, then from what is available (never below zero)."""
        key = str(invoice_id)
        if key in self.holds:
            raise self.refuse("withhold for a dispute", f"invoice {invoice_id} is withheld")
        from_pending = min(amount, self._receivable(key))
        from_available = min(amount - from_pending, max(self.available, 0))
        if from_pending + from_available:
            self._withheld(invoice_id=invoice_id, from_pending=from_pending,
                           from_available=from_available, **source)

    class Withheld(LedgerEvent):
        TOPIC = "payledger:Balance.Withheld"
        invoice_id: UUID
        from_pending: int
        from_available: int
        source_account: str
        role: str

    @event(Withheld)
    def _withheld(self, invoice_id: UUID, from_pending: int, from_available: int,
                  source_account: str, role: str) -> None:
        key = str(invoice_id)
        receivable = self.receivables.get(key)
        self.holds[key] = {"pending": from_pending, "available": from_available,
                           "available_on": receivable["available_on"] if receivable else None}
        if from_pending:
            self._take_receivable(key, from_pending)
        self.available -= from_available
        self.disputed += from_pending + from_available

    def reinstate(self, invoice_id: UUID, source: Source) -> None:
        """A dispute won, or what a lost one did not take: the hold goes back where it
        came from (the receivable keeps its release date). Nothing held, nothing done."""
        hold = self.holds.get(str(invoice_id))
        if hold is not None:
            self._reinstated(invoice_id=invoice_id, to_pending=hold["pending"],
                             to_available=hold["available"], **source)

    class Reinstated(LedgerEvent):
        TOPIC = "payledger:Balance.Reinstated"
        invoice_id: UUID
        to_pending: int
        to_available: int
        source_account: str
        role: str

    @event(Reinstated)
    def _reinstated(self, invoice_id: UUID, to_pending: int, to_available: int,
                    source_account: str, role: str) -> None:
        hold = self.holds.pop(str(invoice_id))
        if to_pending:
            receivable = self.receivables.get(str(invoice_id))
            if receivable is None:  # released while withheld: it comes back pending
                assert hold["available_on"] is not None  # held pending came from a receivable
                receivable = {"amount": 0, "available_on": hold["available_on"]}
            self.receivables[str(invoice_id)] = {**receivable,
                                                 "amount": receivable["amount"] + to_pending}
        self.pending += to_pending
        self.available += to_available
        self.disputed -= to_pending + to_available

    def _receivable(self, key: str) -> int:
        receivable = self.receivables.get(key)
        return receivable["amount"] if receivable else 0

    def _take_receivable(self, key: str, amount: int) -> None:
        receivable = self.receivables.pop(key)
        if receivable["amount"] > amount:
            self.receivables[key] = {**receivable, "amount": receivable["amount"] - amount}
        self.pending -= amount

    # -- reserve and adjustments -----------------------------------------------------

    def recompute_reserve(self, as_of: datetime, bps: int, window_days: int,
                          interval: timedelta, timezone: str) -> None:
        """Time-driven: reserved = `bps` of the credits on sales paid in the last
        `window_days` local days (today included)."""
        command = "recompute the reserve"
        if self.next_recompute_at is None:
            raise self.refuse(command, "the platform's balance holds no reserve")
        if as_of < self.next_recompute_at:
            raise self.refuse(command, f"it is due at {self.next_recompute_at.isoformat()}")
        since = (local_date(as_of, timezone) - timedelta(days=window_days - 1)).isoformat()
        credits = sum(v for day, v in self.credits_by_day.items() if day >= since)
        next_at = self.next_recompute_at
        while next_at <= as_of:  # a fixed weekly cadence, skipping missed beats
            next_at += interval
        self._reserve_recomputed(reserved=bps_of(credits, bps), credits=credits, since=since,
                                 next_recompute_at=next_at)

    class ReserveRecomputed(LedgerEvent):
        TOPIC = "payledger:Balance.ReserveRecomputed"
        reserved: int
        credits: int
        since: str
        next_recompute_at: datetime

    @event(ReserveRecomputed)
    def _reserve_recomputed(self, reserved: int, credits: int, since: str,
                            next_recompute_at: datetime) -> None:
        self.reserved = reserved
        self.next_recompute_at = next_recompute_at
        self.credits_by_day = {d: v for d, v in self.credits_by_day.items() if d >= since}

    def adjust(self, amount: int, reason: str) -> None:
        """A manual correction of what is available; it never makes a balance negative."""
        if amount == 0:
            raise ValidationError("amount", "an adjustment is not zero")
        if amount < 0 and self.available + amount < 0:
            raise ValidationError(
                "amount", f"would leave available at {self.available + amount}: only a "
                          "refund or a chargeback makes a balance negative")
        self._adjusted(amount=amount, reason=reason)

    class Adjusted(LedgerEvent):
        TOPIC = "payledger:Balance.Adjusted"
        amount: int
        reason: str

    @event(Adjusted)
    def _adjusted(self, amount: int, reason: str) -> None:
        self.available += amount

    # -- bank account and withdrawals ------------------------------------------------

    def change_bank_account(self, bank_account: dict[str, Any], document: str | None) -> None:
        """A party's bank account carries its account's registered `document`. The
        platform's (`document` None: the platform is not an account) names its own
        with its first, and every later one must match it."""
        command = "change the bank account"
        holder = bank_account["holder_document"]
        anchor = document if document is not None else self.document
        if anchor is not None and holder != anchor:
            raise self.refuse(command, "the holder's document is not the account's own")
        if bank_account == self.bank_account:
            raise self.refuse(command, "it is already the account on file")
        self._bank_account_changed(bank_account=bank_account, document=anchor or holder)

    class BankAccountChanged(LedgerEvent):
        TOPIC = "payledger:Balance.BankAccountChanged"
        bank_account: dict[str, Any]
        document: str

    @event(BankAccountChanged)
    def _bank_account_changed(self, bank_account: dict[str, Any], document: str) -> None:
        self.bank_account = bank_account
        self.document = document

    def request_withdrawal(self, withdrawal_id: UUID, amount: int,
                           bank_account: dict[str, Any] | None = None,
                           document: str | None = None) -> None:
        """Only to the bank account on file, which must carry the account's registered
        `document` as it is now (None for the platform's balance)."""
        command = "request a withdrawal"
        if self.bank_account is None:
            raise self.refuse(command, "no bank account is on file")
        destination = bank_account or self.bank_account
        if document is not None and self.bank_account["holder_document"] != document:
            raise self.refuse(command, "the account's document changed since the bank account "
                                       "on file was set: add one with the new document")
        if destination["holder_document"] != self.document:
            raise self.refuse(command, "the holder's document is not the account's own")
        if destination != self.bank_account:
            raise self.refuse(command, "money goes only to the bank account on file")
        if self.available < 0:
            raise self.refuse(command, f"the balance is negative ({self.available})")
        if str(withdrawal_id) in self.withdrawals:
            raise self.refuse(command, f"withdrawal {withdrawal_id} already exists")
        if self.withdrawable < 1:
            raise self.refuse(command, f"nothing is withdrawable (available {self.available}, "
                                       f"reserved {self.reserved})")
        if not 1 <= amount <= self.withdrawable:
            raise ValidationError("amount", f"must be between 1 and {self.withdrawable} "
                                            "(available minus reserved)")
        self._withdrawal_requested(withdrawal_id=withdrawal_id, amount=amount,
                                   bank_account=destination)

    class WithdrawalRequested(LedgerEvent):
        TOPIC = "payledger:Balance.WithdrawalRequested"
        withdrawal_id: UUID
        amount: int
        bank_account: dict[str, Any]

    @event(WithdrawalRequested)
    def _withdrawal_requested(self, withdrawal_id: UUID, amount: int,
                              bank_account: dict[str, Any]) -> None:
        self.withdrawals[str(withdrawal_id)] = {"amount": amount,
                                                "status": WithdrawalStatus.REQUESTED}
        self.available -= amount
        self.in_flight += amount

    def send_withdrawal(self, withdrawal_id: UUID, reference: str) -> None:
        """The host took the withdrawal for transfer: from now on it can no longer be
        canceled (the money may be on its way); only paid or failed end it."""
        self._require_withdrawal(withdrawal_id, "send a withdrawal", WithdrawalStatus.REQUESTED)
        self._withdrawal_sent(withdrawal_id=withdrawal_id, reference=reference)

    class WithdrawalSent(LedgerEvent):
        TOPIC = "payledger:Balance.WithdrawalSent"
        withdrawal_id: UUID
        reference: str

    @event(WithdrawalSent)
    def _withdrawal_sent(self, withdrawal_id: UUID, reference: str) -> None:
        withdrawal = self.withdrawals[str(withdrawal_id)]
        self.withdrawals[str(withdrawal_id)] = {**withdrawal, "status": WithdrawalStatus.SENT}

    def pay_withdrawal(self, withdrawal_id: UUID, reference: str) -> None:
        self._require_withdrawal(withdrawal_id, "pay a withdrawal", *IN_TRANSFER)
        self._withdrawal_paid(withdrawal_id=withdrawal_id, reference=reference)

    class WithdrawalPaid(LedgerEvent):
        TOPIC = "payledger:Balance.WithdrawalPaid"
        withdrawal_id: UUID
        reference: str

    @event(WithdrawalPaid)
    def _withdrawal_paid(self, withdrawal_id: UUID, reference: str) -> None:
        withdrawal = self.withdrawals[str(withdrawal_id)]
        self.withdrawals[str(withdrawal_id)] = {**withdrawal, "status": WithdrawalStatus.PAID}
        self.in_flight -= withdrawal["amount"]
        self.withdrawn += withdrawal["amount"]

    def fail_withdrawal(self, withdrawal_id: UUID, reason: str) -> None:
        self._require_withdrawal(withdrawal_id, "fail a withdrawal", *IN_TRANSFER)
        self._withdrawal_failed(withdrawal_id=withdrawal_id, reason=reason)

    class WithdrawalFailed(LedgerEvent):
        TOPIC = "payledger:Balance.WithdrawalFailed"
        withdrawal_id: UUID
        reason: str

    @event(WithdrawalFailed)
    def _withdrawal_failed(self, withdrawal_id: UUID, reason: str) -> None:
        self._return_withdrawal(withdrawal_id, WithdrawalStatus.FAILED)

    def cancel_withdrawal(self, withdrawal_id: UUID, reason: str) -> None:
        self._require_withdrawal(withdrawal_id, "cancel a withdrawal", WithdrawalStatus.REQUESTED)
        self._withdrawal_canceled(withdrawal_id=withdrawal_id, reason=reason)

    class WithdrawalCanceled(LedgerEvent):
        TOPIC = "payledger:Balance.WithdrawalCanceled"
        withdrawal_id: UUID
        reason: str

    @event(WithdrawalCanceled)
    def _withdrawal_canceled(self, withdrawal_id: UUID, reason: str) -> None:
        self._return_withdrawal(withdrawal_id, WithdrawalStatus.CANCELED)

    def _return_withdrawal(self, withdrawal_id: UUID, status: WithdrawalStatus) -> None:
        withdrawal = self.withdrawals[str(withdrawal_id)]
        self.withdrawals[str(withdrawal_id)] = {**withdrawal, "status": status}
        self.in_flight -= withdrawal["amount"]
        self.available += withdrawal["amount"]

    def _require_withdrawal(self, withdrawal_id: UUID, command: str,
                            *states: WithdrawalStatus) -> None:
        withdrawal = self.withdrawals.get(str(withdrawal_id))
        if withdrawal is None:
            raise InvalidTransition("Withdrawal", "unknown", command,
                                    f"no withdrawal {withdrawal_id} on this balance")
        if withdrawal["status"] not in states:
            raise InvalidTransition("Withdrawal", withdrawal["status"], command,
                                    f"allowed only when {' or '.join(states)}")
