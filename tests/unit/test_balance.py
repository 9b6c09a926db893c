"""The Balance aggregate, driven directly (no store) at fixed business instants.

Money moves between pending, available, disputed and in flight; refused commands
change nothing. Every story ends by rebuilding the balance from its events, so the
event bodies alone decide the state.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from payledger.domain.balance import Balance, Source
from payledger.domain.envelope import acting
from payledger.domain.errors import InvalidTransition, ValidationError
from tests.unit.test_invoice import DAY, MINUTE, T0, envelope

TZ = "America/Sao_Paulo"
PARTY = "copro-9"  # a partner's wallet: what it earns from every producer
SELLER = "acct-1"
SOURCE: Source = {"source_account": SELLER, "role": "coproducer"}
WEEK = timedelta(days=7)
OWN = {"bank": "341", "branch": "0001", "number": "12345-6", "kind": "checking",
       "holder_name": "Bia Lima", "holder_document": "11144477735"}
SAME_DOC_OTHER_BANK = {**OWN, "bank": "260", "number": "999-1"}
FOREIGN = {**OWN, "holder_name": "Caio Reis", "holder_document": "52998224725"}
DOCUMENT = "11144477735"  # the party's registered document


def snapshot(balance: Balance) -> dict[str, Any]:
    state = copy.deepcopy({k: v for k, v in vars(balance).items() if k != "_pending_events"})
    state["_events"] = len(balance.pending_events)
    return state


class Story:
    """One producer balance and a business clock that moves forward with each command."""

    def __init__(self, platform: bool = False) -> None:
        self.now = T0
        self.events: list[Any] = []
        party = "platform" if platform else PARTY
        with acting(envelope(T0, account=party)):  # a balance's events are its party's
            self.balance = Balance.open(party, "BRL", selling_account=SELLER,
                                        reserve_interval=WEEK)

    def do(self, call: Callable[..., object], *args: Any, at: datetime | None = None) -> Story:
        self.now = at if at is not None else self.now + MINUTE
        with acting(envelope(self.now, account=self.balance.account)):
            call(*args)
        return self

    def refused(self, error: type[Exception], call: Callable[..., object], *args: Any,
                at: datetime | None = None) -> Any:
        before = snapshot(self.balance)
        with pytest.raises(error) as caught:
            self.do(call, *args, at=at)
        assert snapshot(self.balance) == before
        return caught.value

    # steps -----------------------------------------------------------------------

    def credit(self, amount: int, invoice_id: UUID | None = None,
               available_on: datetime | None = None) -> UUID:
        invoice_id = invoice_id or uuid4()
        self.do(self.balance.credit, invoice_id, amount, available_on or T0 + 15 * DAY,
                self.now, TZ, SOURCE)
        return invoice_id

    def release_all(self) -> Story:
        due = self.balance.next_release_at
        assert due is not None
        return self.do(lambda: self.balance.release(self.now), at=max(due, self.now))

    def bank(self, account: dict[str, Any] = OWN, document: str | None = DOCUMENT) -> Story:
        """`document`: the party's registered one (None: the platform's balance)."""
        return self.do(self.balance.change_bank_account, account, document)

    def withdraw(self, amount: int) -> UUID:
        withdrawal_id = uuid4()
        self.do(self.balance.request_withdrawal, withdrawal_id, amount)
        return withdrawal_id

    def rebuilt(self) -> Balance:
        """The balance as its events alone make it."""
        aggregate = None
        for event in self.balance.collect_events():
            aggregate = event.mutate(aggregate)
        assert isinstance(aggregate, Balance)
        return aggregate


def funded(available: int = 10_000) -> Story:
    story = Story()
    story.credit(available)
    return story.release_all().bank()


def parts(balance: Balance) -> tuple[int, int, int, int]:
    return balance.pending, balance.available, balance.disputed, balance.in_flight


# -- opening and crediting ---------------------------------------------------------------


def test_a_wallet_is_named_by_its_party_and_currency_and_belongs_to_the_party():
    story = Story()
    assert story.balance.id == Balance.create_id(PARTY, "BRL")
    assert story.balance.id == Balance.create_id(PARTY, "BRL", selling_account="acct-2")
    assert story.balance.id != Balance.create_id(PARTY, "USD")
    assert story.balance.account == PARTY
    assert story.balance.selling_account is None
    assert story.balance.next_recompute_at == T0 + WEEK


def test_the_platform_has_a_balance_per_selling_account():
    story = Story(platform=True)
    assert story.balance.id == Balance.create_id("platform", "BRL", selling_account=SELLER)
    assert story.balance.id != Balance.create_id("platform", "BRL", selling_account="acct-2")
    assert (story.balance.account, story.balance.selling_account) == ("platform", SELLER)
    with pytest.raises(ValidationError) as unnamed:
        Balance.create_id("platform", "BRL")
    assert unnamed.value.field == "selling_account"
    assert Story(platform=True).balance.next_recompute_at is None


def test_a_credit_is_pending_until_its_release_date():
    story = Story()
    story.credit(7_000, available_on=T0 + 15 * DAY)
    story.credit(3_000, available_on=T0 + 8 * DAY)
    assert parts(story.balance) == (10_000, 0, 0, 0)
    error = story.refused(InvalidTransition, lambda: story.balance.release(T0 + 7 * DAY),
                          at=T0 + 7 * DAY)
    assert "no receivable has matured" in str(error)
    story.do(lambda: story.balance.release(story.now), at=T0 + 8 * DAY)
    assert parts(story.balance) == (7_000, 3_000, 0, 0)
    assert story.balance.next_release_at == T0 + 15 * DAY
    story.do(lambda: story.balance.release(story.now), at=T0 + 15 * DAY)
    assert parts(story.balance) == (0, 10_000, 0, 0)
    assert story.balance.next_release_at is None
    assert snapshot(story.rebuilt()) == snapshot(story.balance) | {"_events": 0}


def test_a_sale_is_credited_once_while_it_is_pending():
    story = Story()
    invoice_id = story.credit(1_000)
    credit = story.balance.credit
    story.refused(InvalidTransition, credit, invoice_id, 1_000, T0 + DAY, T0, TZ, SOURCE)
    story.refused(ValidationError, credit, uuid4(), 0, T0 + DAY, T0, TZ, SOURCE)


# -- withdrawals -------------------------------------------------------------------------


def test_a_withdrawal_moves_money_in_flight_then_out():
    story = funded(10_000)
    withdrawal_id = story.withdraw(6_000)
    assert parts(story.balance) == (0, 4_000, 0, 6_000)
    story.do(story.balance.pay_withdrawal, withdrawal_id, "TED-1")
    assert parts(story.balance) == (0, 4_000, 0, 0)
    assert story.balance.withdrawn == 6_000
    assert snapshot(story.rebuilt())["withdrawn"] == 6_000


@pytest.mark.parametrize("outcome", ["fail_withdrawal", "cancel_withdrawal"])
def test_a_failed_or_canceled_withdrawal_returns_the_money(outcome):
    story = funded(10_000)
    withdrawal_id = story.withdraw(10_000)
    story.do(getattr(story.balance, outcome), withdrawal_id, "bank refused")
    assert parts(story.balance) == (0, 10_000, 0, 0)
    assert story.balance.withdrawn == 0


@pytest.mark.parametrize("first", ["pay_withdrawal", "fail_withdrawal", "cancel_withdrawal"])
@pytest.mark.parametrize("then", ["pay_withdrawal", "fail_withdrawal", "cancel_withdrawal"])
def test_a_settled_withdrawal_cannot_move_again(first, then):
    story = funded()
    withdrawal_id = story.withdraw(1_000)
    story.do(getattr(story.balance, first), withdrawal_id, "ref")
    error = story.refused(InvalidTransition, getattr(story.balance, then), withdrawal_id, "x")
    assert error.kind == "Withdrawal"
    assert error.state == {"pay_withdrawal": "paid", "fail_withdrawal": "failed",
                           "cancel_withdrawal": "canceled"}[first]


def test_an_unknown_withdrawal_cannot_be_paid():
    story = funded()
    error = story.refused(InvalidTransition, story.balance.pay_withdrawal, uuid4(), "TED-1")
    assert error.state == "unknown"


def test_a_withdrawal_never_exceeds_available_minus_reserved():
    story = funded(10_000)
    story.balance.reserved = 400  # set by a recompute: see the reserve tests
    error = story.refused(ValidationError, story.balance.request_withdrawal, uuid4(), 9_601)
    assert error.field == "amount"
    assert "9600" in str(error)
    story.withdraw(9_600)
    error = story.refused(InvalidTransition, story.balance.request_withdrawal, uuid4(), 1)
    assert "nothing is withdrawable" in str(error)


def test_a_withdrawal_needs_a_bank_account_on_file():
    story = Story()
    story.credit(1_000)
    story.release_all()
    error = story.refused(InvalidTransition, story.balance.request_withdrawal, uuid4(), 500)
    assert "no bank account" in str(error)


def test_a_withdrawal_goes_only_to_the_account_on_file_of_the_partys_document():
    story = funded()
    error = story.refused(InvalidTransition, story.balance.request_withdrawal, uuid4(), 500,
                          FOREIGN)
    assert "document" in str(error)
    error = story.refused(InvalidTransition, story.balance.request_withdrawal, uuid4(), 500,
                          SAME_DOC_OTHER_BANK)
    assert "account on file" in str(error)
    story.do(story.balance.request_withdrawal, uuid4(), 500, OWN)
    assert story.balance.in_flight == 500


def test_a_withdrawal_id_is_used_once():
    story = funded()
    withdrawal_id = story.withdraw(500)
    story.refused(InvalidTransition, story.balance.request_withdrawal, withdrawal_id, 500)


# -- bank account ------------------------------------------------------------------------


def test_a_bank_account_carries_the_accounts_registered_document():
    story = Story()
    error = story.refused(InvalidTransition, story.balance.change_bank_account, FOREIGN,
                          DOCUMENT)  # a stranger's CPF, even as the first account
    assert "not the account's own" in str(error)
    story.bank(OWN)
    assert story.balance.document == DOCUMENT
    story.refused(InvalidTransition, story.balance.change_bank_account, OWN, DOCUMENT)  # same
    story.bank(SAME_DOC_OTHER_BANK)
    assert story.balance.bank_account == SAME_DOC_OTHER_BANK
    assert story.rebuilt().document == DOCUMENT


def test_after_a_document_change_the_account_on_file_is_unusable_until_replaced():
    story = funded()
    error = story.refused(InvalidTransition, story.balance.request_withdrawal, uuid4(), 500,
                          None, "52998224725")  # an operator changed the account's document
    assert "document changed" in str(error)
    story.bank(FOREIGN, "52998224725")
    story.do(story.balance.request_withdrawal, uuid4(), 500, None, "52998224725")
    assert story.balance.in_flight == 500


def test_the_platforms_first_bank_account_names_its_document():
    story = Story(platform=True).bank(OWN, None)
    assert story.balance.document == DOCUMENT
    error = story.refused(InvalidTransition, story.balance.change_bank_account, FOREIGN, None)
    assert "not the account's own" in str(error)


# -- refunds, chargebacks and negative balances ---------------------------------------------


def test_a_debit_comes_off_the_sales_receivable_first_then_available():
    story = Story()
    old = story.credit(5_000, available_on=T0 + DAY)
    story.release_all()
    new = story.credit(3_000)
    story.do(story.balance.debit, new, 4_000, "refund", "r-1", SOURCE)
    assert parts(story.balance) == (0, 4_000, 0, 0)
    story.do(story.balance.debit, old, 1_000, "refund", "r-2", SOURCE)
    assert parts(story.balance) == (0, 3_000, 0, 0)
    debited = [e for e in story.balance.pending_events if type(e).__name__ == "Debited"]
    assert [(e.from_pending, e.from_available) for e in debited] == [(3_000, 1_000), (0, 1_000)]


def test_a_refund_after_a_withdrawal_makes_the_balance_negative_and_blocks_withdrawals():
    story = funded(10_000)
    sale = story.credit(2_000)
    story.do(story.balance.pay_withdrawal, story.withdraw(10_000), "TED-1")
    story.do(story.balance.debit, sale, 2_000, "refund", "r-1", SOURCE)  # its own receivable
    assert (story.balance.status, story.balance.available) == ("open", 0)
    story.do(story.balance.debit, uuid4(), 1_500, "chargeback", "dispute lost", SOURCE)
    assert story.balance.available == -1_500
    assert story.balance.status == "negative"
    error = story.refused(InvalidTransition, story.balance.request_withdrawal, uuid4(), 1)
    assert error.state == "negative"
    assert "negative" in str(error)
    error = story.refused(ValidationError, story.balance.adjust, -1, "fee")
    assert error.field == "amount"
    story.do(story.balance.adjust, 1_500, "goodwill")
    assert story.balance.status == "open"


def test_a_debit_names_its_cause_and_is_positive():
    story = funded()
    story.refused(ValidationError, story.balance.debit, uuid4(), 10, "gift", "x", SOURCE)
    story.refused(ValidationError, story.balance.debit, uuid4(), 0, "refund", "x", SOURCE)


def test_adjustments_never_make_a_balance_negative():
    story = funded(1_000)
    story.do(story.balance.adjust, -1_000, "correction")
    assert story.balance.available == 0
    story.refused(ValidationError, story.balance.adjust, -1, "correction")
    story.refused(ValidationError, story.balance.adjust, 0, "nothing")


# -- disputes ----------------------------------------------------------------------------


def test_a_dispute_withholds_from_the_receivable_then_available_never_below_zero():
    story = Story()
    story.credit(1_000, available_on=T0 + DAY)
    story.release_all()  # available 1_000
    sale = story.credit(3_000, available_on=T0 + 15 * DAY)
    story.do(story.balance.withhold, sale, 5_000, SOURCE)
    assert parts(story.balance) == (0, 0, 4_000, 0)
    assert story.balance.holds[str(sale)]["available_on"] == T0 + 15 * DAY
    story.refused(InvalidTransition, story.balance.withhold, sale, 10, SOURCE)
    story.do(story.balance.reinstate, sale, SOURCE)  # won
    assert parts(story.balance) == (3_000, 1_000, 0, 0)
    assert story.balance.receivables[str(sale)] == {"amount": 3_000,
                                                    "available_on": T0 + 15 * DAY}
    assert snapshot(story.rebuilt()) == snapshot(story.balance) | {"_events": 0}


def test_a_lost_dispute_is_debited_from_the_hold_and_the_rest_reinstated():
    story = Story()
    sale = story.credit(3_000)
    story.do(story.balance.withhold, sale, 3_000, SOURCE)
    story.do(story.balance.debit, sale, 2_000, "chargeback", "dispute lost", SOURCE)
    assert parts(story.balance) == (0, 0, 1_000, 0)
    story.do(story.balance.reinstate, sale, SOURCE)
    assert parts(story.balance) == (1_000, 0, 0, 0)
    assert not story.balance.holds


def test_nothing_to_withhold_writes_nothing():
    story = Story()
    before = snapshot(story.balance)
    story.do(story.balance.withhold, uuid4(), 500, SOURCE)
    story.do(story.balance.reinstate, uuid4(), SOURCE)
    assert snapshot(story.balance) == before


# -- the reserve -------------------------------------------------------------------------


def test_the_reserve_is_a_share_of_the_last_30_days_credits_recomputed_weekly():
    story = Story()
    story.credit(100_000, available_on=T0 + DAY)  # paid on T0's day
    story.do(lambda: None, at=T0 + 20 * DAY)
    story.credit(50_000, available_on=T0 + 21 * DAY)
    recompute = story.balance.recompute_reserve
    error = story.refused(InvalidTransition, recompute, T0 + WEEK - MINUTE, 400, 30, WEEK, TZ,
                          at=T0 + 20 * DAY + MINUTE)
    assert "due at" in str(error)
    story.do(lambda: recompute(story.now, 400, 30, WEEK, TZ), at=T0 + 29 * DAY)
    assert story.balance.reserved == 6_000  # 4% of 150_000
    assert story.balance.next_recompute_at == T0 + 5 * WEEK  # the weekly beat, missed ones skipped
    story.do(lambda: recompute(story.now, 400, 30, WEEK, TZ), at=T0 + 35 * DAY)
    assert story.balance.reserved == 2_000  # the first sale left the window
    assert list(story.balance.credits_by_day) == [(T0 + 20 * DAY).date().isoformat()]
    assert story.rebuilt().reserved == 2_000


def test_the_platforms_balance_holds_no_reserve():
    story = Story(platform=True)
    story.refused(InvalidTransition, story.balance.recompute_reserve, T0 + WEEK, 400, 30, WEEK,
                  TZ, at=T0 + WEEK)


def test_a_copy_is_independent_of_its_original():
    """The repository copies cached balances with `Balance.__deepcopy__`: a copy's
    commands must leave the original as it was."""
    story = funded(10_000)
    sale = story.credit(3_000)
    story.do(story.balance.withhold, sale, 2_000, SOURCE)
    withdrawal_id = story.withdraw(1_000)
    story.balance.collect_events()
    original = story.balance
    before = repr(sorted(vars(original).items()))
    story.balance = copy.deepcopy(original)
    story.do(story.balance.debit, sale, 2_500, "chargeback", "dispute lost", SOURCE)
    story.do(story.balance.reinstate, sale, SOURCE)
    story.do(story.balance.pay_withdrawal, withdrawal_id, "TED-1")
    story.credit(500)
    story.do(lambda: story.balance.recompute_reserve(story.now, 400, 30, WEEK, TZ),
             at=T0 + WEEK)
    assert repr(sorted(vars(story.balance).items())) != before
    assert repr(sorted(vars(original).items())) == before
