"""Business time never runs backwards on an aggregate: a host's earlier `at` is refused
by name; the ledger's own instants (the clock's, a timed step's due instant, a followed
event's) are raised to the aggregate's last instant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.errors import ValidationError
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import open_settlement
from tests import factories as f
from tests.integration.test_commands import refused_without_writing

CHECKOUT = Actor.platform("checkout", id="checkout", account="acct-1")
GATEWAY = Actor.platform("gateway", id="gateway", account="acct-1")
PAID_ON = datetime(2026, 1, 5, 15, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path) -> Iterator[Ledger]:
    clock = SimulatedClock(PAID_ON + timedelta(days=10))
    app = Ledger(Settings(store_url=f"sqlite:///{tmp_path}/events.db"), clock=clock)
    yield app
    app.close()


def pix_sale(ledger: Ledger, at: datetime) -> UUID:
    invoice_id = ledger.execute(CHECKOUT, f.create_invoice(method="pix", at=at)).aggregate_id
    ledger.execute(GATEWAY, c.IssuePix(invoice_id=invoice_id, txid=f.TXID, at=at))
    ledger.execute(GATEWAY, c.RecordPayment(invoice_id=invoice_id, reference="E2E", at=at))
    return invoice_id


def test_a_backdated_refund_request_is_refused_by_name_and_writes_nothing(ledger):
    invoice_id = pix_sale(ledger, PAID_ON)
    support = Actor.preset("support", id="s", account="acct-1")
    error = refused_without_writing(ledger, ValidationError, lambda: ledger.execute(
        support, f.request_refund(invoice_id, 1_000, at=datetime(2025, 12, 6, tzinfo=UTC))))
    assert error.field == "at"
    assert ledger.load(Invoice, invoice_id).reserved == {}


def test_history_is_imported_in_business_time_order_per_aggregate(ledger):
    first = pix_sale(ledger, datetime(2025, 6, 1, tzinfo=UTC))
    second = pix_sale(ledger, datetime(2025, 3, 1, tzinfo=UTC))  # another invoice: earlier
    instants = [e.at for e in ledger.events.get(first)]
    assert instants == sorted(instants)
    assert ledger.load(Invoice, second).status == "paid"


def test_a_command_without_at_is_dated_no_earlier_than_the_aggregates_last_event(ledger):
    """A sale dated a few minutes ahead of the clock (within its skew) does not make the
    next command on the same invoice, dated by the clock, run backwards."""
    ahead = ledger.clock.now() + timedelta(minutes=4)
    invoice_id = ledger.execute(CHECKOUT, f.create_invoice(at=ahead)).aggregate_id
    ledger.execute(CHECKOUT, c.RequestCharge(invoice_id=invoice_id))  # no `at`: the clock's
    events = list(ledger.events.get(invoice_id))
    assert [e.at for e in events] == [ahead, ahead]


def test_a_shared_wallet_takes_a_partners_command_after_a_sale_dated_ahead(ledger):
    settlement = open_settlement(ledger.settings, ledger=ledger)
    try:
        ahead = ledger.clock.now() + timedelta(minutes=4)
        invoice_id = ledger.execute(CHECKOUT, f.create_invoice(
            at=ahead, split={"producer": "copro-9"})).aggregate_id
        ledger.execute(CHECKOUT, c.RequestCharge(invoice_id=invoice_id, at=ahead))
        ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code="A",
                                              at=ahead))
        settlement.catch_up()
        wallet = Balance.create_id("copro-9", "BRL")
        operator = Actor.platform("operator", id="ops", account="copro-9")
        settlement.execute(operator, c.AdjustBalance(balance_id=wallet, amount=100,
                                                     reason="bonus"))  # the clock: earlier
        instants = [e.at for e in settlement.events.get(wallet)]
        assert instants == sorted(instants)
        assert instants[-1] == ahead
    finally:
        settlement.close()
