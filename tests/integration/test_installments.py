"""Installment plans through the Ledger on a SQLite file, with a simulated clock.

The time-driven steps (invoice an installment, mark it overdue) are executed by hand at
the instants the plan's timers name; payments are reported as the gateway would, with
ApproveCard / DeclineCard on card invoices and IssuePix / RecordPayment on Pix ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest

from payledger.domain import commands as c
from payledger.domain.errors import Forbidden, InvalidTransition, NotFound, ValidationError
from payledger.domain.installments import InstallmentPlan, installment_invoice_id
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.refund import Refund
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.queries import recovery_link
from tests.factories import CUSTOMER, SPLIT, TXID
from tests.principals import GATEWAY, platform_for

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)


def create_plan(count: int = 3, price: int = 30_000, **extra: Any) -> c.CreateInstallmentPlan:
    fields: dict[str, Any] = {
        "items": [{"product_id": "course-1", "description": "Curso de Python",
                   "unit_price": price}],
        "customer": CUSTOMER, "currency": "BRL", "split": SPLIT, "count": count,
    }
    return c.CreateInstallmentPlan(**{**fields, **extra})


def written(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def refused_without_writing(ledger: Ledger, error: type[Exception],
                            call: Callable[[], object]) -> Any:
    before = written(ledger)
    with pytest.raises(error) as caught:
        call()
    assert written(ledger) == before
    return caught.value


class Sale:
    """A plan in the ledger, sold by `actor` (the checkout), and the gateway's and the
    scheduler's steps on it."""

    def __init__(self, ledger: Ledger, clock: SimulatedClock, actor: Actor,
                 command: c.CreateInstallmentPlan) -> None:
        self.ledger, self.clock, self.actor = ledger, clock, actor
        self.id = ledger.execute(actor, command).aggregate_id

    @property
    def plan(self) -> InstallmentPlan:
        return self.ledger.load(InstallmentPlan, self.id)

    def invoice(self, number: int) -> Invoice:
        return self.ledger.load(Invoice, installment_invoice_id(self.id, number))

    def run(self, command: c.Command, actor: Actor | None = None) -> UUID:
        """Run `command` as `actor`; by default as the platform principal whose role runs
        it (the gateway for payments, the scheduler for timed steps, the checkout else)."""
        actor = actor or platform_for(command, account=self.actor.account)
        return self.ledger.execute(actor, command).aggregate_id

    def approve(self, number: int) -> None:
        self.run(c.ApproveCard(invoice_id=self.invoice(number).id,
                               authorization_code=f"AUTH-{number}"))

    def decline(self, number: int) -> None:
        self.run(c.DeclineCard(invoice_id=self.invoice(number).id, reason="insufficient funds"))

    def when_due(self, action: str) -> None:
        """Move the clock to the plan's timer `action` and run its command, as a tick would."""
        due = self.plan.timers()[action]
        self.clock.set(due)
        if action == "invoice_installment":
            self.run(c.InvoiceInstallment(plan_id=self.id))
        else:
            self.run(c.MarkInstallmentOverdue(plan_id=self.id))


@pytest.fixture
def sale(sqlite_ledger: Ledger, clock: SimulatedClock, checkout: Actor) -> Callable[..., Sale]:
    def make(**fields: Any) -> Sale:
        return Sale(sqlite_ledger, clock, checkout, create_plan(**fields))
    return make


# -- the scenario with a known answer -----------------------------------------------------


def test_twelve_installments_with_two_late_end_completed_with_issues(
        sale, sqlite_ledger, clock, owner):
    s = sale(count=12, price=119_880, fee=11_988)
    first = s.invoice(1)
    assert (first.status, first.attempts, first.origin, first.origin_id) == (
        "open", 1, "installment", s.id)
    assert first.total == s.plan.installment(1)["amount"] == 10_989
    s.approve(1)
    assert s.plan.status == "in_progress"
    for number in range(2, 13):
        s.when_due("invoice_installment")
        plan = s.plan
        assert plan.installment(number)["state"] == "invoiced"
        assert clock.now() == plan.due_start(number)
        if number in (4, 9):
            s.decline(number)
            s.when_due("mark_overdue")
            assert (s.plan.installment(number)["state"], s.plan.status) == (
                "overdue", "in_progress_with_issues")
            link = recovery_link(sqlite_ledger, owner, s.id)
            assert f"parcela {number} de 12" in parse_qs(urlsplit(link).query)["text"][0]
            clock.advance(DAY)
            s.run(c.ReprocessInstallment(plan_id=s.id, number=number))
            assert s.invoice(number).attempts == 2
        else:
            clock.advance(HOUR)
        s.approve(number)
    plan = s.plan
    assert plan.states == ("paid",) * 3 + ("paid_late",) + ("paid",) * 4 + ("paid_late",) + (
        "paid",) * 3
    assert plan.status == "completed_with_issues"
    assert plan.timers() == {}
    invoices = [s.invoice(n) for n in range(1, 13)]
    assert sum(invoice.paid for invoice in invoices) == plan.total == 131_868
    assert all(sum(p["amount"] for p in i.splits) == i.paid for i in invoices)
    fixed = sum(i.split_rules["platform_fee_fixed"] for i in invoices)
    assert fixed == SPLIT["platform_fee_fixed"]
    assert sqlite_ledger.broken_links(s.id) == []
    names = [stored.topic.rsplit(".", 1)[1] for stored in sqlite_ledger.stored_events(s.id)]
    assert names.count("InstallmentPaid") == 12
    assert names.count("InstallmentOverdue") == names.count("InstallmentReprocessed") == 2


