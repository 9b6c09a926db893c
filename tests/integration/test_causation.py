"""Causation everywhere, correlation kept: a sale's whole story (its invoice, the plan
it pays, the timed steps it set, the balance credits it caused) is pulled by the
correlation id the checkout gave it, and each event names the event that caused it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from payledger.domain import commands as c
from payledger.domain.envelope import event_id
from payledger.domain.installments import InstallmentPlan, installment_invoice_id
from payledger.domain.invoice import Invoice
from payledger.ledger import Ledger
from payledger.settlement import Settlement, open_settlement
from tests import factories as f
from tests.integration.test_installments import create_plan
from tests.principals import CHECKOUT, GATEWAY


@pytest.fixture
def settlement(sqlite_ledger: Ledger) -> Iterator[Settlement]:
    app = open_settlement(sqlite_ledger.settings, ledger=sqlite_ledger)
    yield app
    app.close()


def events(ledger: Ledger, aggregate_id: UUID) -> list[Any]:
    return list(ledger.events.get(aggregate_id))


def test_a_timed_step_names_the_event_that_set_its_timer_and_keeps_its_correlation(
    sqlite_ledger, clock
):
    conversation = uuid4()
    invoice_id = sqlite_ledger.execute(CHECKOUT, f.create_invoice(
        method="pix", correlation_id=conversation)).aggregate_id
    sqlite_ledger.execute(GATEWAY, c.IssuePix(invoice_id=invoice_id, txid=f.TXID,
                                              correlation_id=conversation))
    issued = events(sqlite_ledger, invoice_id)[-1]
    assert sqlite_ledger.tick(clock.now() + timedelta(days=2)).executed == 1
    expired = events(sqlite_ledger, invoice_id)[-1]
    assert type(expired).__name__ == "Expired"
    assert (expired.causation_id, expired.correlation_id) == (issued.id, conversation)
    assert issued.id == event_id(invoice_id, issued.originator_version)


def test_a_credit_and_a_plans_follow_up_name_the_invoice_event_they_follow(
    sqlite_ledger, settlement
):
    conversation = uuid4()
    plan_id = sqlite_ledger.execute(CHECKOUT, create_plan(
        count=3, correlation_id=conversation)).aggregate_id
    first = installment_invoice_id(plan_id, 1)
    sqlite_ledger.execute(GATEWAY, c.ApproveCard(invoice_id=first, authorization_code="A1",
                                                 correlation_id=conversation))
    paid = next(e for e in events(sqlite_ledger, first) if isinstance(e, Invoice.Paid))
    follow_up = next(e for e in events(sqlite_ledger, plan_id)
                     if isinstance(e, InstallmentPlan.InstallmentPaid))
    assert (follow_up.causation_id, follow_up.correlation_id) == (paid.id, conversation)
    settlement.catch_up()
    credits = [e for b in settlement.balances() for e in settlement.events.get(b.id)
               if type(e).__name__ == "Credited"]
    assert credits
    assert {(e.causation_id, e.correlation_id) for e in credits} == {(paid.id, conversation)}
