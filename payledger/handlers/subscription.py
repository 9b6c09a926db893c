"""Handlers of the subscription commands, and the subscription's side of its invoices.

A subscription and the invoices of its cycles always move in one transaction: the sale
creates the first invoice and its charge request; a period end creates the renewal
invoice and its charge request (or gives up the cycle left unpaid); a retry asks for a
new charge on the open invoice; canceling or expiring voids the invoice being collected
(never refunding a paid one). The invoice hook follows the gateway's reports: paid ->
the cycle is paid; a declined attempt -> a failure, and when the retries are exhausted
the invoice is marked uncollectible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from payledger.domain import commands as c
from payledger.domain.envelope import current_envelope
from payledger.domain.errors import NotFound, ValidationError
from payledger.domain.invoice import Invoice
from payledger.domain.subscription import PeriodEnd, Subscription
from payledger.handlers.account import account_timezone
from payledger.handlers.customer import link_customer
from payledger.handlers.product import load_product, sale_rules
from payledger.handlers.steps import on_one
from payledger.settings import Settings
from payledger.wiring import AggregateWiring, Handler
from payledger.work import Work

SubscriptionStep = Callable[[Work, Subscription, Any, Settings], None]


def cycle_invoice(
    sub: Subscription, invoice_id: UUID, cycle: int, warranty_days: int = 0,
) -> Invoice:
    """The draft invoice of one cycle, at the plan in force, with the sale's split rules."""
    plan = sub.plan
    return Invoice(
        id=invoice_id,
        items=[{"product_id": plan["product_id"],
                "description": f"{plan['plan_id']}, cycle {cycle}",
                "quantity": 1, "unit_price": plan["price"]}],
        customer=sub.customer, currency=plan["currency"], method="card",
        split_rules=sub.split_rules, subtotal=plan["price"], warranty_days=warranty_days,
        origin="subscription", origin_id=sub.id,
    )


def charge(work: Work, sub: Subscription, invoice_id: UUID, reason: str,
           warranty_days: int = 0) -> None:
    invoice = work.add(cycle_invoice(sub, invoice_id, sub.cycle, warranty_days))
    invoice.request_charge(reason)


def create_subscription(work: Work, cmd: c.CreateSubscription, settings: Settings) -> UUID:
    plan = cmd.plan.model_dump(mode="json")
    first_invoice_id = None if cmd.plan.trial_days else uuid4()
    sub = work.add(Subscription.start(
        id=work.new_id(Subscription, cmd.subscription_id), customer=cmd.customer.to_dict(),
        plan=plan,
        payment_method=cmd.payment_method,
        split_rules=sale_rules(work, cmd, cmd.plan.product_id, settings).model_dump(mode="json"),
        now=current_envelope().at, timezone=account_timezone(work, settings),
        first_invoice_id=first_invoice_id, incomplete_window=settings.subscription_incomplete,
    ))
    if first_invoice_id is not None:  # the warranty covers the first purchase only
        charge(work, sub, first_invoice_id, "checkout", cmd.warranty_days)
    link_customer(work, sub.customer, "Subscription", sub.id)
    return sub.id


def on_subscription(step: SubscriptionStep) -> Handler:
    """A handler running `step` on the command's subscription (and its invoices)."""
    return on_one(lambda work, cmd: work.named(Subscription, cmd.subscription_id))(step)


def settle(work: Work, sub: Subscription, outcome: PeriodEnd, reason: str) -> None:
    if outcome.uncollectible is not None:
        work.get(Invoice, outcome.uncollectible).mark_uncollectible("the next period began unpaid")
    if outcome.void is not None:
        work.get(Invoice, outcome.void).void(reason)
    if outcome.charge is not None:
        charge(work, sub, outcome.charge, "renewal")


@on_subscription
def _renew(work: Work, sub: Subscription, _cmd: c.RenewSubscription, settings: Settings) -> None:
    outcome = sub.end_period(sub.now, uuid4(), settings.dunning_failed_cycles)
    settle(work, sub, outcome, "subscription canceled")


@on_subscription
def _retry(work: Work, sub: Subscription, _cmd: c.RetryRenewal, _: Settings) -> None:
    work.get(Invoice, sub.retry(sub.now)).request_charge("retry")