def topics(ledger: Ledger, aggregate_id: UUID) -> list[str]:
    return [stored.topic for stored in ledger.stored_events(aggregate_id)]


def test_the_first_installment_is_invoiced_and_charged_in_the_sale(sale, sqlite_ledger):
    s = sale(count=3, first_due=None)
    assert topics(sqlite_ledger, s.id) == [
        "payledger:InstallmentPlan.Created", "payledger:InstallmentPlan.InstallmentInvoiced"]
    assert topics(sqlite_ledger, s.invoice(1).id) == [
        "payledger:Invoice.Created", "payledger:Invoice.ChargeRequested"]
    assert s.plan.states == ("invoiced", "scheduled", "scheduled")
    assert s.plan.installment(1)["invoice_id"] == s.invoice(1).id
    transcoder = sqlite_ledger.mapper.transcoder
    written_by = {transcoder.decode(stored.state)["command_id"]
                  for aggregate_id in (s.id, s.invoice(1).id)
                  for stored in sqlite_ledger.stored_events(aggregate_id)}
    assert len(written_by) == 1  # one command, one transaction


def test_the_buyers_new_email_reaches_an_open_plan(sale, sqlite_ledger, owner):
    s = sale(count=2)
    change = c.ChangeBuyerEmail(document=CUSTOMER["document"], current_email=CUSTOMER["email"],
                                new_email="ana.nova@example.com")
    sqlite_ledger.execute(owner, change)
    assert s.plan.customer["email"] == "ana.nova@example.com"
    assert topics(sqlite_ledger, s.id)[-1] == "payledger:InstallmentPlan.BuyerEmailChanged"
    s.approve(1)
    s.when_due("invoice_installment")
    assert s.invoice(2).customer["email"] == "ana.nova@example.com"


def test_a_pix_plan_is_paid_by_recorded_payments(sale, clock):
    s = sale(count=2, method="pix")
    s.run(c.IssuePix(invoice_id=s.invoice(1).id, txid=TXID))
    s.run(c.RecordPayment(invoice_id=s.invoice(1).id, reference="E2E-1"))
    assert s.plan.states == ("paid", "scheduled")
    s.when_due("invoice_installment")
    second = s.invoice(2).id
    s.run(c.IssuePix(invoice_id=second, txid="b" * 30, expires_in_seconds=3_600))
    clock.advance(2 * HOUR)
    s.run(c.ExpireInvoice(invoice_id=second))
    s.when_due("mark_overdue")
    # a lapsed Pix is charged again by issuing a new one, not by a charge request
    error = refused_without_writing(
        s.ledger, InvalidTransition,
        lambda: s.run(c.ReprocessInstallment(plan_id=s.id, number=2)))
    assert (error.kind, error.state) == ("Invoice", "expired")
    s.run(c.IssuePix(invoice_id=second, txid="c" * 30))
    s.run(c.RecordPayment(invoice_id=second, reference="E2E-2"))
    assert (s.plan.states, s.plan.status) == (("paid", "paid_late"), "completed_with_issues")


# -- inactive, cancel, refund -------------------------------------------------------------


def test_a_plan_whose_first_charge_never_succeeds_is_inactive(sale):
    s = sale(count=3)
    s.decline(1)
    s.when_due("mark_overdue")
    assert (s.plan.status, s.plan.timers()) == ("inactive", {})
    s.clock.set(s.plan.due_start(2))
    error = refused_without_writing(s.ledger, InvalidTransition,
                                    lambda: s.run(c.InvoiceInstallment(plan_id=s.id)))
    assert (error.kind, error.state) == ("InstallmentPlan", "inactive")


