"""Commands on a buyer (the Customer aggregate)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from payledger.domain.buyer import check_email
from payledger.domain.commands.base import Command, _in_field
from payledger.domain.customer import normalize_document
from payledger.domain.permissions import P, either

Document = Annotated[str, AfterValidator(_in_field(normalize_document))]
Email = Annotated[str, AfterValidator(_in_field(check_email))]


class ChangeBuyerEmail(Command):
    """Support's change: `document` and `current_email` must be the buyer's own."""

    allowed = either(P.CHANGE_BUYER_EMAIL)

    document: Document
    current_email: Email
    new_email: Email
