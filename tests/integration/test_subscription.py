"""Subscriptions through the Ledger on a SQLite file, with a simulated clock.

The time-driven steps (period end, retry, expiry) are executed here by hand at the
instants the subscription names; the gateway's outcomes are reported on the cycles'
invoices (ApproveCard, DeclineCard), and the subscription follows them in the same
transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from payledger.domain import commands as c
from payledger.domain.errors import Forbidden, InvalidTransition, NotFound, ValidationError
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import PLATFORM_ROLES, Actor
from payledger.domain.subscription import Subscription
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from tests import factories as f
from tests.conftest import START
from tests.principals import GATEWAY, SCHEDULER

PLAN: dict[str, Any] = {"plan_id": "monthly", "product_id": "course-1", "price": 4_990,
                        "currency": "BRL", "interval_months": 1}


def written(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def subscribe(ledger: Ledger, actor: Actor, **plan: Any) -> Subscription:
    command = c.CreateSubscription(customer=f.CUSTOMER, plan={**PLAN, **plan},
                                   payment_method="card-tok-1", split=f.SPLIT)
    return ledger.load(Subscription, ledger.execute(actor, command).aggregate_id)


def sub_of(ledger: Ledger, sub: Subscription) -> Subscription:
    return ledger.load(Subscription, sub.id)


def invoice(ledger: Ledger, invoice_id: UUID | None) -> Invoice:
    assert invoice_id is not None
    return ledger.load(Invoice, invoice_id)


def topics(ledger: Ledger, aggregate_id: UUID) -> list[str]:
    return [s.topic.split(".")[-1] for s in ledger.stored_events(aggregate_id)]


class Gateway:
    """Plays the host: runs the time-driven steps when due (as the scheduler) and reports
    card outcomes (as the gateway)."""

    def __init__(self, ledger: Ledger, clock: SimulatedClock) -> None:
        self.ledger = ledger
        self.clock = clock

    def at(self, instant: datetime, command: c.Command) -> None:
        self.clock.set(max(instant, self.clock.now()))
        self.ledger.execute(SCHEDULER, command)

    def approve(self, sub: Subscription) -> Subscription:
        sub = sub_of(self.ledger, sub)
        self.ledger.execute(GATEWAY, c.ApproveCard(
            invoice_id=sub.open_invoice_id, authorization_code="AUTH"))
        return sub_of(self.ledger, sub)

    def decline(self, sub: Subscription) -> Subscription:
        sub = sub_of(self.ledger, sub)
        self.ledger.execute(GATEWAY, c.DeclineCard(
            invoice_id=sub.open_invoice_id, reason="insufficient funds"))
        return sub_of(self.ledger, sub)

    def renew(self, sub: Subscription) -> Subscription:
        sub = sub_of(self.ledger, sub)
        self.at(sub.period_end, c.RenewSubscription(subscription_id=sub.id))
        return sub_of(self.ledger, sub)

    def retry(self, sub: Subscription) -> Subscription:
        sub = sub_of(self.ledger, sub)
        assert sub.retry_at is not None
        self.at(sub.retry_at, c.RetryRenewal(subscription_id=sub.id))
        return sub_of(self.ledger, sub)

    def fail_cycle(self, sub: Subscription) -> Subscription:
        """The renewal and each retry declined, the retries run when due."""
        sub = self.decline(sub)
        while sub.retry_at is not None:
            sub = self.decline(self.retry(sub))
        return sub


@pytest.fixture
def gateway(sqlite_ledger: Ledger, clock: SimulatedClock) -> Gateway:
    return Gateway(sqlite_ledger, clock)


@pytest.fixture
def support() -> Actor:
    return Actor.preset("support", id="support-1", account="acct-1")


# -- the sale -------------------------------------------------------------------------------


def test_a_sale_creates_the_subscription_and_charges_its_first_invoice_at_once(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway,
) -> None:
    sub = subscribe(sqlite_ledger, checkout)
    first = invoice(sqlite_ledger, sub.open_invoice_id)
    commands = {sqlite_ledger.mapper.transcoder.decode(n.state)["command_id"]
                for n in sqlite_ledger.recorder.select_notifications(start=1, limit=100)}
    assert len(commands) == 1  # one transaction: subscription, invoice, buyer
    assert (sub.status, sub.cycle, sub.period_start, sub.charge_day) == (
        "incomplete", 1, START, 2)
    assert (first.status, first.origin, first.origin_id, first.total, first.method) == (
        "open", "subscription", sub.id, 4_990, "card")
    assert (first.items[0]["description"], first.warranty_days) == ("monthly, cycle 1", 7)
    assert topics(sqlite_ledger, first.id) == ["Created", "ChargeRequested"]
    sub = gateway.approve(sub)
    assert (sub.status, sub.paid_cycles, sub.open_invoice_id) == ("active", 1, None)
    assert topics(sqlite_ledger, sub.id) == ["Created", "CyclePaid"]


def test_a_trial_starts_without_an_invoice_and_the_trials_end_charges(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway,
) -> None:
    sub = subscribe(sqlite_ledger, checkout, trial_days=7)
    assert (sub.status, sub.open_invoice_id, sub.period_end) == (
        "trialing", None, START + timedelta(days=7))
    sub = gateway.renew(sub)
    renewal = invoice(sqlite_ledger, sub.open_invoice_id)
    assert (renewal.status, renewal.warranty_days, renewal.attempts) == ("open", 0, 1)
    sub = gateway.approve(sub)
    assert (sub.status, sub.cycle, sub.paid_cycles) == ("active", 1, 1)


def test_an_unpaid_first_charge_expires_the_subscription_and_voids_its_invoice(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway,
) -> None:
    sub = subscribe(sqlite_ledger, checkout)
    gateway.decline(sub)  # left to the checkout: still incomplete
    assert sub_of(sqlite_ledger, sub).status == "incomplete"
    command = c.ExpireSubscription(subscription_id=sub.id,
                                   at=START + timedelta(hours=23) - timedelta(seconds=1))
    before = written(sqlite_ledger)
    with pytest.raises(InvalidTransition):
        sqlite_ledger.execute(SCHEDULER, command)
    assert written(sqlite_ledger) == before
    gateway.at(START + timedelta(hours=23), c.ExpireSubscription(subscription_id=sub.id))
    assert sub_of(sqlite_ledger, sub).status == "expired"
    assert invoice(sqlite_ledger, sub.open_invoice_id).status == "void"
    before = written(sqlite_ledger)
    with pytest.raises(InvalidTransition):  # a late approval finds nothing to pay
        sqlite_ledger.execute(GATEWAY, c.ApproveCard(invoice_id=sub.open_invoice_id,
                                                      authorization_code="LATE"))
    assert written(sqlite_ledger) == before


# -- renewals and dunning -------------------------------------------------------------------


def test_a_renewal_invoice_is_charged_retried_and_paid(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway,
) -> None:
    sub = gateway.approve(subscribe(sqlite_ledger, checkout))
    sub = gateway.renew(sub)
    renewal = invoice(sqlite_ledger, sub.open_invoice_id)
    assert (sub.cycle, renewal.items[0]["description"]) == (2, "monthly, cycle 2")
    sub = gateway.decline(sub)
    assert (sub.status, sub.retry_at) == ("past_due", gateway.clock.now() + timedelta(days=1))
    sub = gateway.approve(gateway.retry(sub))
    renewal = invoice(sqlite_ledger, renewal.id)
    assert (renewal.status, renewal.attempts, renewal.declines) == ("paid", 2, 1)
    assert (sub.status, sub.paid_cycles, sub.period_end) == (
        "active", 2, START.replace(month=5))


def test_five_failed_renewals_cancel_a_subscription(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway,
) -> None:
    sub = gateway.approve(subscribe(sqlite_ledger, checkout))
    first = sub.invoice_ids[0]
    for cycle in range(1, 6):
        sub = gateway.fail_cycle(gateway.renew(sub))
        assert (sub.failed_cycles, sub.status) == (cycle, "unpaid" if cycle == 5 else "past_due")
    renewals = [invoice(sqlite_ledger, i) for i in sub.invoice_ids[1:]]
    assert [(i.status, i.attempts, i.declines) for i in renewals] == [
        ("uncollectible", 4, 4)] * 5
    assert sub.period_end == START.replace(month=9)  # cycle 6, Aug 2 to Sep 2
    sub = gateway.renew(sub)  # the period end cancels an unpaid subscription
    assert (sub.status, sub.canceled_by, sub.cancel_reason, sub.canceled_at) == (
        "canceled", "system", "5 consecutive cycles failed", START.replace(month=9))
    assert len(sub.invoice_ids) == 6  # no invoice for a sixth renewal
    paid = invoice(sqlite_ledger, first)
    assert (paid.status, paid.paid, paid.refunded) == ("paid", 4_990, 0)
    history = topics(sqlite_ledger, sub.id)
    assert (history.count("Renewed"), history.count("PaymentFailed"),
            history.count("RetryRequested"), history.count("CycleFailed")) == (5, 20, 15, 5)
    assert history[-3:] == ["CycleFailed", "MarkedUnpaid", "Canceled"]


def test_the_number_of_failed_cycles_and_the_retries_are_settings(
    tmp_path: Path, checkout: Actor, clock: SimulatedClock,
) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/events.db", dunning_failed_cycles=2,
                        dunning_retry_days=(2,))
    ledger = Ledger(settings, clock=clock)
    try:
        gateway = Gateway(ledger, clock)
        sub = gateway.approve(subscribe(ledger, checkout))
        sub = gateway.decline(gateway.renew(sub))
        assert sub.retry_at == clock.now() + timedelta(days=2)
        sub = gateway.fail_cycle(gateway.renew(gateway.decline(gateway.retry(sub))))
        assert (sub.status, sub.failed_cycles) == ("unpaid", 2)
    finally:
        ledger.close()


def test_a_decline_reported_twice_counts_once(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway,
) -> None:
    sub = gateway.renew(gateway.approve(subscribe(sqlite_ledger, checkout)))
    sub = gateway.decline(gateway.decline(sub))
    assert (sub.failures, sub.failed_attempt) == (1, 1)


# -- management -----------------------------------------------------------------------------


def test_cancel_now_voids_the_renewal_being_collected_and_refunds_nothing(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway, support: Actor,
) -> None:
    sub = gateway.renew(gateway.approve(subscribe(sqlite_ledger, checkout)))
    sqlite_ledger.execute(support, c.CancelSubscription(subscription_id=sub.id,
                                                        reason="buyer asked by chat"))
    after = sub_of(sqlite_ledger, sub)
    assert (after.status, after.canceled_by, after.cancel_reason) == (
        "canceled", "support-1", "buyer asked by chat")
    assert invoice(sqlite_ledger, sub.open_invoice_id).status == "void"
    paid = invoice(sqlite_ledger, sub.invoice_ids[0])
    assert (paid.status, paid.refunded) == ("paid", 0)


def test_cancel_at_period_end_then_the_period_end_cancels_without_a_new_invoice(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway, support: Actor,
) -> None:
    sub = gateway.approve(subscribe(sqlite_ledger, checkout))
    sqlite_ledger.execute(support, c.CancelSubscription(
        subscription_id=sub.id, reason="too dear", at_period_end=True))
    assert sub_of(sqlite_ledger, sub).status == "active"
    sub = gateway.renew(sub)
    assert (sub.status, sub.canceled_by, sub.cancel_reason, len(sub.invoice_ids)) == (
        "canceled", "support-1", "too dear", 1)


def test_reactivate_and_charge_invoices_a_new_cycle_at_once(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway, support: Actor,
) -> None:
    sub = gateway.approve(subscribe(sqlite_ledger, checkout))
    sqlite_ledger.execute(support, c.CancelSubscription(subscription_id=sub.id, reason="r"))
    gateway.clock.advance(timedelta(days=40))
    sqlite_ledger.execute(support, c.ReactivateSubscription(subscription_id=sub.id, charge=True))
    sub = sub_of(sqlite_ledger, sub)
    charged = invoice(sqlite_ledger, sub.open_invoice_id)
    assert (sub.status, sub.cycle, sub.period_start) == ("active", 2, gateway.clock.now())
    assert (charged.status, charged.attempts, charged.origin_id) == ("open", 1, sub.id)
    assert topics(sqlite_ledger, charged.id) == ["Created", "ChargeRequested"]
    sub = gateway.approve(sub)
    assert (sub.status, sub.paid_cycles) == ("active", 2)


def test_management_commands_move_the_subscription(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway, support: Actor,
) -> None:
    sub = gateway.approve(subscribe(sqlite_ledger, checkout))
    run = sqlite_ledger.execute
    owner = Actor.preset("owner", id="owner-1", account="acct-1")
    run(owner, c.RegisterProduct(product_id="course-1", name="The course"))
    run(owner, c.RegisterSubscriptionPlan(product_id="course-1", plan={
        **PLAN, "plan_id": "quarterly", "interval_months": 3}))
    run(support, c.SwitchPlan(subscription_id=sub.id, plan_id="quarterly"))
    run(support, c.ChangeChargeDate(subscription_id=sub.id, charge_day=10))
    run(support, c.SetAutoRenew(subscription_id=sub.id, enabled=False))
    run(support, c.SetAutoRenew(subscription_id=sub.id, enabled=True))
    run(support, c.PauseSubscription(subscription_id=sub.id))
    run(support, c.ResumeSubscription(subscription_id=sub.id))
    sub = gateway.renew(sub)
    assert (sub.status, sub.plan["plan_id"], sub.period_start, sub.period_end) == (
        "active", "quarterly", START.replace(month=4, day=10), START.replace(month=7, day=10))
    assert topics(sqlite_ledger, sub.id)[2:] == [
        "PlanSwitched", "ChargeDateChanged", "AutoRenewChanged", "AutoRenewChanged",
        "Paused", "Resumed", "Renewed"]


def test_the_buyers_email_change_reaches_a_running_subscription(
    sqlite_ledger: Ledger, checkout: Actor, support: Actor,
) -> None:
    running = subscribe(sqlite_ledger, checkout)
    ended = subscribe(sqlite_ledger, checkout)
    sqlite_ledger.execute(support, c.CancelSubscription(subscription_id=ended.id, reason="r"))
    sqlite_ledger.execute(support, c.ChangeBuyerEmail(
        document=f.CUSTOMER["document"], current_email=f.CUSTOMER["email"],
        new_email="ana.nova@example.com"))
    assert sub_of(sqlite_ledger, running).customer["email"] == "ana.nova@example.com"
    assert sub_of(sqlite_ledger, ended).customer["email"] == f.CUSTOMER["email"]


ACCOUNT_ONLY = "runs for account principals only"
PLATFORM_ONLY = "runs for platform principals only"
MANAGE = "needs permission 'manage_subscriptions'"
TIMED = "needs permission 'run_timed_steps'"


@pytest.mark.parametrize(("preset", "command", "refusal"), [
    ("technical", lambda i: c.CancelSubscription(subscription_id=i, reason="r"), MANAGE),
    ("gateway", lambda i: c.CancelSubscription(subscription_id=i, reason="r"), MANAGE),
    ("scheduler", lambda i: c.ReactivateSubscription(subscription_id=i), MANAGE),
    ("support", lambda i: c.RenewSubscription(subscription_id=i), PLATFORM_ONLY),
    ("checkout", lambda i: c.RenewSubscription(subscription_id=i), TIMED),
    ("support", lambda i: c.RetryRenewal(subscription_id=i), PLATFORM_ONLY),
    ("owner", lambda i: c.ExpireSubscription(subscription_id=i), PLATFORM_ONLY),
    ("financial", lambda i: c.SetAutoRenew(subscription_id=i, enabled=False), MANAGE),
])
def test_each_command_needs_its_permission(sqlite_ledger, checkout, preset, command,
                                           refusal) -> None:
    """Account profiles are presets; the platform's roles are built with Actor.platform."""
    sub = subscribe(sqlite_ledger, checkout)
    build = Actor.platform if preset in PLATFORM_ROLES else Actor.preset
    actor = build(preset, id="someone", account="acct-1")
    before = written(sqlite_ledger)
    with pytest.raises(Forbidden) as caught:
        sqlite_ledger.execute(actor, command(sub.id))
    assert refusal in str(caught.value)
    assert written(sqlite_ledger) == before


