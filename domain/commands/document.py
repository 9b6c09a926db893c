"""Commands on an invoice's fiscal documents: its nota fiscal and its receipts.

Requests are an account's (permission "issue sales invoices" for the nota, "send
receipts" for a receipt) or the checkout's that made the sale (a host that issues the
nota and mails the receipt on every payment, or a buyer asking at the checkout);
outcomes are the platform's alone, as the gateway's integrations report them
(`payledger.domain.document`). Each names the invoice by the caller's reference for it
or its stored id, as every invoice command does.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, model_validator

from payledger.domain.commands.base import Command, Text, _in_field
from payledger.domain.document import access_key_number, access_key_problem
from payledger.domain.errors import ValidationError
from payledger.domain.permissions import P, either, platform_only
from payledger.domain.text import clean_line


def _digits(value: Any) -> Any:
    """An access key as printed (groups of four) or as typed: its digits alone."""
    return "".join(value.split()) if isinstance(value, str) else value


def _access_key(key: str) -> str:
    problem = access_key_problem(key)
    if problem is not None:
        raise ValidationError("access_key", problem)
    return key


def _https_url(url: str) -> str:
    clean_line(url)
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or " " in url:
        raise ValidationError("url", "must be an https:// address with a host")
    return url


AccessKey = Annotated[str, BeforeValidator(_digits), AfterValidator(_in_field(_access_key))]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
                AfterValidator(_in_field(_https_url))]
NotaNumber = Annotated[int, Field(ge=1, le=999_999_999, strict=True)]


class DocumentCommand(Command):
    invoice_id: UUID


class IssueFiscalDocument(DocumentCommand):
    """Ask the host to issue the invoice's nota fiscal (NF-e): once per invoice, again
    only after a failure."""

    allowed = either(P.ISSUE_SALES_INVOICES, P.SELL)


class ConfirmFiscalDocument(DocumentCommand):
    """The host reports the nota issued: its number, its 44-digit access key (which
    carries that number) and where it can be downloaded."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    number: NotaNumber
    access_key: AccessKey
    url: Url

    @model_validator(mode="after")
    def _number_in_key(self) -> ConfirmFiscalDocument:
        carried = access_key_number(self.access_key)
        if carried != self.number:
            raise ValidationError("number", f"is not the number the access key carries "
                                            f"({carried})")
        return self


class FailFiscalDocument(DocumentCommand):
    """The host reports the nota refused (by the tax authority or its provider); it may
    be requested again."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    reason: Text


class SendReceipt(DocumentCommand):
    """Ask the host to send the invoice's receipt to its buyer; each request is a
    receipt of its own (`receipt_id`: the caller's, or a new one)."""

    allowed = either(P.SEND_RECEIPTS, P.SELL)
    receipt_id: UUID | None = None


class ReceiptCommand(DocumentCommand):
    receipt_id: UUID


class ConfirmReceipt(ReceiptCommand):
    """The host reports the receipt sent (`reference`: its mail provider's id)."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    reference: Text | None = None


class FailReceipt(ReceiptCommand):
    """The host reports the receipt undeliverable."""

    allowed = platform_only(P.RECORD_PAYMENTS)
    reason: Text
