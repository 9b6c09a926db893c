"""An invoice's fiscal documents (Document) and a withdrawal's proof (WithdrawalProof),
driven directly (no store) at fixed business instants; their commands' validation.

Every refused step changes nothing; every story ends by replaying its events and by a
snapshot round trip, so the event bodies alone decide the state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper

from payledger.domain import commands as c
from payledger.domain.document import (
    Document,
    FiscalStatus,
    ReceiptStatus,
    access_key_check_digit,
    access_key_number,
    access_key_problem,
)
from payledger.domain.envelope import LedgerAggregate, acting
from payledger.domain.errors import InvalidTransition, ValidationError
from payledger.domain.withdrawal_proof import ProofStatus, WithdrawalProof
from tests.unit.test_balance import OWN
from tests.unit.test_balance import Story as BalanceStory
from tests.unit.test_fastjson import LIBRARY
from tests.unit.test_invoice import MINUTE, RECIPES, Story, envelope, frozen

CNPJ = "11222333000181"
FISCAL = {"paid", "partially_refunded"}
RECEIPTS = {"paid", "partially_refunded", "refunded"}


def access_key(number: int = 1234, code: int = 87654321) -> str:
    """A well-formed NF-e access key (SP, 2026-03, model 55, series 1) of nota `number`."""
    first = f"352603{CNPJ}55001{number:09d}1{code:08d}"
    return first + access_key_check_digit(first)


class Documents:
    """An invoice reached by one of the invoice recipes, and its Document."""

    def __init__(self, recipe: str = "paid card") -> None:
        self.sale: Story = RECIPES[recipe][0]()
        self.document: Document = self.sale.do(lambda: Document.open(self.sale.invoice))
        self.events: list[Any] = []

    def do(self, call: Callable[..., object], *args: Any) -> Documents:
        self.sale.do(call, *args)
        return self

    def refused(self, call: Callable[..., object], *args: Any) -> InvalidTransition:
        before = frozen(self.document)
        with pytest.raises(InvalidTransition) as caught:
            self.sale.do(call, *args)
        assert frozen(self.document) == before
        return caught.value

    def request_nota(self) -> Documents:
        return self.do(self.document.request_fiscal_document, self.sale.invoice)

    def issue(self, number: int = 1234) -> Documents:
        return self.do(self.document.record_fiscal_document, number, access_key(number),
                       "https://nfe.example/1234.pdf")


def replayed(aggregate: LedgerAggregate) -> LedgerAggregate:
    """The aggregate rebuilt from its stored events, and from a stored snapshot of it."""
    codec: Mapper[UUID] = Mapper(transcoder=LIBRARY)
    rebuilt: Any = None
    for domain_event in aggregate.collect_events():
        rebuilt = codec.to_domain_event(codec.to_stored_event(domain_event)).mutate(rebuilt)
    assert rebuilt.__dict__ == aggregate.__dict__
    snapshot = codec.to_domain_event(codec.to_stored_event(Snapshot.take(aggregate)))
    restored = snapshot.mutate(None)
    assert restored.__dict__ == aggregate.__dict__
    return restored


# -- the nota fiscal -------------------------------------------------------------------------


def test_a_paid_invoices_nota_is_requested_then_issued():
    story = Documents().request_nota()
    assert story.document.fiscal is FiscalStatus.REQUESTED
    story.issue()
    document = story.document
    assert (document.fiscal, document.fiscal_attempts) == (FiscalStatus.ISSUED, 1)
    assert document.fiscal_document == {"number": 1234, "access_key": access_key(),
                                        "url": "https://nfe.example/1234.pdf"}
    requested = document.pending_events[1]
    assert (requested.attempt, requested.amount, requested.currency) == (1, 10_000, "BRL")
    assert [type(e).__name__ for e in document.pending_events] == [
        "Opened", "FiscalDocumentRequested", "FiscalDocumentIssued"]
    restored = replayed(document)
    assert restored.fiscal == FiscalStatus.ISSUED


def test_a_partially_refunded_invoices_nota_is_of_what_was_kept():
    story = Documents("partially refunded").request_nota()
    assert story.document.pending_events[-1].amount == 7_000


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_a_nota_is_requested_only_for_a_paid_or_partially_refunded_invoice(recipe):
    story = Documents(recipe)
    state = RECIPES[recipe][1]
    if state in FISCAL:
        story.request_nota()
        assert story.document.fiscal is FiscalStatus.REQUESTED
        return
    error = story.refused(story.document.request_fiscal_document, story.sale.invoice)
    assert (error.kind, error.state, error.command) == ("Invoice", state, "request a nota fiscal")
    assert "paid or partially_refunded" in str(error)


def test_a_nota_is_issued_once_and_asked_again_only_after_a_failure():
    story = Documents().request_nota()
    again = story.refused(story.document.request_fiscal_document, story.sale.invoice)
    assert (again.kind, again.state) == ("FiscalDocument", "requested")
    story.do(story.document.fail_fiscal_document, "Rejeição 225: falha no schema XML")
    assert (story.document.fiscal, story.document.fiscal_failure) == (
        FiscalStatus.FAILED, "Rejeição 225: falha no schema XML")
    story.request_nota().issue()
    assert story.document.fiscal_attempts == 2
    assert story.document.fiscal_failure is None
    once = story.refused(story.document.request_fiscal_document, story.sale.invoice)
    assert (once.kind, once.state) == ("FiscalDocument", "issued")
    assert "once per invoice" in str(once)
    replayed(story.document)


def test_an_outcome_is_recorded_only_for_a_requested_nota():
    story = Documents()
    key = access_key()
    none = story.refused(story.document.record_fiscal_document, 1234, key, "https://x.example")
    assert (none.kind, none.state) == ("FiscalDocument", "none")
    assert story.refused(story.document.fail_fiscal_document, "down").state == "none"
    story.request_nota().issue()
    twice = story.refused(story.document.record_fiscal_document, 1234, key, "https://x.example")
    assert (twice.kind, twice.state, twice.command) == (
        "FiscalDocument", "issued", "record an issued nota fiscal")
    assert story.refused(story.document.fail_fiscal_document, "down").state == "issued"


def test_a_document_holds_one_invoices_documents_only():
    story, other = Documents(), Documents()
    error = story.refused(story.document.request_fiscal_document, other.sale.invoice)
    assert error.kind == "Document"
    assert Document.create_id(story.sale.invoice.id) == story.document.id
    assert Document.create_id(other.sale.invoice.id) != story.document.id


# -- receipts --------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_a_receipt_is_requested_only_for_a_paid_invoice_refunded_or_not(recipe):
    story = Documents(recipe)
    state = RECIPES[recipe][1]
    if state in RECEIPTS:
        story.do(story.document.request_receipt, story.sale.invoice, uuid4())
        assert list(story.document.receipts.values()) == [ReceiptStatus.REQUESTED]
        return
    error = story.refused(story.document.request_receipt, story.sale.invoice, uuid4())
    assert (error.kind, error.state, error.command) == ("Invoice", state, "request a receipt")


def test_receipts_are_each_their_own_and_each_sent_or_failed_once():
    story = Documents()
    first, second = uuid4(), uuid4()
    story.do(story.document.request_receipt, story.sale.invoice, first)
    story.do(story.document.request_receipt, story.sale.invoice, second)  # while one waits
    same = story.refused(story.document.request_receipt, story.sale.invoice, first)
    assert (same.kind, same.state) == ("Receipt", "requested")
    story.do(story.document.record_receipt_sent, first, "msg-1")
    story.do(story.document.fail_receipt, second, "mailbox full")
    assert story.document.receipts == {str(first): "sent", str(second): "failed"}
    sent = story.refused(story.document.fail_receipt, first, "bounced late")
    assert (sent.kind, sent.state, sent.command) == ("Receipt", "sent", "record a failed receipt")
    unknown = story.refused(story.document.record_receipt_sent, uuid4(), None)
    assert (unknown.kind, unknown.state) == ("Receipt", "unknown")
    third = uuid4()
    story.do(story.document.request_receipt, story.sale.invoice, third)  # asked again
    assert story.document.fiscal is None  # receipts alone: no nota asked for
    restored = replayed(story.document)
    assert restored.receipts[str(third)] == ReceiptStatus.REQUESTED


# -- the commands' input ----------------------------------------------------------------------


def test_an_access_key_is_44_digits_with_its_check_digit_and_carries_the_number():
    key = access_key(4321)
    assert access_key_problem(key) is None
    assert access_key_number(key) == 4321
    printed = " ".join(key[i:i + 4] for i in range(0, 44, 4))  # as a DANFE prints it
    confirmed = c.ConfirmFiscalDocument(invoice_id=uuid4(), number=4321, access_key=printed,
                                        url="https://nfe.example/a.pdf")
    assert confirmed.access_key == key


@pytest.mark.parametrize(("fields", "field"), [
    ({"access_key": access_key()[:-1]}, "access_key"),
    ({"access_key": access_key()[:-1] + str((int(access_key()[-1]) + 1) % 10)}, "access_key"),
    ({"access_key": "A" + access_key()[1:]}, "access_key"),
    ({"number": 99}, "number"),  # not the number the key carries
    ({"number": 0}, "number"),
    ({"number": "1234"}, "number"),
    ({"url": "http://nfe.example/a.pdf"}, "url"),
    ({"url": "https:///a.pdf"}, "url"),
    ({"url": "https://nfe.example/a\u202e.pdf"}, "url"),
    ({"url": "https://nfe.example/a b.pdf"}, "url"),
    ({"url": "https://nfe.example/" + "a" * 2000}, "url"),
    ({"invoice_id": "not-a-uuid"}, "invoice_id"),
])
def test_a_bad_outcome_is_refused_naming_its_field(fields, field):
    good = {"invoice_id": uuid4(), "number": 1234, "access_key": access_key(),
            "url": "https://nfe.example/a.pdf"}
    with pytest.raises(ValidationError) as caught:
        c.ConfirmFiscalDocument(**{**good, **fields})
    assert caught.value.field == field


@pytest.mark.parametrize(("command", "fields", "field"), [
    (c.FailFiscalDocument, {"invoice_id": uuid4(), "reason": ""}, "reason"),
    (c.FailFiscalDocument, {"invoice_id": uuid4(), "reason": "down\x1b[2J"}, "reason"),
    (c.FailReceipt, {"invoice_id": uuid4(), "receipt_id": uuid4(), "reason": "a\nb"}, "reason"),
    (c.ConfirmReceipt, {"invoice_id": uuid4(), "receipt_id": "x"}, "receipt_id"),
    (c.SendReceipt, {"invoice_id": uuid4(), "to": "someone@else.example"}, "to"),
    (c.IssueFiscalDocument, {}, "invoice_id"),
    (c.SendWithdrawalProof, {"balance_id": uuid4()}, "withdrawal_id"),
    (c.FailWithdrawalProof, {"proof_id": uuid4(), "reason": " "}, "reason"),
    (c.ConfirmWithdrawalProof, {"proof_id": uuid4(), "reference": "a\u2066b"}, "reference"),
])
def test_bad_document_input_is_refused_naming_its_field(command, fields, field):
    with pytest.raises(ValidationError) as caught:
        command(**fields)
    assert caught.value.field == field


# -- a withdrawal's proof ---------------------------------------------------------------------


def paid_withdrawal(outcome: str = "paid") -> tuple[BalanceStory, UUID]:
    """A wallet with a withdrawal of 1_000 in `outcome` (requested, paid, failed, canceled)."""
    story = BalanceStory()
    balance = story.balance
    story.do(balance.adjust, 5_000, "opening credit")
    story.do(balance.change_bank_account, OWN, OWN["holder_document"])
    withdrawal_id = uuid4()
    story.do(balance.request_withdrawal, withdrawal_id, 1_000)
    if outcome == "paid":
        story.do(balance.pay_withdrawal, withdrawal_id, "TED-1")
    elif outcome == "failed":
        story.do(balance.fail_withdrawal, withdrawal_id, "account closed")
    elif outcome == "canceled":
        story.do(balance.cancel_withdrawal, withdrawal_id, "changed my mind")
    return story, withdrawal_id


def proof_of(story: BalanceStory, withdrawal_id: UUID) -> WithdrawalProof:
    story.now += MINUTE
    with acting(envelope(story.now, account=story.balance.account)):
        return WithdrawalProof.request(uuid4(), story.balance, withdrawal_id)


def test_a_paid_withdrawals_proof_is_requested_then_sent_or_failed():
    story, withdrawal_id = paid_withdrawal()
    proof = proof_of(story, withdrawal_id)
    assert (proof.status, proof.amount, proof.currency) == (ProofStatus.REQUESTED, 1_000, "BRL")
    assert (proof.balance_id, proof.withdrawal_id) == (story.balance.id, withdrawal_id)
    with acting(envelope(story.now + MINUTE, account=proof.account)):
        proof.send("msg-1")
        with pytest.raises(InvalidTransition) as caught:
            proof.fail("bounced")
    assert (caught.value.kind, caught.value.state) == ("WithdrawalProof", "sent")
    assert replayed(proof).status == ProofStatus.SENT
    other = proof_of(story, withdrawal_id)  # asked for again: a proof of its own
    with acting(envelope(story.now + MINUTE, account=other.account)):
        other.fail("mailbox full")
    assert (other.status, other.reason) == (ProofStatus.FAILED, "mailbox full")


@pytest.mark.parametrize("outcome", ["requested", "failed", "canceled", "unknown"])
def test_only_a_paid_withdrawal_has_a_proof(outcome):
    story, withdrawal_id = paid_withdrawal(outcome)
    named = uuid4() if outcome == "unknown" else withdrawal_id
    with pytest.raises(InvalidTransition) as caught:
        proof_of(story, named)
    assert (caught.value.kind, caught.value.state) == ("Withdrawal", outcome)
    assert caught.value.command == "send a withdrawal's proof"
