"""Fiscal documents through the Ledger, and withdrawal proofs through the Settlement, on
a SQLite store with real principals: an account asks, the platform reports the outcome,
another account's invoice or balance is NotFound, and every refusal writes nothing in
either log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.document import Document, access_key_check_digit
from payledger.domain.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    PayLedgerError,
    ValidationError,
)
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.withdrawal_proof import WithdrawalProof
from payledger.ledger import Ledger
from payledger.settlement import Settlement, open_settlement
from tests import factories as f
from tests.principals import ACCOUNT, CHECKOUT, GATEWAY, OPERATOR, SCHEDULER

OTHER = "producer-77"
PRODUCER = "producer-1"  # the split's producer: a party with a wallet (f.SPLIT)
CNPJ = "11222333000181"
CPF = "52998224725"
BANK: dict[str, Any] = {"bank": "341", "branch": "0001", "number": "12345-6",
                        "holder_name": "Bia Lima Cursos", "holder_document": CNPJ}
URL = "https://nfe.example/nota.pdf"


def member(profile: str, account: str = ACCOUNT) -> Actor:
    """A principal of `account`: its owner, or a collaborator with a preset profile."""
    return Actor.preset(profile, id=f"{profile}@{account}.example", account=account)


OWNER, SUPPORT, FINANCIAL, TECHNICAL = (member(p) for p in ("owner", "support", "financial",
                                                            "technical"))


def access_key(number: int) -> str:
    first = f"352603{CNPJ}55001{number:09d}1{12345678:08d}"
    return first + access_key_check_digit(first)


def issued(invoice_id: UUID, number: int = 1201) -> c.ConfirmFiscalDocument:
    return c.ConfirmFiscalDocument(invoice_id=invoice_id, number=number,
                                   access_key=access_key(number), url=URL)


@pytest.fixture
def apps(sqlite_ledger: Ledger) -> Iterator[tuple[Ledger, Settlement]]:
    """acct-1 and producer-1 (companies, each with a support, a financial and a
    technical collaborator) and producer-77 (a person), registered by an operator."""
    onboarding = Actor.platform("operator", id="ops-onboarding", account="platform")
    for account in (ACCOUNT, PRODUCER):
        sqlite_ledger.execute(onboarding, c.RegisterAccount(
            account=account, owner_user=member("owner", account).id, document=CNPJ,
            kind="company"))
        for profile in ("support", "financial", "technical"):
            sqlite_ledger.execute(member("owner", account), c.AddCollaborator(
                email=member(profile, account).id, cpf=CPF, profile=profile))
    sqlite_ledger.execute(onboarding, c.RegisterAccount(
        account=OTHER, owner_user=member("owner", OTHER).id, document=CPF, kind="person"))
    settlement = open_settlement(sqlite_ledger.settings, ledger=sqlite_ledger)
    yield sqlite_ledger, settlement
    settlement.close()


def written(apps: tuple[Ledger, Settlement]) -> tuple[int, int]:
    ledger, settlement = apps
    return (ledger.recorder.max_notification_id() or 0,
            settlement.recorder.max_notification_id() or 0)


def refused(apps: tuple[Ledger, Settlement], error: type[PayLedgerError],
            attempt: Callable[[], object]) -> Any:
    """`attempt` raises `error`, and neither log holds anything new."""
    before = written(apps)
    with pytest.raises(error) as caught:
        attempt()
    assert written(apps) == before
    return caught.value


def sale(ledger: Ledger, account: str = ACCOUNT, *, pay: bool = True,
         reference: UUID | None = None) -> UUID:
    """A card sale of `account`, named by its checkout's own reference (returned)."""
    reference = reference or uuid4()
    checkout = Actor.platform("checkout", id="checkout", account=account)
    ledger.execute(checkout, f.create_invoice(invoice_id=reference))
    ledger.execute(checkout, c.RequestCharge(invoice_id=reference))
    if pay:
        gateway = Actor.platform("gateway", id="gateway", account=account)
        ledger.execute(gateway, c.ApproveCard(invoice_id=reference, authorization_code="A1"))
    return reference


def documents_id(reference: UUID, account: str = ACCOUNT) -> UUID:
    return Document.create_id(Invoice.scoped_id(account, reference))


def events(ledger: Ledger | Settlement, aggregate_id: UUID) -> list[Any]:
    return list(ledger.events.get(aggregate_id))


# -- the nota fiscal ----------------------------------------------------------------------


