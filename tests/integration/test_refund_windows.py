"""No refund is stuck for ever: an approved refund not sent before its method's window
closes expires by a timed step and releases its hold; support or the producer can take
back an approved refund the gateway was never sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import pytest

from payledger.domain import commands as c
from payledger.domain.errors import Forbidden, InvalidTransition
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.refund import Refund
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from tests import factories as f
from tests.conftest import START
from tests.principals import CHECKOUT, GATEWAY

DAY = timedelta(days=1)
SUPPORT = Actor.preset("support", id="support-1", account="acct-1")
OWNER = Actor.preset("owner", id="owner-1", account="acct-1")


@pytest.fixture
def ledger(tmp_path) -> Iterator[Ledger]:
    app = Ledger(Settings(store_url=f"sqlite:///{tmp_path}/events.db", refund_window_card_days=30),
                 clock=SimulatedClock(START))
    yield app
    app.close()


def paid(ledger: Ledger, method: str) -> UUID:
    invoice_id = ledger.execute(CHECKOUT, f.create_invoice(method=method)).aggregate_id
    if method == "pix":
        ledger.execute(GATEWAY, c.IssuePix(invoice_id=invoice_id, txid=f.TXID))
        ledger.execute(GATEWAY, c.RecordPayment(invoice_id=invoice_id, reference="E2E"))
    else:
        ledger.execute(CHECKOUT, c.RequestCharge(invoice_id=invoice_id))
        ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code="A1"))
    return invoice_id


def approved_on(ledger: Ledger, invoice_id: UUID, day: int) -> UUID:
    ledger.clock.set(START + day * DAY)  # type: ignore[attr-defined]
    refund_id = ledger.execute(SUPPORT, f.request_refund(invoice_id, 1_000)).aggregate_id
    ledger.execute(OWNER, c.ApproveRefund(refund_id=refund_id))
    return refund_id


@pytest.mark.parametrize(("method", "window"), [("pix", 90), ("card", 30)])
def test_an_approved_refund_not_sent_in_its_window_expires_and_releases_its_hold(
    ledger, method, window
):
    invoice_id = paid(ledger, method)
    refund_id = approved_on(ledger, invoice_id, window - 1)
    assert ledger.load(Invoice, invoice_id).reserved == {str(refund_id): 1_000}
    report = ledger.tick(START + (window - 1) * DAY + timedelta(hours=23))
    assert ledger.load(Refund, refund_id).status == "approved"  # not yet
    report = ledger.tick(START + (window + 1) * DAY)
    assert report.refused == []
    assert ledger.load(Refund, refund_id).status == "expired"
    invoice = ledger.load(Invoice, invoice_id)
    assert (invoice.reserved, invoice.refundable) == ({}, invoice.paid)
    with pytest.raises(InvalidTransition):
        ledger.execute(GATEWAY, c.SendRefund(refund_id=refund_id, gateway_reference="late"))


def test_a_boleto_refund_has_no_window_by_default(ledger):
    invoice_id = ledger.execute(CHECKOUT, f.create_invoice(method="boleto")).aggregate_id
    ledger.execute(GATEWAY, c.IssueBoleto(invoice_id=invoice_id, digitable_line=f.BOLETO_LINE,
                                          due_at=START + 3 * DAY))
    ledger.execute(GATEWAY, c.RecordPayment(invoice_id=invoice_id, reference="BOL"))
    refund_id = approved_on(ledger, invoice_id, 300)
    assert ledger.load(Refund, refund_id).deadline is None
    ledger.tick(START + 400 * DAY)
    assert ledger.load(Refund, refund_id).status == "approved"


def test_support_or_the_producer_takes_back_an_approved_unsent_refund(ledger):
    invoice_id = paid(ledger, "card")
    first = approved_on(ledger, invoice_id, 1)
    ledger.execute(SUPPORT, c.CancelRefund(refund_id=first, reason="approved by mistake"))
    assert ledger.load(Refund, first).status == "canceled"
    assert ledger.load(Invoice, invoice_id).reserved == {}
    second = approved_on(ledger, invoice_id, 2)
    with pytest.raises(Forbidden):  # the gateway reports transfers; it takes back nothing
        ledger.execute(GATEWAY, c.CancelRefund(refund_id=second, reason="x"))
    ledger.execute(GATEWAY, c.SendRefund(refund_id=second, gateway_reference="GW-1"))
    with pytest.raises(InvalidTransition):  # sent: only the gateway's answer ends it
        ledger.execute(OWNER, c.CancelRefund(refund_id=second, reason="too late"))
