"""Issue 17, items 4-6, through the Ledger on real stores: no second charge while one
awaits the gateway (two workers at once included), a subscription's invoices closed
only through the subscription, and only checkouts abandoned."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from payledger.domain import commands as c
from payledger.domain.errors import InvalidTransition
from payledger.domain.installments import installment_invoice_id
from payledger.domain.invoice import Invoice
from payledger.domain.subscription import Subscription
from payledger.ledger import Ledger
from payledger.settings import Settings
from tests import factories as f
from tests.integration.test_installments import create_plan
from tests.integration.test_subscription import PLAN
from tests.principals import CHECKOUT, GATEWAY, SCHEDULER, platform_for

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _plan_with_an_overdue_installment(ledger: Ledger) -> UUID:
    """A card plan: the first installment paid, the second charged, declined, overdue."""
    plan_id = ledger.execute(CHECKOUT, create_plan(count=3)).aggregate_id
    ledger.execute(GATEWAY, c.ApproveCard(invoice_id=installment_invoice_id(plan_id, 1),
                                          authorization_code="A-1"))
    ledger.tick(ledger.clock.now() + 40 * DAY)  # invoiced, then overdue, nothing answered
    ledger.execute(GATEWAY, c.DeclineCard(invoice_id=installment_invoice_id(plan_id, 2),
                                          reason="insufficient funds"))
    return plan_id


def _charges(ledger: Ledger, invoice_id: UUID) -> int:
    return sum(isinstance(e, Invoice.ChargeRequested) for e in ledger.events.get(invoice_id))


def test_a_charge_is_refused_while_the_last_attempt_is_pending(sqlite_ledger):
    plan_id = _plan_with_an_overdue_installment(sqlite_ledger)
    reprocess = c.ReprocessInstallment(plan_id=plan_id, number=2)
    owner = platform_for(reprocess, account="acct-1")
    sqlite_ledger.execute(owner, reprocess)
    before = sqlite_ledger.recorder.max_notification_id()
    with pytest.raises(InvalidTransition, match="attempt 2 is still pending at the gateway"):
        sqlite_ledger.execute(owner, c.ReprocessInstallment(plan_id=plan_id, number=2))
    assert sqlite_ledger.recorder.max_notification_id() == before


def test_two_reprocess_requests_at_once_charge_once(store_url, clock):
    """A double click reaching two workers: one charge request is written, the other is
    refused naming the pending attempt; no raw exception."""
    ledgers = [Ledger(Settings(store_url=store_url), clock=clock) for _ in range(2)]
    try:
        plan_id = _plan_with_an_overdue_installment(ledgers[0])
        invoice_id = installment_invoice_id(plan_id, 2)
        charged = _charges(ledgers[0], invoice_id)
        command = c.ReprocessInstallment(plan_id=plan_id, number=2)
        actor = platform_for(command, account="acct-1")
        start = threading.Barrier(2)
        outcomes: list[Any] = []

        def reprocess(ledger: Ledger) -> None:
            start.wait(timeout=30)
            try:
                outcomes.append(ledger.execute(actor, command))
            except BaseException as error:
                outcomes.append(error)

        threads = [threading.Thread(target=reprocess, args=(ledger,)) for ledger in ledgers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(outcomes) == 2
        assert len(refused) == 1
        assert isinstance(refused[0], InvalidTransition), refused
        assert _charges(ledgers[0], invoice_id) == charged + 1
    finally:
        for ledger in ledgers:
            ledger.close()


def _subscribe(ledger: Ledger) -> Subscription:
    command = c.CreateSubscription(customer=f.CUSTOMER, plan=PLAN,
                                   payment_method="card-tok-1", split=f.SPLIT)
    return ledger.load(Subscription, ledger.execute(CHECKOUT, command).aggregate_id)


@pytest.mark.parametrize("command", [
    lambda i: c.VoidInvoice(invoice_id=i, reason="typo"),
    lambda i: c.MarkUncollectible(invoice_id=i, reason="gave up"),
])
def test_a_subscriptions_invoice_is_closed_only_through_the_subscription(sqlite_ledger,
                                                                          command):
    sub = _subscribe(sqlite_ledger)
    assert sub.open_invoice_id is not None
    before = sqlite_ledger.recorder.max_notification_id()
    sent = command(sub.open_invoice_id)
    with pytest.raises(InvalidTransition, match=f"subscription {sub.id}: send "
                                                "CancelSubscription"):
        sqlite_ledger.execute(platform_for(sent, account="acct-1"), sent)
    assert sqlite_ledger.recorder.max_notification_id() == before
    owner = platform_for(c.CancelSubscription(subscription_id=sub.id, reason="r"),
                         account="acct-1")
    sqlite_ledger.execute(owner, c.CancelSubscription(subscription_id=sub.id, reason="r"))
    ended = sqlite_ledger.load(Subscription, sub.id)
    assert ended.status == "canceled"
    assert sqlite_ledger.load(Invoice, sub.open_invoice_id).status == "void"


def _abandoned(ledger: Ledger, invoice_id: UUID) -> bool:
    return any(isinstance(e, Invoice.CheckoutAbandoned) for e in ledger.events.get(invoice_id))


def test_only_checkouts_are_abandoned(sqlite_ledger, clock):
    """A renewal's or a later installment's charge left unanswered for hours is not an
    abandoned cart; a sale's and a plan's first invoice, opened at the checkout, are."""
    sale = sqlite_ledger.execute(CHECKOUT, f.create_invoice()).aggregate_id
    plan_id = sqlite_ledger.execute(CHECKOUT, create_plan(count=2)).aggregate_id
    sub = _subscribe(sqlite_ledger)
    assert sub.open_invoice_id is not None
    sqlite_ledger.execute(GATEWAY, c.ApproveCard(invoice_id=sub.open_invoice_id,
                                                 authorization_code="A-1"))
    sqlite_ledger.tick(clock.now() + 2 * HOUR)
    assert _abandoned(sqlite_ledger, sale)
    assert _abandoned(sqlite_ledger, installment_invoice_id(plan_id, 1))
    sqlite_ledger.execute(GATEWAY, c.ApproveCard(
        invoice_id=installment_invoice_id(plan_id, 1), authorization_code="A-2"))
    sqlite_ledger.tick(clock.now() + 40 * DAY)  # the renewal and installment 2 charged
    renewal = sqlite_ledger.load(Subscription, sub.id).open_invoice_id
    assert renewal is not None
    later = [renewal, installment_invoice_id(plan_id, 2)]
    assert [sqlite_ledger.load(Invoice, i).attempts for i in later] == [1, 1]
    sqlite_ledger.tick(clock.now() + 41 * DAY)
    assert not any(_abandoned(sqlite_ledger, i) for i in later)
    with pytest.raises(InvalidTransition, match="not opened by a buyer at a checkout"):
        sqlite_ledger.execute(SCHEDULER, c.AbandonCheckout(invoice_id=renewal))
