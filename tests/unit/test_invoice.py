"""The Invoice state machine, driven directly (no store) at fixed business instants.

Every (state, command) pair is covered: the legal ones by `LEGAL` and
`test_every_legal_transition_adds_one_event`, all the others by
`test_every_illegal_transition_is_refused_and_writes_nothing`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payledger.domain.envelope import Envelope, acting
from payledger.domain.errors import InvalidTransition, PayLedgerError, ValidationError
from payledger.domain.invoice import Invoice
from payledger.domain.splits import SplitRules
from payledger.domain.time import TimePolicy
from tests.factories import BOLETO_LINE, CUSTOMER, SPLIT, TXID

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
ACCOUNT = "acct-1"
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def envelope(at: datetime, account: str = ACCOUNT) -> Envelope:
    command_id = uuid4()
    return Envelope(account=account, at=at, actor="tester", correlation_id=command_id,
                    causation_id=None, command_id=command_id, actor_kind="platform",
                    actor_role="checkout")


class Story:
    """One invoice and a business clock that moves forward with every command."""

    def __init__(
        self, method: str = "card", price: int = 10_000, warranty_days: int = 7,
        split: dict[str, Any] = SPLIT,
    ) -> None:
        self.now = T0
        rules = SplitRules.model_validate(split).model_dump(mode="json")
        with acting(envelope(T0)):
            self.invoice = Invoice(
                id=uuid4(),
                items=[{"product_id": "course-1", "description": "", "quantity": 1,
                        "unit_price": price}],
                customer=dict(CUSTOMER), currency="BRL", method=method, split_rules=rules,
                subtotal=price, warranty_days=warranty_days, origin="sale", origin_id=None,
            )

    def do(
        self, call: Callable[..., object], *args: Any, after: timedelta = MINUTE,
        at: datetime | None = None,
    ) -> object:
        """Run `call(*args)` as one command, `after` the previous one (or `at`)."""
        target = at if at is not None else self.now + after
        assert target >= self.now, "the business clock never goes back"
        self.now = target
        with acting(envelope(self.now)):
            return call(*args)

    # steps the recipes share -------------------------------------------------------

    def open(self) -> Story:
        invoice = self.invoice
        if invoice.method == "card":
            self.do(invoice.request_charge, "checkout")
        elif invoice.method == "pix":
            self.do(invoice.issue_pix, TXID)
        else:
            self.do(lambda: invoice.issue_boleto(BOLETO_LINE, self.now + 3 * DAY))
        return self

    def pay(self) -> Story:
        if self.invoice.method == "card":
            self.do(self.invoice.approve_card, "AUTH-1")
        else:
            self.do(lambda: self.invoice.record_payment("E2E-1", self.now))
        return self

    def expire(self) -> Story:
        assert self.invoice.expires_at is not None
        self.do(lambda: self.invoice.expire(self.now), at=self.invoice.expires_at + MINUTE)
        return self

    def abandon(self) -> Story:
        self.do(lambda: self.invoice.abandon(self.now), after=2 * HOUR)
        return self

    def refund(self, amount: int, requested_by: str = "buyer", complete: bool = True) -> UUID:
        refund_id = uuid4()
        self.do(self.invoice.reserve_refund, refund_id, amount, requested_by)
        if complete:
            self.do(self.invoice.complete_refund, refund_id)
        return refund_id

    def dispute(self) -> Story:
        self.do(lambda: self.invoice.open_dispute("fraud", self.now + 7 * DAY))
        return self

    def end_warranty(self) -> Story:
        self.do(lambda: self.invoice.end_warranty(self.now), after=8 * DAY)
        return self

    def refused(self, call: Callable[..., object], *args: Any, **when: Any) -> InvalidTransition:
        """Run a command that must be refused; check that it changed nothing."""
        before = frozen(self.invoice)
        with pytest.raises(InvalidTransition) as caught:
            self.do(call, *args, **when)
        assert frozen(self.invoice) == before
        return caught.value


def frozen(aggregate: Any) -> dict[str, Any]:
    """Everything an aggregate holds, with the number of its pending events."""
    state = copy.deepcopy({k: v for k, v in vars(aggregate).items() if k != "_pending_events"})
    state["pending"] = len(aggregate.pending_events)
    return state


def event_names(invoice: Invoice) -> list[str]:
    return [type(e).__name__ for e in invoice.pending_events]


# -- recipes: how to reach each state ---------------------------------------------


def _draft(method: str) -> Story:
    return Story(method)


def _discounted() -> Story:
    story = Story("card")
    story.do(story.invoice.apply_discount, 1_000, "WELCOME10")
    return story


def _charged_pix() -> Story:
    story = Story("pix")
    story.do(story.invoice.request_charge, "checkout")
    return story


def _declined() -> Story:
    story = Story("card").open()
    story.do(story.invoice.decline_card, "insufficient funds")
    return story


def _partially_refunded() -> Story:
    story = Story("card").open().pay()
    story.refund(3_000)
    return story


def _refunded() -> Story:
    story = Story("card").open().pay()
    story.refund(10_000)
    return story


def _void() -> Story:
    story = Story("card")
    story.do(story.invoice.void, "duplicate")
    return story


def _uncollectible() -> Story:
    story = Story("card").open()
    story.do(story.invoice.mark_uncollectible, "card blocked")
    return story


def _dispute_won() -> Story:
    story = Story("card").open().pay().dispute()
    story.do(story.invoice.win_dispute)
    return story


def _charged_back() -> Story:
    story = Story("card").open().pay().dispute()
    story.do(story.invoice.lose_dispute)
    return story


RECIPES: dict[str, tuple[Callable[[], Story], str]] = {
    "draft card": (lambda: _draft("card"), "draft"),
    "draft pix": (lambda: _draft("pix"), "draft"),
    "draft boleto": (lambda: _draft("boleto"), "draft"),
    "discounted draft": (_discounted, "draft"),
    "abandoned draft": (lambda: Story("card").abandon(), "draft"),
    "open card": (lambda: Story("card").open(), "open"),
    "declined card": (lambda: _declined(), "open"),
    "open pix": (lambda: Story("pix").open(), "open"),
    "open boleto": (lambda: Story("boleto").open(), "open"),
    "charged pix, none issued": (_charged_pix, "open"),
    "abandoned charged pix": (lambda: _charged_pix().abandon(), "open"),
    "paid card": (lambda: Story("card").open().pay(), "paid"),
    "paid pix": (lambda: Story("pix").open().pay(), "paid"),
    "paid boleto": (lambda: Story("boleto").open().pay(), "paid"),
    "partially refunded": (_partially_refunded, "partially_refunded"),
    "refunded": (_refunded, "refunded"),
    "expired pix": (lambda: Story("pix").open().expire(), "expired"),
    "expired boleto": (lambda: Story("boleto").open().expire(), "expired"),
    "void": (_void, "void"),
    "uncollectible": (_uncollectible, "uncollectible"),
    "disputed": (lambda: Story("card").open().pay().dispute(), "paid"),
    "dispute won": (_dispute_won, "paid"),
    "charged back": (_charged_back, "charged_back"),
    "warranty ended": (lambda: Story("card").open().pay().end_warranty(), "paid"),
}

# Each command, run at an instant where only the state can refuse it.
COMMANDS: dict[str, tuple[str, Callable[[Story], object]]] = {
    "discount": ("apply a discount",
                 lambda s: s.do(s.invoice.apply_discount, 1_000, None)),
    "charge": ("request a charge", lambda s: s.do(s.invoice.request_charge, "retry")),
    "decline": ("record a card decline",
                lambda s: s.do(s.invoice.decline_card, "insufficient funds")),
    "approve": ("approve a card attempt", lambda s: s.do(s.invoice.approve_card, "AUTH-2")),
    "pix": ("issue a Pix charge", lambda s: s.do(s.invoice.issue_pix, "b" * 30)),
    "boleto": ("issue a boleto",
               lambda s: s.do(lambda: s.invoice.issue_boleto(BOLETO_LINE, s.now + 3 * DAY))),
    "pay": ("record a {method} payment",
            lambda s: s.do(lambda: s.invoice.record_payment("E2E-2", s.now))),
    "expire": ("expire", lambda s: s.do(lambda: s.invoice.expire(s.now), after=30 * DAY)),
    "abandon": ("abandon the checkout",
                lambda s: s.do(lambda: s.invoice.abandon(s.now), after=2 * HOUR)),
    "void": ("void", lambda s: s.do(s.invoice.void, "typo")),
    "uncollectible": ("mark uncollectible",
                      lambda s: s.do(s.invoice.mark_uncollectible, "gave up")),
    "refund": ("accept a refund request",
               lambda s: s.do(s.invoice.reserve_refund, uuid4(), 100, "producer")),
    "dispute": ("open a dispute",
                lambda s: s.do(lambda: s.invoice.open_dispute("fraud", s.now + 7 * DAY))),
    "win": ("win a dispute", lambda s: s.do(s.invoice.win_dispute)),
    "lose": ("lose a dispute", lambda s: s.do(s.invoice.lose_dispute)),
    "end warranty": ("end the warranty",
                     lambda s: s.do(lambda: s.invoice.end_warranty(s.now), after=30 * DAY)),
}

AFTER_PAYMENT = {"refund", "dispute", "end warranty"}
LEGAL: dict[str, set[str]] = {
    "draft card": {"discount", "charge", "abandon", "void"},
    "draft pix": {"discount", "charge", "pix", "abandon", "void"},
    "draft boleto": {"discount", "charge", "boleto", "abandon", "void"},
    "discounted draft": {"charge", "abandon", "void"},
    "abandoned draft": {"discount", "charge", "void"},
    # a charge is refused while the last attempt awaits the gateway (issue 17, item 4)
    "open card": {"decline", "approve", "abandon", "void", "uncollectible"},
    "declined card": {"charge", "decline", "approve", "abandon", "void", "uncollectible"},
    "open pix": {"pix", "pay", "expire", "void", "uncollectible"},
    "open boleto": {"boleto", "pay", "expire", "void", "uncollectible"},
    "charged pix, none issued": {"pix", "abandon", "void", "uncollectible"},
    "abandoned charged pix": {"pix", "void", "uncollectible"},
    "paid card": AFTER_PAYMENT,
    "paid pix": AFTER_PAYMENT,
    "paid boleto": AFTER_PAYMENT,
    "partially refunded": AFTER_PAYMENT,
    "refunded": {"end warranty"},
    "expired pix": {"pay", "pix", "void"},
    "expired boleto": {"pay", "boleto", "void"},
    "void": set(),
    "uncollectible": {"approve"},  # closed with attempt 1 pending: a late capture is recorded
    "disputed": {"refund", "win", "lose", "end warranty"},
    "dispute won": AFTER_PAYMENT,
    "charged back": {"end warranty"},
    "warranty ended": {"refund", "dispute"},
}

PAIRS = [(recipe, command) for recipe in RECIPES for command in COMMANDS]
LEGAL_PAIRS = [pair for pair in PAIRS if pair[1] in LEGAL[pair[0]]]
ILLEGAL_PAIRS = [pair for pair in PAIRS if pair[1] not in LEGAL[pair[0]]]


def test_the_tables_cover_every_state():
    assert set(LEGAL) == set(RECIPES)
    reached = {status for _, status in RECIPES.values()}
    assert reached == {"draft", "open", "paid", "partially_refunded", "refunded", "expired",
                       "void", "uncollectible", "charged_back"}


@pytest.mark.parametrize(("recipe", "command"), LEGAL_PAIRS)
def test_every_legal_transition_adds_one_event(recipe, command):
    build, status = RECIPES[recipe]
    story = build()
    assert story.invoice.status == status
    before = len(story.invoice.pending_events)
    COMMANDS[command][1](story)
    assert len(story.invoice.pending_events) == before + 1


@pytest.mark.parametrize(("recipe", "command"), ILLEGAL_PAIRS)
def test_every_illegal_transition_is_refused_and_writes_nothing(recipe, command):
    build, status = RECIPES[recipe]
    story = build()
    assert story.invoice.status == status
    text, run = COMMANDS[command]
    before = frozen(story.invoice)
    with pytest.raises(InvalidTransition) as caught:
        run(story)
    assert frozen(story.invoice) == before
    assert caught.value.kind == "Invoice"
    assert caught.value.state == status
    assert caught.value.command == text.format(method=story.invoice.method)
    assert status in str(caught.value)


@pytest.mark.parametrize("recipe", ["paid card", "partially refunded", "disputed"])
@pytest.mark.parametrize("step", ["release_refund", "complete_refund"])
def test_an_unknown_refund_cannot_be_released_or_completed(recipe, step):
    story = RECIPES[recipe][0]()
    error = story.refused(getattr(story.invoice, step), uuid4())
    assert error.command == step.replace("_", " a ")


# -- checkout ------------------------------------------------------------------------


def test_a_new_invoice_is_a_draft_carrying_its_envelope():
    story = Story("card", price=12_345)
    invoice = story.invoice
    assert (invoice.status, invoice.subtotal, invoice.total, invoice.paid) == (
        "draft", 12_345, 12_345, 0)
    assert invoice.account == ACCOUNT
    assert invoice.created_at == invoice.updated_at == T0
    (created,) = invoice.pending_events
    assert (created.account, created.at, created.actor) == (ACCOUNT, T0, "tester")
    assert (created.prev_hash, created.hash) == ("", "")  # sealed only when stored


def test_the_discount_lowers_the_total_that_is_paid_and_split():
    story = Story("card", price=10_000)
    story.do(story.invoice.apply_discount, 2_501, "PROMO")
    assert (story.invoice.discount, story.invoice.total, story.invoice.coupon) == (
        2_501, 7_499, "PROMO")
    story.open().pay()
    assert story.invoice.paid == 7_499
    assert sum(part["amount"] for part in story.invoice.splits) == 7_499


@pytest.mark.parametrize("amount", [0, -1, 10_000, 10_001])
def test_a_discount_must_leave_something_to_pay(amount):
    story = Story("card", price=10_000)
    before = frozen(story.invoice)
    with pytest.raises(ValidationError) as caught:
        story.do(story.invoice.apply_discount, amount, None)
    assert caught.value.field == "amount"
    assert frozen(story.invoice) == before


def test_a_card_is_declined_retried_and_approved():
    story = Story("card").open()
    invoice = story.invoice
    assert (invoice.status, invoice.attempts) == ("open", 1)
    story.do(invoice.decline_card, "insufficient funds")
    assert (invoice.status, invoice.declines) == ("open", 1)
    story.do(invoice.request_charge, "retry")
    assert invoice.attempts == 2
    story.do(invoice.approve_card, "AUTH-9")
    assert (invoice.status, invoice.paid, invoice.paid_at, invoice.instrument) == (
        "paid", 10_000, story.now, "AUTH-9")
    assert event_names(invoice) == ["Created", "ChargeRequested", "CardDeclined",
                                    "ChargeRequested", "Paid"]
    assert invoice.pending_events[2].attempt == 1


def test_void_and_uncollectible_are_ends():
    drafted = Story("card")
    drafted.do(drafted.invoice.void, "duplicate")
    assert drafted.invoice.status == "void"
    opened = Story("pix").open()
    opened.do(opened.invoice.void, "customer asked")
    assert opened.invoice.status == "void"
    stuck = Story("card").open()
    stuck.do(stuck.invoice.mark_uncollectible, "card blocked")
    assert stuck.invoice.status == "uncollectible"


# -- Pix and boleto expiry, late payments -------------------------------------------------


def test_a_pix_charge_expires_after_24_hours_and_not_before():
    story = Story("pix").open()
    invoice = story.invoice
    assert invoice.expires_at == story.now + 24 * HOUR
    expires_at = invoice.expires_at
    error = story.refused(lambda: invoice.expire(story.now), at=expires_at)
    assert (error.state, error.command) == ("open", "expire")
    story.do(lambda: invoice.expire(story.now), at=expires_at + SECOND)
    assert invoice.status == "expired"
    assert invoice.pending_events[-1].expired_at == expires_at


def test_a_pix_charge_can_carry_its_own_expiry():
    story = Story("pix")
    story.do(story.invoice.issue_pix, TXID, HOUR)
    assert story.invoice.expires_at == story.now + HOUR


def test_a_boleto_must_fall_due_after_it_is_issued():
    story = Story("boleto")
    with pytest.raises(ValidationError) as caught:
        story.do(lambda: story.invoice.issue_boleto(BOLETO_LINE, story.now))
    assert caught.value.field == "due_at"
    assert story.invoice.status == "draft"


def test_a_pix_paid_in_time_is_not_late():
    story = Story("pix").open()
    story.do(lambda: story.invoice.record_payment("E2E-1", story.now), after=23 * HOUR)
    assert story.invoice.status == "paid"
    assert story.invoice.pending_events[-1].late is False


@pytest.mark.parametrize("expired_first", [False, True])
def test_a_late_pix_payment_reported_within_15_minutes_is_accepted(expired_first):
    story = Story("pix").open()
    invoice = story.invoice
    assert invoice.expires_at is not None
    expires_at = invoice.expires_at
    if expired_first:
        story.expire()
    paid_at = expires_at + 5 * MINUTE
    story.do(invoice.record_payment, "E2E-1", paid_at, at=expires_at + 15 * MINUTE)
    assert (invoice.status, invoice.paid, invoice.paid_at) == ("paid", 10_000, paid_at)
    assert invoice.pending_events[-1].late is True


@pytest.mark.parametrize("expired_first", [False, True])
def test_a_late_pix_payment_reported_after_15_minutes_is_refused(expired_first):
    story = Story("pix").open()
    invoice = story.invoice
    assert invoice.expires_at is not None
    expires_at = invoice.expires_at
    if expired_first:
        story.expire()
    error = story.refused(invoice.record_payment, "E2E-1", expires_at + 5 * MINUTE,
                          at=expires_at + 15 * MINUTE + SECOND)
    assert error.state == ("expired" if expired_first else "open")
    assert error.command == "record a pix payment"
    assert "grace" in error.detail


def test_lateness_is_judged_by_when_the_payment_is_reported():
    story = Story("pix").open().expire()
    assert story.invoice.expires_at is not None
    paid_at = story.invoice.expires_at - MINUTE
    story.do(story.invoice.record_payment, "E2E-1", paid_at, after=10 * MINUTE)
    assert (story.invoice.status, story.invoice.paid_at) == ("paid", paid_at)
    assert story.invoice.pending_events[-1].late is True


def test_a_payment_cannot_be_reported_before_it_was_made():
    story = Story("pix").open()
    before = frozen(story.invoice)
    with pytest.raises(ValidationError) as caught:
        story.do(lambda: story.invoice.record_payment("E2E-1", story.now + SECOND))
    assert caught.value.field == "paid_at"
    assert frozen(story.invoice) == before


def boleto_due_friday() -> Story:
    story = Story("boleto")
    due = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)  # Friday, 09:00 in São Paulo
    story.do(story.invoice.issue_boleto, BOLETO_LINE, due)
    return story


def test_boleto_grace_is_three_business_days_skipping_the_weekend():
    story = boleto_due_friday()
    # Monday, Tuesday, Wednesday: three calendar days would end on Monday instead.
    assert story.invoice.grace_ends_at() == datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("expired_first", [False, True])
def test_a_late_boleto_payment_reported_within_three_business_days_is_accepted(expired_first):
    story = boleto_due_friday()
    if expired_first:
        story.expire()
    paid_at = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # the Monday after the due date
    story.do(story.invoice.record_payment, "LINHA", paid_at,
             at=datetime(2026, 3, 11, 12, 0, tzinfo=UTC))
    assert (story.invoice.status, story.invoice.paid_at) == ("paid", paid_at)
    assert story.invoice.pending_events[-1].late is True


@pytest.mark.parametrize("expired_first", [False, True])
def test_a_late_boleto_payment_reported_after_three_business_days_is_refused(expired_first):
    story = boleto_due_friday()
    if expired_first:
        story.expire()
    error = story.refused(story.invoice.record_payment, "LINHA",
                          datetime(2026, 3, 9, 10, 0, tzinfo=UTC),
                          at=datetime(2026, 3, 11, 12, 0, 1, tzinfo=UTC))
    assert error.state == ("expired" if expired_first else "open")
    assert error.command == "record a boleto payment"


# -- abandonment overlay ------------------------------------------------------------


def test_a_checkout_is_abandoned_only_after_its_window():
    story = Story("card")
    error = story.refused(lambda: story.invoice.abandon(story.now), at=T0 + HOUR - SECOND)
    assert (error.state, error.command) == ("draft", "abandon the checkout")
    story.do(lambda: story.invoice.abandon(story.now), at=T0 + HOUR)
    assert story.invoice.abandoned_at == T0 + HOUR
    assert story.invoice.status == "draft"
    assert story.invoice.pending_events[-1].contact == CUSTOMER


def test_a_shorter_abandonment_window_can_be_given():
    story = Story("card")
    story.do(lambda: story.invoice.abandon(story.now, 5 * MINUTE), at=T0 + 5 * MINUTE)
    assert story.invoice.pending_events[-1].window_seconds == 300


def test_an_abandoned_cart_can_still_be_recovered_and_paid():
    story = _charged_pix().abandon()
    abandoned_at = story.invoice.abandoned_at
    story.open().pay()
    assert story.invoice.status == "paid"
    assert story.invoice.abandoned_at == abandoned_at


# -- after payment: splits, refunds, disputes, warranty ------------------------------


@given(
    price=st.integers(1, 10**8),
    discount_part=st.integers(0, 99),
    fee_bps=st.integers(0, 10_000),
    fee_fixed=st.integers(0, 10_000),
    affiliate_bps=st.none() | st.integers(0, 10_000),
    coproducers=st.lists(st.integers(0, 3_333), max_size=3),
    method=st.sampled_from(["card", "pix", "boleto"]),
)
def test_the_splits_of_a_payment_sum_to_its_total_to_the_cent(
    price, discount_part, fee_bps, fee_fixed, affiliate_bps, coproducers, method,
):
    rules: dict[str, Any] = {
        "producer": "producer-1", "platform_fee_bps": fee_bps, "platform_fee_fixed": fee_fixed,
        "coproducers": [{"party": f"co-{i}", "bps": bps} for i, bps in enumerate(coproducers)],
    }
    if affiliate_bps is not None:
        rules["affiliate"] = {"party": "affiliate-1", "bps": affiliate_bps}
    story = Story(method, price=price, split=rules)
    discount = price * discount_part // 100
    if discount:
        story.do(story.invoice.apply_discount, discount, None)
    story.open().pay()
    invoice = story.invoice
    assert invoice.paid == invoice.total == price - discount
    assert sum(part["amount"] for part in invoice.splits) == invoice.total
    assert all(part["amount"] >= 0 for part in invoice.splits)
    assert [p["role"] for p in invoice.splits].count("producer") == 1


def test_partial_refunds_then_a_full_one():
    story = Story("card").open().pay()
    invoice = story.invoice
    story.refund(3_000)
    assert (invoice.status, invoice.refunded, invoice.refundable) == (
        "partially_refunded", 3_000, 7_000)
    story.refund(7_000)
    assert (invoice.status, invoice.refunded, invoice.refundable) == ("refunded", 10_000, 0)


def test_refunds_in_flight_hold_their_amount_until_released():
    story = Story("card").open().pay()
    invoice = story.invoice
    first = story.refund(6_000, complete=False)
    assert (invoice.reserved, invoice.refundable, invoice.status) == (
        {str(first): 6_000}, 4_000, "paid")
    with pytest.raises(ValidationError) as caught:
        story.do(invoice.reserve_refund, uuid4(), 4_001, "buyer")
    assert caught.value.field == "amount"
    story.do(invoice.release_refund, first)
    assert (invoice.reserved, invoice.refundable) == ({}, 10_000)


@pytest.mark.parametrize("amount", [0, 10_001])
def test_a_refund_never_exceeds_what_was_paid(amount):
    story = Story("card").open().pay()
    before = frozen(story.invoice)
    with pytest.raises(ValidationError) as caught:
        story.do(story.invoice.reserve_refund, uuid4(), amount, "buyer")
    assert caught.value.field == "amount"
    assert frozen(story.invoice) == before


def test_nothing_more_is_refundable_once_partially_refunded():
    story = Story("card").open().pay()
    story.refund(9_999)
    with pytest.raises(ValidationError) as caught:
        story.do(story.invoice.reserve_refund, uuid4(), 2, "producer")
    assert caught.value.field == "amount"


def test_a_pix_refund_is_accepted_up_to_90_days_after_payment():
    story = Story("pix").open().pay()
    assert story.invoice.paid_at is not None
    story.do(story.invoice.reserve_refund, uuid4(), 100, "producer",
             at=story.invoice.paid_at + 90 * DAY)
    assert story.invoice.refundable == 9_900


def test_a_pix_refund_after_90_days_is_refused():
    story = Story("pix").open().pay()
    assert story.invoice.paid_at is not None
    error = story.refused(story.invoice.reserve_refund, uuid4(), 100, "producer",
                          at=story.invoice.paid_at + 90 * DAY + SECOND)
    assert (error.state, error.command) == ("paid", "accept a refund request")
    assert "90 days" in error.detail


def test_a_card_refund_is_not_bound_by_the_pix_window():
    story = Story("card").open().pay()
    story.do(story.invoice.reserve_refund, uuid4(), 100, "producer", after=200 * DAY)
    assert story.invoice.refundable == 9_900


def test_a_buyer_refund_after_the_warranty_is_refused():
    story = Story("card").open().pay().end_warranty()
    error = story.refused(story.invoice.reserve_refund, uuid4(), 100, "buyer")
    assert (error.state, error.command) == ("paid", "accept a refund request")
    assert "warranty" in error.detail


@pytest.mark.parametrize("requested_by", ["producer", "support"])
def test_producer_and_support_may_refund_after_the_warranty(requested_by):
    story = Story("card").open().pay().end_warranty()
    story.refund(10_000, requested_by)
    assert story.invoice.status == "refunded"


def test_a_buyer_may_refund_within_the_warranty():
    story = Story("card").open().pay()
    story.refund(10_000, "buyer")
    assert story.invoice.status == "refunded"


def test_the_warranty_ends_at_its_term_and_not_before():
    story = Story("card", warranty_days=7).open().pay()
    invoice = story.invoice
    assert invoice.paid_at is not None
    ends_at = invoice.paid_at + 7 * DAY
    error = story.refused(lambda: invoice.end_warranty(story.now), at=ends_at - SECOND)
    assert (error.state, error.command) == ("paid", "end the warranty")
    story.do(lambda: invoice.end_warranty(story.now), at=ends_at)
    assert invoice.warranty_ended is True
    assert invoice.pending_events[-1].ended_at == ends_at


def test_a_zero_day_warranty_ends_at_payment():
    story = Story("card", warranty_days=0).open().pay()
    story.do(lambda: story.invoice.end_warranty(story.now), after=timedelta(0))
    assert story.invoice.warranty_ended is True


def test_a_dispute_is_opened_and_won():
    story = Story("card").open().pay()
    respond_by = story.now + 7 * DAY
    story.do(story.invoice.open_dispute, "unrecognized", respond_by)
    assert (story.invoice.dispute, story.invoice.dispute_deadline) == ("open", respond_by)
    assert story.invoice.status == "paid"
    story.do(story.invoice.win_dispute)
    assert (story.invoice.dispute, story.invoice.status) == ("won", "paid")


def test_a_dispute_must_allow_time_to_respond():
    story = Story("card").open().pay()
    with pytest.raises(ValidationError) as caught:
        story.do(lambda: story.invoice.open_dispute("fraud", story.now))
    assert caught.value.field == "respond_by"
    assert story.invoice.dispute is None


def test_a_lost_dispute_charges_back_what_was_not_refunded():
    story = Story("card").open().pay()
    story.refund(2_000)
    story.dispute()
    story.do(story.invoice.lose_dispute)
    invoice = story.invoice
    assert (invoice.status, invoice.dispute, invoice.charged_back) == (
        "charged_back", "lost", 8_000)
    assert invoice.refunded + invoice.charged_back == invoice.paid


def test_a_dispute_is_not_lost_while_a_refund_holds_money():
    """The handler ends open refunds first (tests/unit/test_refund.py); the invoice
    alone refuses, so no chargeback is ever recorded beside a refund's hold."""
    story = Story("card").open().pay()
    story.refund(3_000, complete=False)
    story.dispute()
    with pytest.raises(InvalidTransition, match="still hold money"):
        story.do(story.invoice.lose_dispute)


