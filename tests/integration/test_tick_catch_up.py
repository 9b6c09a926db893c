"""One tick far ahead catches up renewals, dunning, installments and balance releases,
each dated on the day it fell due; a second tick at that instant writes nothing. Run on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from payledger.domain import commands as c
from payledger.domain.installments import InstallmentPlan
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.subscription import Subscription
from payledger.ledger import Ledger
from payledger.settlement import open_settlement
from tests import factories as f
from tests.conftest import START
from tests.principals import GATEWAY

PLAN = {"plan_id": "monthly", "product_id": "course-1", "price": 4_990, "currency": "BRL",
        "interval_months": 1}


def topics(app: object, after: int = 0) -> Counter[str]:
    counts: Counter[str] = Counter()
    recorder = app.recorder  # type: ignore[attr-defined]
    while page := recorder.select_notifications(start=after, limit=1000,
                                                inclusive_of_start=False):
        counts.update(n.topic.removeprefix("payledger:") for n in page)
        after = page[-1].id
    return counts


def test_a_year_in_one_tick(ledger: Ledger, checkout: Actor) -> None:
    sub_id = ledger.execute(checkout, c.CreateSubscription(
        customer=f.CUSTOMER, plan=PLAN, payment_method="card-tok-1",
        split=f.SPLIT)).aggregate_id
    first = ledger.load(Subscription, sub_id).invoice_ids[0]
    ledger.execute(GATEWAY, c.ApproveCard(invoice_id=first, authorization_code="A1"))
    plan_id = ledger.execute(checkout, c.CreateInstallmentPlan(
        items=[{"product_id": "course-1", "unit_price": 60_000}], customer=f.CUSTOMER,
        currency="BRL", split=f.SPLIT, count=3)).aggregate_id
    plan_invoice = ledger.load(InstallmentPlan, plan_id).installments[0]["invoice_id"]
    ledger.execute(GATEWAY, c.ApproveCard(invoice_id=plan_invoice, authorization_code="A2"))
    settlement = open_settlement(ledger.settings, ledger=ledger)
    try:
        as_of = START + timedelta(days=365)
        report = ledger.tick(as_of)
        assert report.refused == []
        written = topics(ledger)
        # nobody answers the renewal charges: each cycle fails when the next begins; with
        # the default of five failed cycles the subscription ends unpaid, then canceled
        assert written["Subscription.Renewed"] >= 5
        assert written["Subscription.CycleFailed"] >= 5
        assert ledger.load(Subscription, sub_id).status == "canceled"
        assert written["InstallmentPlan.InstallmentInvoiced"] == 3
        assert written["InstallmentPlan.InstallmentOverdue"] == 2
        renewals = [ledger.mapper.transcoder.decode(n.state)["at"]
                    for n in ledger.recorder.select_notifications(
                        start=0, limit=1000, topics=("payledger:Subscription.Renewed",))]
        assert renewals == sorted(renewals)
        assert renewals[0] < START + timedelta(days=32)  # dated when due, not at the tick

        settled = report.followers["settlement"]  # the Ledger's tick ran the settlement's
        assert settled.executed >= 1
        assert settled.refused == []
        assert topics(settlement)["Balance.Released"] >= 1
        for balance in settlement.balances():
            assert balance.pending == 0  # everything paid has matured a year on

        before = (ledger.recorder.max_notification_id(), settlement.recorder.max_notification_id())
        assert ledger.tick(as_of).executed == 0
        assert settlement.tick(as_of).executed == 0
        after = (ledger.recorder.max_notification_id(), settlement.recorder.max_notification_id())
        assert after == before
        assert ledger.load(Invoice, plan_invoice).status == "paid"
    finally:
        settlement.close()