def test_support_asks_for_a_nota_and_the_gateway_reports_it_issued_once(apps):
    ledger, _ = apps
    reference = sale(ledger)
    receipt = ledger.execute(SUPPORT, c.IssueFiscalDocument(invoice_id=reference))
    assert (receipt.aggregate_id, receipt.events) == (documents_id(reference), 2)
    stored = Invoice.scoped_id(ACCOUNT, reference)  # an outcome may name the stored id
    ledger.execute(GATEWAY, issued(stored, number=1201))
    document = ledger.get(SUPPORT, Document, receipt.aggregate_id)
    assert (document.fiscal, document.fiscal_attempts, document.invoice_id) == (
        "issued", 1, stored)
    assert document.fiscal_document == {"number": 1201, "access_key": access_key(1201),
                                        "url": URL}
    opened, requested, reported = events(ledger, receipt.aggregate_id)
    assert (requested.amount, requested.currency, requested.attempt) == (10_000, "BRL", 1)
    assert (opened.actor, opened.actor_kind, opened.actor_role) == (
        SUPPORT.id, "account", "support")
    assert (reported.actor_kind, reported.actor_role, reported.account) == (
        "platform", "gateway", ACCOUNT)
    for asker in (SUPPORT, OWNER, CHECKOUT):
        error = refused(apps, InvalidTransition, lambda a=asker: ledger.execute(
            a, c.IssueFiscalDocument(invoice_id=reference)))
        assert (error.kind, error.state) == ("FiscalDocument", "issued")
    error = refused(apps, InvalidTransition, lambda: ledger.execute(GATEWAY, issued(reference)))
    assert (error.kind, error.state) == ("FiscalDocument", "issued")


def test_a_failed_nota_is_asked_for_again_and_an_outcome_needs_a_request(apps):
    ledger, _ = apps
    reference = sale(ledger)
    error = refused(apps, NotFound, lambda: ledger.execute(GATEWAY, issued(reference)))
    assert error.kind == "Document"
    ledger.execute(OWNER, c.IssueFiscalDocument(invoice_id=reference))
    waiting = refused(apps, InvalidTransition, lambda: ledger.execute(
        SUPPORT, c.IssueFiscalDocument(invoice_id=reference)))
    assert (waiting.kind, waiting.state) == ("FiscalDocument", "requested")
    ledger.execute(GATEWAY, c.FailFiscalDocument(invoice_id=reference,
                                                 reason="Rejeição 225: falha no schema"))
    ledger.execute(CHECKOUT, c.IssueFiscalDocument(invoice_id=reference))  # automatic retry
    ledger.execute(GATEWAY, issued(reference))
    document = ledger.load(Document, documents_id(reference))
    assert (document.fiscal, document.fiscal_attempts, document.fiscal_failure) == (
        "issued", 2, None)
    names = [type(e).__name__ for e in events(ledger, document.id)]
    assert names == ["Opened", "FiscalDocumentRequested", "FiscalDocumentFailed",
                     "FiscalDocumentRequested", "FiscalDocumentIssued"]


def test_an_unpaid_invoice_has_no_documents_and_nothing_is_written(apps):
    ledger, _ = apps
    draft = uuid4()
    ledger.execute(CHECKOUT, f.create_invoice(invoice_id=draft))
    unpaid = sale(ledger, pay=False)
    for reference, state in ((draft, "draft"), (unpaid, "open")):
        for actor, command in ((SUPPORT, c.IssueFiscalDocument(invoice_id=reference)),
                               (FINANCIAL, c.SendReceipt(invoice_id=reference))):
            error = refused(apps, InvalidTransition, lambda a=actor, k=command: ledger.execute(
                a, k))
            assert (error.kind, error.state) == ("Invoice", state)
        with pytest.raises(NotFound):
            ledger.load(Document, documents_id(reference))


def test_a_refunded_invoice_gets_receipts_not_a_nota(apps):
    ledger, _ = apps
    reference = sale(ledger)
    refund_id = ledger.execute(SUPPORT, f.request_refund(reference)).aggregate_id
    ledger.execute(OWNER, c.ApproveRefund(refund_id=refund_id))
    ledger.execute(GATEWAY, c.SendRefund(refund_id=refund_id, gateway_reference="GW-1"))
    ledger.execute(GATEWAY, c.SucceedRefund(refund_id=refund_id))
    error = refused(apps, InvalidTransition, lambda: ledger.execute(
        SUPPORT, c.IssueFiscalDocument(invoice_id=reference)))
    assert (error.kind, error.state) == ("Invoice", "refunded")
    ledger.execute(FINANCIAL, c.SendReceipt(invoice_id=reference))
    assert len(ledger.load(Document, documents_id(reference)).receipts) == 1