def test_the_checkout_carries_the_buyers_own_cancellation(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway,
) -> None:
    sub = gateway.approve(subscribe(sqlite_ledger, checkout))
    sqlite_ledger.execute(checkout, c.CancelSubscription(subscription_id=sub.id,
                                                         reason="buyer canceled"))
    after = sub_of(sqlite_ledger, sub)
    assert (after.status, after.canceled_by, after.cancel_reason) == (
        "canceled", "checkout", "buyer canceled")
    sqlite_ledger.execute(checkout, c.ReactivateSubscription(subscription_id=sub.id))
    assert sub_of(sqlite_ledger, sub).status == "active"


def test_selling_needs_the_sell_permission(sqlite_ledger: Ledger, support: Actor) -> None:
    with pytest.raises(Forbidden):
        subscribe(sqlite_ledger, support)
    assert written(sqlite_ledger) == 0


def test_another_accounts_subscription_is_not_found(sqlite_ledger, checkout) -> None:
    sub = subscribe(sqlite_ledger, checkout)
    elsewhere = Actor.preset("owner", id="owner-2", account="acct-2")
    with pytest.raises(NotFound):
        sqlite_ledger.execute(elsewhere, c.CancelSubscription(subscription_id=sub.id, reason="r"))


@pytest.mark.parametrize(("plan", "field"), [
    ({"interval_months": 2}, "plan.interval_months"),
    ({"price": 0}, "plan.price"),
    ({"currency": "XYZ"}, "plan.currency"),
    ({"trial_days": -1}, "plan.trial_days"),
])
def test_a_bad_plan_is_refused_before_anything_is_written(plan, field) -> None:
    with pytest.raises(ValidationError) as caught:
        c.CreateSubscription(customer=f.CUSTOMER, plan={**PLAN, **plan},
                             payment_method="card-tok-1", split=f.SPLIT)
    assert caught.value.field == field


