"""The Refund state machine, and refunds moving with their invoice (no store).

requested -> approved | rejected | withdrawn; approved -> pending -> succeeded | failed.
The request path and the steps that move an invoice too are driven through the
command handlers over an in-memory unit of work, so what they decide (the amount
held, `full`, `under_dispute`, the 90-day Pix window) is tested without I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest

from payledger.bootstrap import application_wiring
from payledger.domain import commands as c
from payledger.domain.envelope import LedgerAggregate, acting
from payledger.domain.errors import InvalidTransition, ValidationError
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.refund import DISPUTE_LOST, Refund, RefundStatus
from payledger.settings import Settings
from tests.factories import request_refund
from tests.principals import CHECKOUT
from tests.unit.test_invoice import DAY, MINUTE, SECOND, T0, Story, envelope, frozen

A = TypeVar("A", bound=LedgerAggregate)


class RefundStory:
    """One refund, requested at T0, and a business clock that moves forward."""

    def __init__(self) -> None:
        self.now = T0
        with acting(envelope(T0)):
            self.refund = Refund(
                id=uuid4(), invoice_id=uuid4(), amount=2_500, currency="BRL", full=False,
                requested_by="buyer", justification="not what I expected", under_dispute=False,
            )

    def do(self, call: Callable[..., object], *args: Any) -> RefundStory:
        self.now += MINUTE
        with acting(envelope(self.now)):
            call(*args)
        return self


def _approved() -> RefundStory:
    """Approved with its window closing at once: it may be sent, canceled, or expire."""
    story = RefundStory()
    return story.do(story.refund.approve, T0 + MINUTE)


def _pending() -> RefundStory:
    story = _approved()
    return story.do(story.refund.send, "GW-1")


RECIPES: dict[str, Callable[[], RefundStory]] = {
    "requested": RefundStory,
    "approved": _approved,
    "rejected": lambda: (s := RefundStory()).do(s.refund.reject, "out of policy"),
    "withdrawn": lambda: (s := RefundStory()).do(s.refund.withdraw, "changed my mind"),
    "pending": _pending,
    "succeeded": lambda: (s := _pending()).do(s.refund.succeed),
    "failed": lambda: (s := _pending()).do(s.refund.fail, "account closed"),
    "canceled": lambda: (s := _approved()).do(s.refund.cancel, "sent by mistake"),
    "expired": lambda: (s := _approved()).do(s.refund.expire),
}

COMMANDS: dict[str, tuple[str, Callable[[RefundStory], object]]] = {
    "approve": ("approve", lambda s: s.do(s.refund.approve)),
    "reject": ("reject", lambda s: s.do(s.refund.reject, "no")),
    "withdraw": ("withdraw", lambda s: s.do(s.refund.withdraw, "never mind")),
    "send": ("send to the gateway", lambda s: s.do(s.refund.send, "GW-2")),
    "succeed": ("succeed", lambda s: s.do(s.refund.succeed)),
    "fail": ("fail", lambda s: s.do(s.refund.fail, "bank down")),
    "cancel": ("cancel", lambda s: s.do(s.refund.cancel, "not needed")),
    "expire": ("expire", lambda s: s.do(s.refund.expire)),
}

LEGAL: dict[str, dict[str, str]] = {  # state -> command -> the state it leads to
    "requested": {"approve": "approved", "reject": "rejected", "withdraw": "withdrawn"},
    "approved": {"send": "pending", "cancel": "canceled", "expire": "expired"},
    "pending": {"succeed": "succeeded", "fail": "failed"},
    "rejected": {},
    "withdrawn": {},
    "succeeded": {},
    "failed": {},
    "canceled": {},
    "expired": {},
}

PAIRS = [(state, command) for state in RECIPES for command in COMMANDS]


def test_the_tables_cover_every_state():
    assert set(RECIPES) == set(LEGAL) == {str(status) for status in RefundStatus}
    for state, build in RECIPES.items():
        assert build().refund.status == state


@pytest.mark.parametrize(("state", "command"), [p for p in PAIRS if p[1] in LEGAL[p[0]]])
def test_every_legal_transition(state, command):
    story = RECIPES[state]()
    before = len(story.refund.pending_events)
    COMMANDS[command][1](story)
    assert story.refund.status == LEGAL[state][command]
    assert len(story.refund.pending_events) == before + 1


@pytest.mark.parametrize(("state", "command"), [p for p in PAIRS if p[1] not in LEGAL[p[0]]])
def test_every_illegal_transition_is_refused_and_writes_nothing(state, command):
    story = RECIPES[state]()
    text, run = COMMANDS[command]
    before = frozen(story.refund)
    with pytest.raises(InvalidTransition) as caught:
        run(story)
    assert frozen(story.refund) == before
    assert (caught.value.kind, caught.value.state, caught.value.command) == (
        "Refund", state, text)


def test_a_refund_records_who_decided_and_what_the_gateway_did():
    story = _pending()
    assert (story.refund.gateway_reference, story.refund.open) == ("GW-1", True)
    story.do(story.refund.succeed)
    assert (story.refund.settled_at, story.refund.open) == (story.now, False)
    failed = RECIPES["failed"]().refund
    assert (failed.reason, failed.settled_at, failed.open) == ("account closed", None, False)
    rejected = RECIPES["rejected"]().refund
    assert (rejected.reason, rejected.open) == ("out of policy", False)


# -- with the invoice, through the handlers --------------------------------------------


class FakeLedger:
    """What the handlers read of the application: its outcome hooks."""

    wiring = application_wiring("ledger")
    outcome_hooks = wiring.outcome_hooks


class FakeWork:
    """The handlers' unit of work, over aggregates held in memory."""

    ledger = FakeLedger()
    actor: Actor = CHECKOUT  # the buyer's request, through the checkout

    def __init__(self, *aggregates: LedgerAggregate) -> None:
        self.touched: dict[UUID, LedgerAggregate] = {a.id: a for a in aggregates}

    def get(self, kind: type[A], aggregate_id: UUID) -> A:
        found = self.touched[aggregate_id]
        assert isinstance(found, kind)
        return found

    named = get  # in memory, every id is the stored one

    @property
    def account(self) -> str:
        return self.actor.account

    def new_id(self, kind: type[A], reference: UUID | None) -> UUID:
        return uuid4() if reference is None else kind.scoped_id(self.account, reference)

    def add(self, aggregate: A) -> A:
        self.touched[aggregate.id] = aggregate
        return aggregate


