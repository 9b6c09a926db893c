"""Document: the fiscal documents of one paid invoice, its nota fiscal (NF-e) and the
receipts sent to its buyer, as requests the host fulfils.

payledger neither talks to the tax authority nor sends email. As with a charge
(`Invoice.ChargeRequested`, answered by the gateway's `ApproveCard` or `DeclineCard`),
each document is a recorded request that the host reads in the log and fulfils, and
its outcome is a command of a platform principal (the gateway's integrations,
permission `record_payments`): an account principal can ask, never report. The
account's principals ask with "issue sales invoices" (the nota) or "send receipts" (a
receipt); so may the checkout that made the sale (`sell`: a host that issues the nota
and mails the receipt on every payment, or a buyer asking at the checkout).

An aggregate of its own, not events on the Invoice: a document request never contends
with a payment, a refund or a dispute for the invoice's version, the invoice's events
(which the settlement follows) stay the money's alone, and the invoice is only read.

One Document per invoice, created by its first request, its id derived from the
invoice's (`Document.create_id`): the invoice is named first (`Work.named`), so another
account's invoice is NotFound before its documents are looked for, and two first
requests racing for one invoice collide on the store's uniqueness (the retry finds the
winner's Document and is judged by its state). An outcome for an invoice with no
Document (nothing was ever requested for it) is NotFound.

- **Nota fiscal**: for a paid or partially refunded invoice, of what the buyer kept
  paying (`amount`: paid less refunded by then); a refunded or charged-back invoice
  has nothing left to invoice, an unpaid one nothing yet. Issued once per invoice: a
  request is refused while one is requested or issued; after a failure it may be
  requested again (`attempt` counts them). Cancelling an issued nota (a refund after
  it) is the host's fiscal provider's, not modelled here.
- **Receipts**: for a paid, partially refunded or refunded invoice (a refunded buyer
  may still need proof of what was paid). Each request is a receipt of its own
  (`receipt_id`: the caller's, or a new one), so a buyer who lost the email gets another;
  each is sent or failed once.

The buyer's address is not copied here: the host sends to the invoice's contact (or the
buyer's current email, `ChangeBuyerEmail`), so personal data stays in the one customer
shape (docs/events.md).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypedDict
from uuid import UUID, uuid5

from eventsourcing.domain import event

from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.errors import InvalidTransition
from payledger.domain.invoice import SETTLED, Invoice, InvoiceStatus

NAMESPACE = UUID("c4a1e7d2-93b5-4f08-8e6a-2d7f5b1c9e34")
FISCAL_STATES = SETTLED
"""Invoice states a nota fiscal may be requested in."""
RECEIPT_STATES = (*SETTLED, InvoiceStatus.REFUNDED)
"""Invoice states a receipt may be requested in."""
ACCESS_KEY_DIGITS = 44
_NUMBER = slice(25, 34)  # nNF, after cUF, AAMM, CNPJ, model and series


class FiscalStatus(StrEnum):
    REQUESTED = "requested"
    ISSUED = "issued"
    FAILED = "failed"


class ReceiptStatus(StrEnum):
    REQUESTED = "requested"
    SENT = "sent"
    FAILED = "failed"


class FiscalDocument(TypedDict):
    """An issued nota fiscal as the host reported it (`Document.fiscal_document`)."""

    number: int
    access_key: str
    url: str


def access_key_check_digit(first: str) -> str:
    """The NF-e access key's last digit: mod 11 of its first 43, weighted 2 to 9 from
    the right (0 when the remainder is 0 or 1)."""
    total = sum(int(digit) * (2 + index % 8) for index, digit in enumerate(reversed(first)))
    remainder = total % 11
    return "0" if remainder < 2 else str(11 - remainder)


def access_key_problem(key: str) -> str | None:
    """Why `key` is not an NF-e access key (44 digits, its check digit last), or None."""
    if len(key) != ACCESS_KEY_DIGITS or not key.isascii() or not key.isdigit():
        return f"must be the {ACCESS_KEY_DIGITS} digits of an NF-e access key"
    if key[-1] != access_key_check_digit(key[:-1]):
        return "its check digit (the last) does not match the other 43"
    return None


def access_key_number(key: str) -> int:
    """The nota's number (nNF), which an access key carries at digits 26 to 34."""
    return int(key[_NUMBER])


