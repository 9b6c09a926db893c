"""Handlers of an invoice's fiscal documents (the nota fiscal and the receipts).

Every command names the invoice first (`Work.named`: another account's is NotFound),
then its Document, made by the first request (`payledger.domain.document`). The invoice
is read, never changed: a document waits on no payment and no payment on a document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

from payledger.domain import commands as c
from payledger.domain.document import Document
from payledger.domain.errors import NotFound
from payledger.domain.invoice import Invoice
from payledger.handlers.lookup import find
from payledger.handlers.steps import of, on_one
from payledger.settings import Settings
from payledger.wiring import AggregateWiring, Handler
from payledger.work import Work

DocumentStep = Callable[[Document, Any], None]


def documents_of(work: Work, invoice: Invoice) -> Document:
    """The invoice's Document, opened by its first request."""
    found = find(work, Document, Document.create_id(invoice.id))
    return found if found is not None else work.add(Document.open(invoice))


def issue_fiscal_document(work: Work, cmd: c.IssueFiscalDocument, _: Settings) -> UUID:
    invoice = work.named(Invoice, cmd.invoice_id)
    document = documents_of(work, invoice)
    document.request_fiscal_document(invoice)
    return document.id


def send_receipt(work: Work, cmd: c.SendReceipt, _: Settings) -> UUID:
    invoice = work.named(Invoice, cmd.invoice_id)
    document = documents_of(work, invoice)
    document.request_receipt(invoice, cmd.receipt_id or uuid4())
    return document.id


def requested(work: Work, cmd: c.DocumentCommand) -> Document:
    """The Document an outcome is for: NotFound when nothing was ever requested for the
    invoice (or the invoice is another account's)."""
    invoice = work.named(Invoice, cmd.invoice_id)
    document_id = Document.create_id(invoice.id)
    found = find(work, Document, document_id)
    if found is None:
        raise NotFound(Document.KIND, document_id)
    return found


def on_document(step: DocumentStep) -> Handler:
    """A handler recording an outcome on the Document of the command's invoice."""
    return of(step)(on_one(requested)(lambda _, document, cmd, __: step(document, cmd)))


@on_document
def _fiscal_issued(document: Document, cmd: c.ConfirmFiscalDocument) -> None:
    document.record_fiscal_document(cmd.number, cmd.access_key, cmd.url)


@on_document
def _fiscal_failed(document: Document, cmd: c.FailFiscalDocument) -> None:
    document.fail_fiscal_document(cmd.reason)


@on_document
def _receipt_sent(document: Document, cmd: c.ConfirmReceipt) -> None:
    document.record_receipt_sent(cmd.receipt_id, cmd.reference)


@on_document
def _receipt_failed(document: Document, cmd: c.FailReceipt) -> None:
    document.fail_receipt(cmd.receipt_id, cmd.reason)


DOCUMENTS = AggregateWiring(
    kind=Document,
    app="ledger",
    handlers={
        c.IssueFiscalDocument: issue_fiscal_document,
        c.ConfirmFiscalDocument: _fiscal_issued,
        c.FailFiscalDocument: _fiscal_failed,
        c.SendReceipt: send_receipt,
        c.ConfirmReceipt: _receipt_sent,
        c.FailReceipt: _receipt_failed,
    },
)
