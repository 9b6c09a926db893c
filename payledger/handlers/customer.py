"""The buyer (Customer aggregate) side of other commands, and support's email change.

`link_customer` is called by the handlers that open something a buyer keeps (an
installment plan, a subscription) so that a later email change reaches it.

What a linked aggregate offers (duck-typed, so this module imports none of them):
`change_email(new_email: str) -> None`, and an `open` attribute or property that is
false once the plan or subscription has ended. An aggregate without `change_email`, or
not open, or whose `change_email` refuses (InvalidTransition), is left as it is.
"""

from __future__ import annotations

from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.buyer import Buyer
from payledger.domain.customer import CustomerData
from payledger.domain.envelope import LedgerAggregate
from payledger.domain.errors import InvalidTransition, ValidationError
from payledger.handlers.lookup import find
from payledger.settings import Settings
from payledger.wiring import AggregateWiring
from payledger.work import Work


def link_customer(work: Work, customer: CustomerData, kind: str, aggregate_id: UUID) -> None:
    """Record that the buyer `customer` holds `kind` `aggregate_id`.

    The buyer is found by its CPF/CNPJ and registered on its first purchase; a buyer
    without a document (outside Brazil) has no aggregate and nothing is linked. A later
    purchase never rewrites the buyer: a checkout that knows a CPF could otherwise
    change its email or phone. The sale keeps the contact it was given on its own
    invoice, plan or subscription; the buyer's email changes only through
    `ChangeBuyerEmail`, with the document check.
    """
    document = customer.get("document")
    if not document:
        return
    buyer_id = Buyer.create_id(work.account, document)
    buyer = find(work, Buyer, buyer_id)
    if buyer is None:
        buyer = work.add(Buyer(id=buyer_id, customer=customer.copy()))
    buyer.link(kind, aggregate_id)


def change_buyer_email(work: Work, cmd: c.ChangeBuyerEmail, _: Settings) -> UUID:
    buyer = find(work, Buyer, Buyer.create_id(work.account, cmd.document))
    if buyer is None:
        raise ValidationError("document", "matches no buyer of this account")
    buyer.change_email(cmd.document, cmd.current_email, cmd.new_email)
    for aggregate_id in buyer.links:
        held = work.get(LedgerAggregate, UUID(aggregate_id))
        change = getattr(held, "change_email", None)
        if change is None or not getattr(held, "open", True):
            continue
        try:
            change(buyer.email)
        except InvalidTransition:  # closed in its own terms: it keeps the old email
            continue
    return buyer.id


BUYERS = AggregateWiring(
    kind=Buyer,
    app="ledger",
    handlers={c.ChangeBuyerEmail: change_buyer_email},
)