class Document(LedgerAggregate):
    TOPIC = "payledger:Document"
    KIND = "Document"

    @staticmethod
    def create_id(invoice_id: UUID) -> UUID:
        """The documents of the invoice stored as `invoice_id` (an account-scoped or
        random id): one Document per invoice."""
        return uuid5(NAMESPACE, f"documents\n{invoice_id}")

    @classmethod
    def open(cls, invoice: Invoice) -> Document:
        return cls(id=cls.create_id(invoice.id), invoice_id=invoice.id)

    class Opened(LedgerCreated):
        TOPIC = "payledger:Document.Opened"
        invoice_id: UUID

    @event(Opened)
    def __init__(self, id: UUID, invoice_id: UUID) -> None:
        self.invoice_id = invoice_id
        self.fiscal: FiscalStatus | None = None
        self.fiscal_attempts = 0
        self.fiscal_document: FiscalDocument | None = None
        self.fiscal_failure: str | None = None
        self.receipts: dict[str, ReceiptStatus] = {}  # by receipt id

    # -- nota fiscal ---------------------------------------------------------------

    def request_fiscal_document(self, invoice: Invoice) -> None:
        command = "request a nota fiscal"
        self._require_invoice(invoice, command, FISCAL_STATES)
        if self.fiscal == FiscalStatus.ISSUED:
            raise self._fiscal_refused(command, "a nota fiscal is issued once per invoice")
        if self.fiscal == FiscalStatus.REQUESTED:
            raise self._fiscal_refused(command, "one is already requested: await its outcome")
        self._fiscal_document_requested(attempt=self.fiscal_attempts + 1,
                                        amount=invoice.paid - invoice.refunded,
                                        currency=invoice.currency)

    class FiscalDocumentRequested(LedgerEvent):
        TOPIC = "payledger:Document.FiscalDocumentRequested"
        attempt: int
        amount: int
        currency: str

    @event(FiscalDocumentRequested)
    def _fiscal_document_requested(self, attempt: int, amount: int, currency: str) -> None:
        self.fiscal = FiscalStatus.REQUESTED
        self.fiscal_attempts = attempt
        self.fiscal_failure = None

    def record_fiscal_document(self, number: int, access_key: str, url: str) -> None:
        self._require_fiscal_requested("record an issued nota fiscal")
        self._fiscal_document_issued(number=number, access_key=access_key, url=url)

    class FiscalDocumentIssued(LedgerEvent):
        TOPIC = "payledger:Document.FiscalDocumentIssued"
        number: int
        access_key: str
        url: str

    @event(FiscalDocumentIssued)
    def _fiscal_document_issued(self, number: int, access_key: str, url: str) -> None:
        self.fiscal = FiscalStatus.ISSUED
        self.fiscal_document = {"number": number, "access_key": access_key, "url": url}

    def fail_fiscal_document(self, reason: str) -> None:
        self._require_fiscal_requested("record a failed nota fiscal")
        self._fiscal_document_failed(attempt=self.fiscal_attempts, reason=reason)

    class FiscalDocumentFailed(LedgerEvent):
        TOPIC = "payledger:Document.FiscalDocumentFailed"
        attempt: int
        reason: str

    @event(FiscalDocumentFailed)
    def _fiscal_document_failed(self, attempt: int, reason: str) -> None:
        self.fiscal = FiscalStatus.FAILED
        self.fiscal_failure = reason

    # -- receipts ------------------------------------------------------------------

    def request_receipt(self, invoice: Invoice, receipt_id: UUID) -> None:
        command = "request a receipt"
        self._require_invoice(invoice, command, RECEIPT_STATES)
        known = self.receipts.get(str(receipt_id))
        if known is not None:
            raise InvalidTransition("Receipt", str(known), command,
                                    f"receipt {receipt_id} was already requested")
        self._receipt_requested(receipt_id=receipt_id)

    class ReceiptRequested(LedgerEvent):
        TOPIC = "payledger:Document.ReceiptRequested"
        receipt_id: UUID

    @event(ReceiptRequested)
    def _receipt_requested(self, receipt_id: UUID) -> None:
        self.receipts[str(receipt_id)] = ReceiptStatus.REQUESTED

    def record_receipt_sent(self, receipt_id: UUID, reference: str | None) -> None:
        self._require_receipt_requested(receipt_id, "record a sent receipt")
        self._receipt_sent(receipt_id=receipt_id, reference=reference)

    class ReceiptSent(LedgerEvent):
        TOPIC = "payledger:Document.ReceiptSent"
        receipt_id: UUID
        reference: str | None

    @event(ReceiptSent)
    def _receipt_sent(self, receipt_id: UUID, reference: str | None) -> None:
        self.receipts[str(receipt_id)] = ReceiptStatus.SENT

    def fail_receipt(self, receipt_id: UUID, reason: str) -> None:
        self._require_receipt_requested(receipt_id, "record a failed receipt")
        self._receipt_failed(receipt_id=receipt_id, reason=reason)

    class ReceiptFailed(LedgerEvent):
        TOPIC = "payledger:Document.ReceiptFailed"
        receipt_id: UUID
        reason: str

    @event(ReceiptFailed)
    def _receipt_failed(self, receipt_id: UUID, reason: str) -> None:
        self.receipts[str(receipt_id)] = ReceiptStatus.FAILED

    # -- guards ----------------------------------------------------------------------

    def _require_invoice(self, invoice: Invoice, command: str,
                         states: tuple[InvoiceStatus, ...]) -> None:
        """The invoice is this Document's, and in one of `states` (refused naming its
        state otherwise)."""
        if invoice.id != self.invoice_id:
            raise InvalidTransition(self.KIND, "open", command,
                                    f"it holds the documents of invoice {self.invoice_id}")
        if invoice.status not in states:
            raise invoice.refuse(command, f"allowed only when {' or '.join(states)}")

    def _fiscal_refused(self, command: str, detail: str) -> InvalidTransition:
        return InvalidTransition("FiscalDocument", str(self.fiscal or "none"), command, detail)

    def _require_fiscal_requested(self, command: str) -> None:
        if self.fiscal != FiscalStatus.REQUESTED:
            detail = "allowed only when requested" if self.fiscal else "none was requested"
            raise self._fiscal_refused(command, detail)

    def _require_receipt_requested(self, receipt_id: UUID, command: str) -> None:
        status = self.receipts.get(str(receipt_id))
        if status is None:
            raise InvalidTransition("Receipt", "unknown", command,
                                    f"no receipt {receipt_id} was requested for this invoice")
        if status != ReceiptStatus.REQUESTED:
            raise InvalidTransition("Receipt", str(status), command, "allowed only when requested")