def test_a_bad_charge_day_names_its_field() -> None:
    with pytest.raises(ValidationError) as caught:
        c.ChangeChargeDate(subscription_id=uuid4(), charge_day=32)
    assert caught.value.field == "charge_day"


def test_a_plan_switch_names_a_registered_plan_never_a_typed_price(
    sqlite_ledger: Ledger, checkout: Actor, gateway: Gateway, support: Actor,
) -> None:
    """Support switches a subscriber between the plans the owner registered; a price it
    types does not exist as a field, and an unregistered plan is refused by name."""
    sub = gateway.approve(subscribe(sqlite_ledger, checkout))
    with pytest.raises(ValidationError) as typed:
        c.SwitchPlan(subscription_id=sub.id, plan={**PLAN, "price": 10**12})
    assert typed.value.field in ("plan", "plan_id")
    before = sqlite_ledger.recorder.max_notification_id()
    with pytest.raises(ValidationError) as unknown:
        sqlite_ledger.execute(support, c.SwitchPlan(subscription_id=sub.id, plan_id="gold"))
    assert unknown.value.field == "plan_id"
    assert sqlite_ledger.recorder.max_notification_id() == before
    owner = Actor.preset("owner", id="owner-1", account="acct-1")
    sqlite_ledger.execute(owner, c.RegisterProduct(product_id="course-1", name="The course"))
    with pytest.raises(Forbidden):  # plans are the owner's (manage products)
        sqlite_ledger.execute(support, c.RegisterSubscriptionPlan(
            product_id="course-1", plan={**PLAN, "plan_id": "gold", "price": 10**9}))
    sqlite_ledger.execute(owner, c.RegisterSubscriptionPlan(
        product_id="course-1", plan={**PLAN, "plan_id": "gold", "price": 9_990}))
    sqlite_ledger.execute(support, c.SwitchPlan(subscription_id=sub.id, plan_id="gold"))
    assert sqlite_ledger.load(Subscription, sub.id).pending_plan["price"] == 9_990