def test_a_lost_dispute_takes_what_the_gateway_reports_at_most_what_is_left():
    story = Story("card").open().pay()
    story.refund(3_000)
    story.dispute()
    with pytest.raises(ValidationError, match="between 1 and 7000"):
        story.do(story.invoice.lose_dispute, 7_001)
    story.do(story.invoice.lose_dispute, 5_000)
    assert (story.invoice.status, story.invoice.charged_back) == ("charged_back", 5_000)


def test_a_dispute_lost_after_a_full_refund_takes_nothing_back():
    story = Story("card").open().pay().dispute()
    story.refund(10_000, "support")
    assert (story.invoice.status, story.invoice.dispute) == ("refunded", "open")
    story.do(story.invoice.lose_dispute)
    invoice = story.invoice
    assert (invoice.dispute, invoice.charged_back, invoice.refunded) == ("lost", 0, 10_000)
    assert invoice.pending_events[-1].amount == 0


# -- the envelope ----------------------------------------------------------------------


def test_an_event_outside_a_command_is_refused():
    story = Story("card")
    before = frozen(story.invoice)
    with pytest.raises(PayLedgerError, match="outside a command"):
        story.invoice.request_charge("checkout")
    assert frozen(story.invoice) == before


def test_an_event_under_another_account_is_refused():
    story = Story("card")
    before = frozen(story.invoice)
    with acting(envelope(T0 + MINUTE, account="acct-2")), pytest.raises(
        PayLedgerError, match="another account"
    ):
        story.invoice.request_charge("checkout")
    assert frozen(story.invoice) == before


def test_a_checkout_awaiting_its_pix_or_boleto_is_not_abandoned():
    for method in ("pix", "boleto"):
        story = Story(method).open()
        assert "abandon" not in story.invoice.timers(TimePolicy())
        error = story.refused(lambda s=story: s.invoice.abandon(s.now), at=T0 + 2 * HOUR)
        assert error.command == "abandon the checkout"