# -- receipts -------------------------------------------------------------------------------


def test_each_receipt_is_its_own_and_the_gateway_reports_each_once(apps):
    ledger, _ = apps
    reference = sale(ledger)
    first, second = uuid4(), uuid4()
    ask = c.SendReceipt(invoice_id=reference, receipt_id=first, idempotency_key="rcpt-1")
    made = ledger.execute(FINANCIAL, ask)
    again = ledger.execute(FINANCIAL, ask)  # a retry of the same request writes nothing
    assert (again.repeated, again.command_id) == (True, made.command_id)
    ledger.execute(CHECKOUT, c.SendReceipt(invoice_id=reference, receipt_id=second))
    ledger.execute(OWNER, c.SendReceipt(invoice_id=reference))  # a new id of its own
    document = ledger.load(Document, made.aggregate_id)
    assert len(document.receipts) == 3
    error = refused(apps, InvalidTransition, lambda: ledger.execute(FINANCIAL, c.SendReceipt(
        invoice_id=reference, receipt_id=first)))
    assert (error.kind, error.state) == ("Receipt", "requested")
    ledger.execute(GATEWAY, c.ConfirmReceipt(invoice_id=reference, receipt_id=first,
                                             reference="msg-1"))
    ledger.execute(GATEWAY, c.FailReceipt(invoice_id=reference, receipt_id=second,
                                          reason="mailbox full"))
    twice = refused(apps, InvalidTransition, lambda: ledger.execute(GATEWAY, c.ConfirmReceipt(
        invoice_id=reference, receipt_id=second)))
    assert (twice.kind, twice.state) == ("Receipt", "failed")
    unknown = refused(apps, InvalidTransition, lambda: ledger.execute(GATEWAY, c.FailReceipt(
        invoice_id=reference, receipt_id=uuid4(), reason="x")))
    assert (unknown.kind, unknown.state) == ("Receipt", "unknown")
    receipts = ledger.load(Document, made.aggregate_id).receipts
    assert (receipts[str(first)], receipts[str(second)]) == ("sent", "failed")
    assert ledger.load(Document, made.aggregate_id).fiscal is None


# -- who may ask, who may report ----------------------------------------------------------


ASKED: list[tuple[Actor, Callable[[UUID], c.Command], str]] = [
    (FINANCIAL, lambda i: c.IssueFiscalDocument(invoice_id=i), "issue_sales_invoices"),
    (TECHNICAL, lambda i: c.IssueFiscalDocument(invoice_id=i), "issue_sales_invoices"),
    (SUPPORT, lambda i: c.SendReceipt(invoice_id=i), "send_receipts"),
    (TECHNICAL, lambda i: c.SendReceipt(invoice_id=i), "send_receipts"),
    (OPERATOR, lambda i: c.IssueFiscalDocument(invoice_id=i), "'sell'"),
    (GATEWAY, lambda i: c.SendReceipt(invoice_id=i), "'sell'"),
    (OWNER, issued, "platform principals only"),
    (SUPPORT, lambda i: c.FailFiscalDocument(invoice_id=i, reason="x"),
     "platform principals only"),
    (FINANCIAL, lambda i: c.ConfirmReceipt(invoice_id=i, receipt_id=uuid4()),
     "platform principals only"),
    (CHECKOUT, issued, "record_payments"),
    (OPERATOR, lambda i: c.FailReceipt(invoice_id=i, receipt_id=uuid4(), reason="x"),
     "record_payments"),
]


@pytest.mark.parametrize(("actor", "command", "reason"), ASKED,
                         ids=[f"{a.role}-{i}" for i, (a, _, _) in enumerate(ASKED)])
def test_who_may_ask_and_who_may_report(apps, actor, command, reason):
    ledger, _ = apps
    reference = sale(ledger)
    ledger.execute(SUPPORT, c.IssueFiscalDocument(invoice_id=reference))
    error = refused(apps, Forbidden, lambda: ledger.execute(actor, command(reference)))
    assert reason in str(error)


