"""Issue 17, items 3-6, through the Ledger on real stores: a gateway's late answer on an
invoice the ledger closed is recorded, credited and refunded; no second charge while
one awaits the gateway (two workers at once included); a subscription's invoices closed
only through the subscription; only checkouts abandoned."""

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
from payledger.domain.refund import Refund
from payledger.domain.subscription import Subscription
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import open_settlement
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


def test_a_capture_after_a_cancel_is_recorded_credited_and_refunded(tmp_path, clock):
    """A subscription canceled while its renewal's charge awaits the gateway; the buyer
    was charged: the capture is recorded, each party credited, and the whole of it
    refunded at once; the subscription stays canceled."""
    settings = Settings(store_url=f"sqlite:///{tmp_path}/events.db")
    ledger = Ledger(settings, clock=clock)
    settlement = open_settlement(settings, ledger=ledger)
    try:
        sub = _subscribe(ledger)
        assert sub.open_invoice_id is not None
        ledger.execute(GATEWAY, c.ApproveCard(invoice_id=sub.open_invoice_id,
                                              authorization_code="A-1"))
        ledger.tick(ledger.load(Subscription, sub.id).period_end)  # the renewal charged
        renewal = ledger.load(Subscription, sub.id).open_invoice_id
        assert renewal is not None
        cancel = c.CancelSubscription(subscription_id=sub.id, reason="buyer left")
        ledger.execute(platform_for(cancel, account="acct-1"), cancel)
        assert ledger.load(Invoice, renewal).status == "void"
        ledger.execute(GATEWAY, c.ApproveCard(invoice_id=renewal, authorization_code="LATE"))
        late = ledger.load(Invoice, renewal)
        assert (late.status, late.paid) == ("paid", PLAN["price"])
        paid = [e for e in ledger.events.get(renewal) if isinstance(e, Invoice.Paid)]
        assert (paid[-1].after_close, paid[-1].late) == ("void", True)
        (refund_id,) = late.reserved
        refund = ledger.load(Refund, UUID(refund_id))
        assert (refund.status, refund.amount, refund.requested_by) == (
            "approved", PLAN["price"], "ledger")
        assert ledger.load(Subscription, sub.id).status == "canceled"
        settlement.catch_up()
        credited = sum(b.holding for b in settlement.balances())
        assert credited == 2 * PLAN["price"]  # the first cycle and the late capture
        ledger.execute(GATEWAY, c.SendRefund(refund_id=refund.id, gateway_reference="GW-9"))
        ledger.execute(GATEWAY, c.SucceedRefund(refund_id=refund.id))
        settlement.catch_up()
        assert sum(b.holding for b in settlement.balances()) == PLAN["price"]
        assert ledger.load(Invoice, renewal).status == "refunded"
    finally:
        settlement.close()
        ledger.close()


@pytest.mark.parametrize(("policy", "status"), [("refund", "approved"), ("reopen", None)])
def test_a_pix_paid_after_its_sale_was_voided_follows_the_policy(tmp_path, clock, policy,
                                                                  status):
    ledger = Ledger(Settings(store_url=f"sqlite:///{tmp_path}/events.db",
                             late_payment=policy), clock=clock)
    try:
        invoice_id = ledger.execute(CHECKOUT, f.create_invoice("pix")).aggregate_id
        ledger.execute(GATEWAY, c.IssuePix(invoice_id=invoice_id, txid=f.TXID))
        void = c.VoidInvoice(invoice_id=invoice_id, reason="checkout closed")
        ledger.execute(platform_for(void, account="acct-1"), void)
        clock.advance(HOUR)
        ledger.execute(GATEWAY, c.RecordPayment(invoice_id=invoice_id, reference="E2E-1"))
        paid = ledger.load(Invoice, invoice_id)
        assert paid.status == "paid"
        refunds = [ledger.load(Refund, UUID(r)).status for r in paid.reserved]
        assert refunds == ([status] if status else [])
    finally:
        ledger.close()


def test_a_draft_voided_with_no_attempt_takes_no_payment(sqlite_ledger):
    invoice_id = sqlite_ledger.execute(CHECKOUT, f.create_invoice()).aggregate_id
    void = c.VoidInvoice(invoice_id=invoice_id, reason="duplicate")
    sqlite_ledger.execute(platform_for(void, account="acct-1"), void)
    with pytest.raises(InvalidTransition, match="state 'void'"):
        sqlite_ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id,
                                                     authorization_code="A-1"))