class Sale:
    """A paid invoice (a `Story`) and its refunds, moved by the real handlers."""

    def __init__(self, method: str = "card") -> None:
        self.story = Story(method).open().pay()
        self.work = FakeWork(self.story.invoice)

    @property
    def invoice(self) -> Invoice:
        return self.story.invoice

    def run(self, command: c.Command, after: timedelta = MINUTE,
            at: datetime | None = None) -> UUID:
        handler = FakeLedger.wiring.handlers[type(command)]
        result = self.story.do(handler, self.work, command, Settings(), after=after, at=at)
        assert isinstance(result, UUID)
        return result

    def request(
        self, amount: int | None = None, at: datetime | None = None,
        by: Actor = CHECKOUT, **extra: Any,
    ) -> Refund:
        self.work.actor = by
        refund_id = self.run(request_refund(self.invoice.id, amount, **extra), at=at)
        return self.work.get(Refund, refund_id)

    def refused(self, command: c.Command, **when: Any) -> InvalidTransition:
        before = {a.id: frozen(a) for a in self.work.touched.values()}
        with pytest.raises(InvalidTransition) as caught:
            self.run(command, **when)
        assert {a.id: frozen(a) for a in self.work.touched.values()} == before
        return caught.value


def test_a_request_holds_its_amount_on_the_invoice():
    sale = Sale()
    refund = sale.request(4_000)
    assert (refund.status, refund.amount, refund.full, refund.under_dispute) == (
        "requested", 4_000, False, False)
    assert (refund.invoice_id, refund.currency) == (sale.invoice.id, "BRL")
    assert sale.invoice.reserved == {str(refund.id): 4_000}
    assert type(sale.invoice.pending_events[-1]).__name__ == "RefundReserved"


def test_a_request_without_an_amount_asks_for_all_that_remains():
    sale = Sale()
    sale.request(3_000)
    rest = sale.request()
    assert (rest.amount, rest.full) == (7_000, False)
    assert sale.invoice.refundable == 0
    whole = Sale().request()
    assert (whole.amount, whole.full) == (10_000, True)


def test_a_request_beyond_what_was_paid_is_refused_and_writes_nothing():
    sale = Sale()
    sale.request(6_000)
    before = frozen(sale.invoice)
    with pytest.raises(ValidationError) as caught:
        sale.request(4_001)
    assert caught.value.field == "amount"
    assert frozen(sale.invoice) == before
    assert len(sale.work.touched) == 2  # the invoice and the first refund only


def test_a_refund_may_be_requested_while_a_dispute_is_open():
    sale = Sale()
    sale.story.dispute()
    refund = sale.request(1_000)
    assert refund.under_dispute is True
    assert refund.pending_events[0].under_dispute is True
    assert sale.invoice.dispute == "open"


@pytest.mark.parametrize(
    ("kind", "status"), [(c.RejectRefund, "rejected"), (c.WithdrawRefund, "withdrawn")]
)
def test_a_rejected_or_withdrawn_refund_releases_its_hold(kind, status):
    sale = Sale()
    refund = sale.request(4_000)
    sale.run(kind(refund_id=refund.id, reason="not needed"))
    assert refund.status == status
    assert (sale.invoice.reserved, sale.invoice.refundable) == ({}, 10_000)
    assert type(sale.invoice.pending_events[-1]).__name__ == "RefundReleased"


def test_a_succeeded_refund_is_refunded_on_the_invoice():
    sale = Sale()
    refund = sale.request(4_000)
    sale.run(c.ApproveRefund(refund_id=refund.id))
    sale.run(c.SendRefund(refund_id=refund.id, gateway_reference="GW-1"))
    assert sale.invoice.reserved == {str(refund.id): 4_000}
    sale.run(c.SucceedRefund(refund_id=refund.id))
    assert refund.status == "succeeded"
    assert (sale.invoice.status, sale.invoice.refunded, sale.invoice.reserved) == (
        "partially_refunded", 4_000, {})