def test_a_removed_collaborator_asks_no_more(apps):
    ledger, _ = apps
    reference = sale(ledger)
    ledger.execute(OWNER, c.RemoveCollaborator(email=SUPPORT.id))
    refused(apps, Forbidden, lambda: ledger.execute(
        SUPPORT, c.IssueFiscalDocument(invoice_id=reference)))


# -- two accounts in one store -------------------------------------------------------------


def test_another_accounts_invoice_and_documents_are_not_found(apps):
    ledger, _ = apps
    reference = sale(ledger)
    ledger.execute(SUPPORT, c.IssueFiscalDocument(invoice_id=reference))
    ledger.execute(FINANCIAL, c.SendReceipt(invoice_id=reference, receipt_id=(rid := uuid4())))
    stored = Invoice.scoped_id(ACCOUNT, reference)
    theirs = [member("owner", OTHER), Actor.platform("checkout", id="co", account=OTHER)]
    gateway = Actor.platform("gateway", id="gw", account=OTHER)
    for name in (reference, stored):  # by the checkout's reference and by the stored id
        for actor in theirs:
            for command in (c.IssueFiscalDocument(invoice_id=name),
                            c.SendReceipt(invoice_id=name)):
                error = refused(apps, NotFound, lambda a=actor, k=command: ledger.execute(a, k))
                assert error.kind == "Invoice"
        for command in (issued(name), c.FailReceipt(invoice_id=name, receipt_id=rid,
                                                    reason="x")):
            refused(apps, NotFound, lambda k=command: ledger.execute(gateway, k))
    refused(apps, NotFound, lambda: ledger.get(member("owner", OTHER), Document,
                                               documents_id(reference)))
    # the other account's own sale under the same reference: its own documents
    sale(ledger, OTHER, reference=reference)
    mine = ledger.execute(member("owner", OTHER), c.IssueFiscalDocument(invoice_id=reference))
    assert mine.aggregate_id == documents_id(reference, OTHER) != documents_id(reference)
    assert ledger.load(Document, documents_id(reference)).fiscal == "requested"
    assert ledger.load(Document, mine.aggregate_id).account == OTHER


def test_a_batch_with_a_refused_request_writes_nothing(apps):
    ledger, _ = apps
    reference = sale(ledger)
    error = refused(apps, InvalidTransition, lambda: ledger.execute_many([
        (FINANCIAL, c.SendReceipt(invoice_id=reference)),
        (SUPPORT, c.IssueFiscalDocument(invoice_id=reference)),
        (OWNER, c.IssueFiscalDocument(invoice_id=reference)),  # the same nota twice
    ]))
    assert (error.kind, error.state) == ("FiscalDocument", "requested")
    fresh = uuid4()  # a sale, its payment and its nota in one transaction
    ledger.execute_many([
        (CHECKOUT, f.create_invoice(invoice_id=fresh)),
        (CHECKOUT, c.RequestCharge(invoice_id=fresh)),
        (GATEWAY, c.ApproveCard(invoice_id=fresh, authorization_code="A2")),
        (CHECKOUT, c.IssueFiscalDocument(invoice_id=fresh)),
    ])
    assert ledger.load(Document, documents_id(fresh)).fiscal == "requested"


# -- a withdrawal's proof, on the Settlement --------------------------------------------------


def withdrawal(apps: tuple[Ledger, Settlement], *, pay: bool = True) -> tuple[UUID, UUID]:
    """producer-1's share of a sale released, withdrawn by its financial collaborator
    and (with `pay`) paid by the gateway: (balance id, withdrawal id)."""
    ledger, settlement = apps
    sale(ledger)
    settlement.catch_up()
    ledger.clock.advance(timedelta(days=16))  # type: ignore[attr-defined]
    wallet = Balance.create_id(PRODUCER, "BRL")
    scheduler = Actor.platform("scheduler", id=SCHEDULER.id, account=PRODUCER)
    settlement.execute(scheduler, c.ReleaseFunds(balance_id=wallet))
    settlement.execute(member("owner", PRODUCER), c.ChangeBankAccount(currency="BRL",
                                                                      bank_account=BANK))
    withdrawal_id = uuid4()
    settlement.execute(member("financial", PRODUCER), c.RequestWithdrawal(
        balance_id=wallet, withdrawal_id=withdrawal_id, amount=1_000))
    if pay:
        settlement.execute(payer(), c.PayWithdrawal(
            balance_id=wallet, withdrawal_id=withdrawal_id, reference="TED-1"))
    return wallet, withdrawal_id


def payer(account: str = PRODUCER) -> Actor:
    return Actor.platform("gateway", id="gateway", account=account)