def test_a_cancel_voids_the_open_invoice_and_charges_nothing_more(sale):
    s = sale(count=3)
    s.approve(1)
    s.when_due("invoice_installment")
    s.run(c.CancelPlan(plan_id=s.id, reason="buyer gave up"))
    assert (s.plan.states, s.plan.status) == (("paid", "canceled", "canceled"), "canceled")
    assert s.invoice(2).status == "void"
    assert s.plan.timers() == {}
    for command in (c.CancelPlan(plan_id=s.id, reason="again"),
                    c.InvoiceInstallment(plan_id=s.id, number=3)):
        refused_without_writing(s.ledger, InvalidTransition, lambda cmd=command: s.run(cmd))
    # the gateway captures the charge it was asked for before the cancel: recorded,
    # refunded at once (late_payment=refund), and the plan stays canceled (issue 17, item 3)
    s.run(c.ApproveCard(invoice_id=s.invoice(2).id, authorization_code="LATE"))
    late = s.invoice(2)
    assert (late.status, late.paid, sum(late.reserved.values())) == ("paid", late.total,
                                                                     late.total)
    (refund_id,) = late.reserved
    refund = s.ledger.load(Refund, UUID(refund_id))
    assert (refund.status, refund.requested_by, refund.amount) == ("approved", "ledger",
                                                                   late.total)
    assert (s.plan.states, s.plan.status) == (("paid", "canceled", "canceled"), "canceled")


def test_an_installment_invoice_is_not_voided_on_its_own(sale):
    s = sale(count=2)
    error = refused_without_writing(
        s.ledger, InvalidTransition,
        lambda: s.run(c.VoidInvoice(invoice_id=s.invoice(1).id, reason="typo")))
    assert (error.kind, error.command) == ("InstallmentPlan", "void an installment's invoice")
    assert s.invoice(1).status == "open"


def test_a_refunded_plan_refunds_every_paid_installment(sale, sqlite_ledger, owner):
    s = sale(count=3, price=30_001)
    s.approve(1)
    s.when_due("invoice_installment")
    s.approve(2)
    s.run(c.RefundPlan(plan_id=s.id, justification="course canceled"), owner)  # the producer
    plan = s.plan
    # the request holds the plan; only an approval cancels what is left (issue 15, item 9)
    assert (plan.states, len(plan.held_by), plan.timers()) == (("paid", "paid", "scheduled"),
                                                               2, {})
    assert [r["number"] for r in plan.refunds] == [1, 2]
    assert [r["amount"] for r in plan.refunds] == [10_001, 10_000]
    again = c.RefundPlan(plan_id=s.id, justification="twice")
    refused_without_writing(sqlite_ledger, InvalidTransition, lambda: s.run(again, owner))
    for refund in plan.refunds:
        refund_id = UUID(refund["refund_id"])
        requested = sqlite_ledger.load(Refund, refund_id)
        assert (requested.amount, requested.requested_by) == (refund["amount"], "producer")
        for actor, step in ((owner, c.ApproveRefund(refund_id=refund_id)),
                            (GATEWAY, c.SendRefund(refund_id=refund_id, gateway_reference="GW")),
                            (GATEWAY, c.SucceedRefund(refund_id=refund_id))):
            sqlite_ledger.execute(actor, step)
    assert (s.plan.states, s.plan.status) == (("refunded", "refunded", "canceled"), "refunded")
    assert [s.invoice(n).status for n in (1, 2)] == ["refunded", "refunded"]


def test_a_plans_refund_request_is_not_its_approval(sale, sqlite_ledger, owner):
    """Issue 15, item 9: support may not cancel a plan, and its refund request does not
    either: the plan is held (nothing invoiced) until the owner decides; a rejection
    restores it, and its installments are charged again."""
    support = Actor.preset("support", id="support-1", account="acct-1")
    s = sale(count=3)
    s.approve(1)
    s.run(c.RefundPlan(plan_id=s.id, justification="buyer asked"), support)
    assert (s.plan.status, s.plan.next_to_invoice(), s.plan.timers()) == (
        "in_progress", None, {})
    refused_without_writing(sqlite_ledger, InvalidTransition,
                            lambda: s.run(c.InvoiceInstallment(plan_id=s.id, number=2)))
    (refund,) = s.plan.refunds
    sqlite_ledger.execute(owner, c.RejectRefund(refund_id=UUID(refund["refund_id"]),
                                                reason="outside the warranty"))
    plan = s.plan
    assert (plan.held_by, plan.states, plan.next_to_invoice()) == (
        [], ("paid", "scheduled", "scheduled"), 2)
    s.when_due("invoice_installment")
    assert s.plan.installment(2)["state"] == "invoiced"