def test_a_failed_refund_releases_its_hold():
    sale = Sale()
    refund = sale.request()
    sale.run(c.ApproveRefund(refund_id=refund.id))
    sale.run(c.SendRefund(refund_id=refund.id, gateway_reference="GW-1"))
    sale.run(c.FailRefund(refund_id=refund.id, reason="account closed"))
    assert (refund.status, sale.invoice.status, sale.invoice.refundable) == (
        "failed", "paid", 10_000)


def test_a_refused_step_changes_neither_the_refund_nor_the_invoice():
    sale = Sale()
    refund = sale.request(4_000)
    sale.run(c.RejectRefund(refund_id=refund.id, reason="no"))
    error = sale.refused(c.WithdrawRefund(refund_id=refund.id, reason="late"))
    assert (error.kind, error.state, error.command) == ("Refund", "rejected", "withdraw")


def test_a_pix_refund_is_requested_within_90_days_of_payment():
    sale = Sale("pix")
    assert sale.invoice.paid_at is not None
    refund = sale.request(1_000, at=sale.invoice.paid_at + 90 * DAY)
    assert refund.status == "requested"


def test_a_pix_refund_requested_after_90_days_is_refused():
    sale = Sale("pix")
    assert sale.invoice.paid_at is not None
    error = sale.refused(request_refund(sale.invoice.id, 1_000),
                         at=sale.invoice.paid_at + 90 * DAY + SECOND)
    assert (error.kind, error.state, error.command) == ("Invoice", "paid",
                                                         "accept a refund request")
    assert len(sale.work.touched) == 1  # no refund was made


@pytest.mark.parametrize(
    ("decided", "command", "text"),
    [
        (False, lambda r: c.ApproveRefund(refund_id=r), "approve a refund"),
        (True, lambda r: c.SendRefund(refund_id=r, gateway_reference="GW-1"), "send a refund"),
    ],
)
def test_a_pix_refund_is_not_approved_or_sent_after_90_days(decided, command, text):
    sale = Sale("pix")
    assert sale.invoice.paid_at is not None
    refund = sale.request(1_000, at=sale.invoice.paid_at + 89 * DAY)
    if decided:
        sale.run(c.ApproveRefund(refund_id=refund.id))
    error = sale.refused(command(refund.id), at=sale.invoice.paid_at + 90 * DAY + SECOND)
    assert (error.state, error.command) == ("paid", text)
    assert refund.status == ("approved" if decided else "requested")


def test_a_card_refund_is_approved_and_sent_long_after_payment():
    sale = Sale("card")
    refund = sale.request(1_000)
    sale.run(c.ApproveRefund(refund_id=refund.id), after=200 * DAY)
    sale.run(c.SendRefund(refund_id=refund.id, gateway_reference="GW-1"))
    assert refund.status == "pending"


def test_a_buyer_refund_after_the_warranty_is_refused():
    sale = Sale()
    sale.story.end_warranty()
    error = sale.refused(request_refund(sale.invoice.id, 1_000))  # the checkout's: the buyer's
    assert (error.state, error.command) == ("paid", "accept a refund request")
    assert len(sale.work.touched) == 1


@pytest.mark.parametrize(("preset", "requested_by"),
                         [("owner", "producer"), ("support", "support")])
def test_producer_and_support_may_refund_after_the_warranty(preset, requested_by):
    """Who asked follows from the principal: no caller names it."""
    sale = Sale()
    sale.story.end_warranty()
    refund = sale.request(1_000, by=Actor.preset(preset, id="someone", account="acct-1"))
    assert (refund.status, refund.requested_by) == ("requested", requested_by)


@pytest.mark.parametrize("steps", [(), ("approve",), ("approve", "send")])
def test_a_refund_open_when_a_dispute_is_lost_ends_and_its_hold_joins_the_chargeback(steps):
    """Issue 16, item 5: a R$ 100,00 sale, a R$ 30,00 refund requested, approved or
    sent, then the dispute lost: the card network took back all 10.000."""
    sale = Sale()
    refund = sale.request(3_000)
    if "approve" in steps:
        sale.run(c.ApproveRefund(refund_id=refund.id))
    if "send" in steps:
        sale.run(c.SendRefund(refund_id=refund.id, gateway_reference="GW-1"))
    sale.story.dispute()
    sale.run(c.LoseDispute(invoice_id=sale.invoice.id))
    invoice, ended = sale.invoice, sale.work.get(Refund, refund.id)
    assert (invoice.status, invoice.charged_back, invoice.refunded) == (
        "charged_back", 10_000, 0)
    assert invoice.reserved == {}
    expected = {(): "rejected", ("approve",): "canceled", ("approve", "send"): "failed"}
    assert (ended.status, ended.reason) == (expected[steps], DISPUTE_LOST)
    sale.refused(c.SucceedRefund(refund_id=refund.id))  # its money is the network's