def test_the_party_asks_for_a_paid_withdrawals_proof_and_the_gateway_sends_it(apps):
    _, settlement = apps
    wallet, withdrawal_id = withdrawal(apps)
    financial = member("financial", PRODUCER)
    reference = uuid4()
    version = settlement.load(Balance, wallet).version
    made = settlement.execute(financial, c.SendWithdrawalProof(
        balance_id=wallet, withdrawal_id=withdrawal_id, proof_id=reference))
    assert made.aggregate_id == WithdrawalProof.scoped_id(PRODUCER, reference)
    settlement.execute(payer(), c.ConfirmWithdrawalProof(proof_id=reference, reference="m-1"))
    proof = settlement.get(financial, WithdrawalProof, made.aggregate_id)
    assert (proof.status, proof.amount, proof.reference) == ("sent", 1_000, "m-1")
    requested, sent = events(settlement, made.aggregate_id)
    assert (requested.account, requested.actor_role, requested.balance_id) == (
        PRODUCER, "financial", wallet)
    assert (sent.actor_kind, sent.actor_role) == ("platform", "gateway")
    twice = refused(apps, InvalidTransition, lambda: settlement.execute(
        payer(), c.FailWithdrawalProof(proof_id=reference, reason="bounced")))
    assert (twice.kind, twice.state) == ("WithdrawalProof", "sent")
    again = settlement.execute(member("owner", PRODUCER), c.SendWithdrawalProof(
        balance_id=wallet, withdrawal_id=withdrawal_id))  # asked again: a proof of its own
    assert again.aggregate_id != made.aggregate_id
    taken = refused(apps, Conflict, lambda: settlement.execute(financial, c.SendWithdrawalProof(
        balance_id=wallet, withdrawal_id=withdrawal_id, proof_id=reference)))
    assert "already exists" in str(taken)
    assert settlement.load(Balance, wallet).version == version  # read, never changed


def test_a_proof_is_of_a_paid_withdrawal_of_the_partys_own_balance(apps):
    ledger, settlement = apps
    wallet, withdrawal_id = withdrawal(apps, pay=False)
    financial = member("financial", PRODUCER)
    ask = c.SendWithdrawalProof(balance_id=wallet, withdrawal_id=withdrawal_id)
    error = refused(apps, InvalidTransition, lambda: settlement.execute(financial, ask))
    assert (error.kind, error.state) == ("Withdrawal", "requested")
    unknown = refused(apps, InvalidTransition, lambda: settlement.execute(
        financial, c.SendWithdrawalProof(balance_id=wallet, withdrawal_id=uuid4())))
    assert (unknown.kind, unknown.state) == ("Withdrawal", "unknown")
    settlement.execute(payer(), c.PayWithdrawal(balance_id=wallet, withdrawal_id=withdrawal_id,
                                                reference="TED-1"))
    forbidden = refused(apps, Forbidden, lambda: settlement.execute(
        member("support", PRODUCER), ask))
    assert "withdraw" in str(forbidden)
    for stranger in (member("owner", ACCOUNT), member("owner", OTHER)):  # the seller's too
        refused(apps, NotFound, lambda s=stranger: settlement.execute(s, ask))
    operator = Actor.platform("operator", id="ops-1", account=PRODUCER)
    moved = refused(apps, Forbidden, lambda: settlement.execute(operator, ask))
    assert "platform's balances only" in str(moved)
    proof_id = uuid4()
    settlement.execute(financial, c.SendWithdrawalProof(
        balance_id=wallet, withdrawal_id=withdrawal_id, proof_id=proof_id))
    outcome = c.ConfirmWithdrawalProof(proof_id=proof_id)
    own = refused(apps, Forbidden, lambda: settlement.execute(member("owner", PRODUCER), outcome))
    assert "platform principals only" in str(own)
    refused(apps, NotFound, lambda: settlement.execute(payer(OTHER), outcome))
    refused(apps, ValidationError, lambda: ledger.execute(financial, ask))  # the Settlement's
    refused(apps, ValidationError, lambda: settlement.execute(
        SUPPORT, c.IssueFiscalDocument(invoice_id=uuid4())))  # the Ledger's
    settlement.execute(payer(), c.FailWithdrawalProof(proof_id=proof_id, reason="bounced"))
    assert settlement.load(WithdrawalProof, WithdrawalProof.scoped_id(
        PRODUCER, proof_id)).status == "failed"