def test_an_approved_plan_refund_cancels_what_is_left(sale, sqlite_ledger, owner):
    support = Actor.preset("support", id="support-1", account="acct-1")
    s = sale(count=3)
    s.approve(1)
    s.run(c.RefundPlan(plan_id=s.id, justification="buyer asked"), support)
    (refund,) = s.plan.refunds
    sqlite_ledger.execute(owner, c.ApproveRefund(refund_id=UUID(refund["refund_id"])))
    assert (s.plan.states, s.plan.status, s.plan.held_by) == (
        ("paid", "canceled", "canceled"), "canceled", [])


def test_a_plan_with_nothing_paid_has_nothing_to_refund(sale):
    s = sale(count=2)
    refund = c.RefundPlan(plan_id=s.id, justification="changed my mind")  # the buyer's
    error = refused_without_writing(s.ledger, InvalidTransition, lambda: s.run(refund, s.actor))
    assert error.command == "request the plan's refund"


def test_a_completed_plan_refunded_in_full_shows_refunded(sale, owner):
    s = sale(count=1)
    s.approve(1)
    assert s.plan.status == "completed"
    s.run(c.RefundPlan(plan_id=s.id, justification="not for me"), s.actor)  # the buyer's
    (refund,) = s.plan.refunds
    refund_id = UUID(refund["refund_id"])
    assert s.ledger.load(Refund, refund_id).requested_by == "buyer"
    for actor, step in ((owner, c.ApproveRefund(refund_id=refund_id)),
                        (GATEWAY, c.SendRefund(refund_id=refund_id, gateway_reference="GW")),
                        (GATEWAY, c.SucceedRefund(refund_id=refund_id))):
        s.ledger.execute(actor, step)
    assert s.plan.status == "refunded"


# -- bad input, authorization ---------------------------------------------------------------


@pytest.mark.parametrize(("fields", "field"), [({"count": 13}, "count"), ({"count": 0}, "count"),
                                               ({"fee": -1}, "fee"),
                                               ({"method": "cash"}, "method")])
def test_a_bad_plan_command_names_the_field(fields, field):
    with pytest.raises(ValidationError) as caught:
        create_plan(**fields)
    assert caught.value.field == field


def test_a_first_due_date_before_the_sale_is_refused_without_writing(sqlite_ledger, checkout):
    command = create_plan(first_due="2026-03-01")
    error = refused_without_writing(sqlite_ledger, ValidationError,
                                    lambda: sqlite_ledger.execute(checkout, command))
    assert error.field == "first_due"


def test_a_time_step_before_its_time_is_refused_without_writing(sale):
    s = sale(count=2)
    for command in (c.MarkInstallmentOverdue(plan_id=s.id, number=1),
                    c.MarkInstallmentOverdue(plan_id=s.id),
                    c.InvoiceInstallment(plan_id=s.id, number=2)):
        refused_without_writing(s.ledger, InvalidTransition, lambda cmd=command: s.run(cmd))


def test_the_recovery_link_is_for_its_account_and_permission(sale, sqlite_ledger, owner):
    s = sale(count=2)
    s.decline(1)
    s.when_due("mark_overdue")
    link = recovery_link(sqlite_ledger, owner, s.id)
    assert link.startswith("https://wa.me/5511999990000?text=Ol%C3%A1%2C%20Ana%21")
    assert "R$ 150,00" in parse_qs(urlsplit(link).query)["text"][0]
    support = Actor.preset("support", id="support-1", account="acct-1")
    assert recovery_link(sqlite_ledger, support, s.id) == link
    with pytest.raises(Forbidden, match="purchase_recovery_report"):
        recovery_link(sqlite_ledger, Actor.platform("checkout", id="checkout", account="acct-1"),
                      s.id)
    with pytest.raises(NotFound):  # another account's plan reads as one that is not
        recovery_link(sqlite_ledger, Actor.preset("owner", id="owner-2", account="acct-2"), s.id)


def test_plan_commands_act_only_on_their_account(sale, sqlite_ledger):
    s = sale(count=2)
    elsewhere = Actor.preset("owner", id="owner-2", account="acct-2")
    refused_without_writing(  # as for a plan that does not exist
        sqlite_ledger, NotFound,
        lambda: sqlite_ledger.execute(elsewhere, c.CancelPlan(plan_id=s.id, reason="x")))