def test_an_accounts_subscriptions_renew_by_its_own_timezone(sqlite_ledger, clock) -> None:
    """Issue 17, item 7: the timezone is the account's, set when it is registered; one
    never registered keeps the installation's (America/Sao_Paulo)."""
    operator = Actor.platform("operator", id="ops-1", account="platform")
    sqlite_ledger.execute(operator, c.RegisterAccount(
        account="acct-ny", owner_user="owner@ny.example", document="11144477735",
        kind="person", timezone="America/New_York"))
    clock.set(datetime(2026, 3, 7, 7, 30, tzinfo=UTC))  # 02:30 in New York, EST
    ny = subscribe(sqlite_ledger, Actor.platform("checkout", id="checkout", account="acct-ny"))
    here = subscribe(sqlite_ledger, Actor.platform("checkout", id="checkout", account="acct-1"))
    assert (ny.timezone, here.timezone) == ("America/New_York", "America/Sao_Paulo")
    # April 7 at 02:30 EDT (06:30 UTC), though the sale was 07:30 UTC in winter time
    assert ny.period_end == datetime(2026, 4, 7, 6, 30, tzinfo=UTC)
    assert here.period_end == datetime(2026, 4, 7, 7, 30, tzinfo=UTC)  # no DST in Brazil


def test_an_unknown_timezone_is_refused_naming_the_field(sqlite_ledger) -> None:
    operator = Actor.platform("operator", id="ops-1", account="platform")
    before = written(sqlite_ledger)
    with pytest.raises(ValidationError) as caught:
        sqlite_ledger.execute(operator, c.RegisterAccount(
            account="acct-x", owner_user="owner@x.example", document="11144477735",
            kind="person", timezone="Mars/Olympus"))
    assert caught.value.field == "timezone"
    assert written(sqlite_ledger) == before