@on_subscription
def _expire(work: Work, sub: Subscription, _cmd: c.ExpireSubscription, _: Settings) -> None:
    work.get(Invoice, sub.expire(sub.now)).void("subscription expired unpaid")


@on_subscription
def _cancel(work: Work, sub: Subscription, cmd: c.CancelSubscription, _: Settings) -> None:
    if cmd.at_period_end:
        sub.schedule_cancel(work.actor.id, cmd.reason)
    else:
        settle(work, sub, PeriodEnd(void=sub.cancel(work.actor.id, cmd.reason)),
               "subscription canceled")


@on_subscription
def _pause(_work: Work, sub: Subscription, _cmd: c.PauseSubscription, _: Settings) -> None:
    sub.pause()


@on_subscription
def _resume(_work: Work, sub: Subscription, _cmd: c.ResumeSubscription, _: Settings) -> None:
    sub.resume()


@on_subscription
def _reactivate(work: Work, sub: Subscription, cmd: c.ReactivateSubscription,
                _: Settings) -> None:
    invoice_id = uuid4() if cmd.charge else None
    sub.reactivate(work.actor.id, invoice_id)
    if invoice_id is not None:
        charge(work, sub, invoice_id, "reactivation")


@on_subscription
def _auto_renew(work: Work, sub: Subscription, cmd: c.SetAutoRenew, _: Settings) -> None:
    sub.set_auto_renew(cmd.enabled, work.actor.id)


@on_subscription
def _switch(work: Work, sub: Subscription, cmd: c.SwitchPlan, _: Settings) -> None:
    product_id = sub.plan["product_id"]
    try:
        plans = load_product(work, product_id).subscription_plans
    except NotFound:
        plans = {}
    if cmd.plan_id not in plans:
        raise ValidationError("plan_id", f"{cmd.plan_id!r} is not a plan registered for "
                                         f"product {product_id}")
    sub.switch_plan(plans[cmd.plan_id])


@on_subscription
def _charge_date(_work: Work, sub: Subscription, cmd: c.ChangeChargeDate, _: Settings) -> None:
    sub.change_charge_day(cmd.charge_day)


def follow_invoice(work: Work, invoice: Invoice) -> None:
    """The outcome hook of subscription invoices: the subscription's side of an invoice
    command on one of its cycles' invoices."""
    if invoice.origin_id is None:
        return
    sub = work.get(Subscription, invoice.origin_id)
    if invoice.id != sub.open_invoice_id:
        return  # an earlier cycle's invoice (a refund, a dispute): nothing to follow
    if invoice.status == "paid":
        sub.record_payment(invoice.id)
        return
    declined = [e for e in invoice.pending_events if isinstance(e, Invoice.CardDeclined)]
    if not declined or sub.status == "incomplete":
        return  # the first charge is retried at the checkout, within the window
    last = declined[-1]
    if last.attempt <= sub.failed_attempt:
        return  # a repeated report of an attempt already counted
    settings = work.ledger.settings
    if sub.record_failure(invoice.id, last.attempt, last.reason,
                          settings.dunning_retry_days, settings.dunning_failed_cycles):
        invoice.mark_uncollectible("renewal retries exhausted")


SUBSCRIPTIONS = AggregateWiring(
    kind=Subscription,
    app="ledger",
    handlers={
        c.CreateSubscription: create_subscription,
        c.RenewSubscription: _renew,
        c.RetryRenewal: _retry,
        c.ExpireSubscription: _expire,
        c.CancelSubscription: _cancel,
        c.PauseSubscription: _pause,
        c.ResumeSubscription: _resume,
        c.ReactivateSubscription: _reactivate,
        c.SetAutoRenew: _auto_renew,
        c.SwitchPlan: _switch,
        c.ChangeChargeDate: _charge_date,
    },
    timed_steps={
        "expire": lambda i, at: c.ExpireSubscription(subscription_id=i, at=at),
        "end_period": lambda i, at: c.RenewSubscription(subscription_id=i, at=at),
        "retry": lambda i, at: c.RetryRenewal(subscription_id=i, at=at),
    },
    outcome_hooks={"subscription": follow_invoice},
)
