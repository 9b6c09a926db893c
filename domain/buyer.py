"""The buyer (Customer aggregate): one per account and CPF/CNPJ, with what the buyer keeps.

It holds the buyer's `Customer` value (the one personal-data shape, DESIGN.md §3) and
the ids of the installment plans and subscriptions opened for the buyer, so that an
email change reaches them. `payledger.domain.customer.Customer` is the value; this is
the aggregate (class `Buyer`, kind "Customer").

Support changes a buyer's email only by giving the current email and the matching
document; a buyer without a document (outside Brazil) has no aggregate.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID, uuid5

from eventsourcing.domain import event

from payledger.domain.customer import Customer, CustomerData, normalize_document
from payledger.domain.envelope import LedgerAggregate, LedgerCreated, LedgerEvent
from payledger.domain.errors import ValidationError

NAMESPACE = UUID("5e0f3c8a-91d2-4b6e-a7c4-2f8b6d03e1a5")

class BuyerStatus(StrEnum):
    ACTIVE = "active"


def check_email(value: str, field: str = "email") -> str:
    """An email as the Customer shape stores it (lower case), or ValidationError(field)."""
    # Validated by the Customer shape itself, so the rule stays in one place.
    try:
        return Customer.parse(name="-", email=value, country="US").email
    except ValidationError as error:
        raise ValidationError(field, error.reason) from None


class Buyer(LedgerAggregate):
    TOPIC = "payledger:Buyer"
    KIND = "Customer"

    @staticmethod
    def create_id(account: str, document: str) -> UUID:
        return uuid5(NAMESPACE, f"{account}\n{normalize_document(document)}")

    class Registered(LedgerCreated):
        TOPIC = "payledger:Buyer.Registered"
        customer: CustomerData

    @event(Registered)
    def __init__(self, id: UUID, customer: CustomerData) -> None:
        self.customer = customer
        self.links: dict[str, str] = {}  # aggregate id -> kind
        self.status = BuyerStatus.ACTIVE

    @property
    def document(self) -> str:
        return str(self.customer["document"])

    @property
    def email(self) -> str:
        return str(self.customer["email"])

    def update_details(self, customer: CustomerData) -> None:
        """Other details (name, email, phone) for the same document. No command calls
        it since a later purchase stopped rewriting the buyer (a checkout that knows a
        CPF could change its email); kept with its event, which stored logs hold."""
        if customer.get("document") != self.document:
            raise ValidationError("customer.document", "is another buyer's document")
        if customer != self.customer:
            self._details_updated(customer=customer)

    class DetailsUpdated(LedgerEvent):
        TOPIC = "payledger:Buyer.DetailsUpdated"
        customer: CustomerData

    @event(DetailsUpdated)
    def _details_updated(self, customer: CustomerData) -> None:
        self.customer = customer

    def link(self, kind: str, aggregate_id: UUID) -> None:
        """Record that the buyer holds `kind` `aggregate_id` (once; again is a no-op)."""
        if str(aggregate_id) not in self.links:
            self._linked(kind=kind, aggregate_id=aggregate_id)

    class Linked(LedgerEvent):
        TOPIC = "payledger:Buyer.Linked"
        kind: str
        aggregate_id: UUID

    @event(Linked)
    def _linked(self, kind: str, aggregate_id: UUID) -> None:
        self.links[str(aggregate_id)] = kind

    def change_email(self, document: str, current_email: str, new_email: str) -> None:
        """Support's change: refused unless `document` and `current_email` are the buyer's."""
        if normalize_document(document) != self.document:
            raise ValidationError("document", "does not match the buyer")
        if check_email(current_email, "current_email") != self.email:
            raise ValidationError("current_email", "does not match the buyer's email")
        new = check_email(new_email, "new_email")
        if new == self.email:
            raise ValidationError("new_email", "is already the buyer's email")
        self._email_changed(customer={**self.customer, "email": new})

    class EmailChanged(LedgerEvent):
        TOPIC = "payledger:Buyer.EmailChanged"
        customer: CustomerData

    @event(EmailChanged)
    def _email_changed(self, customer: CustomerData) -> None:
        self.customer = customer
