"""The buyer (Customer aggregate): registered, linked, its email changed (no store)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from payledger.domain.buyer import Buyer, check_email
from payledger.domain.envelope import acting
from payledger.domain.errors import ValidationError
from tests.factories import CUSTOMER
from tests.unit.test_invoice import MINUTE, T0, envelope, frozen

ACCOUNT = "acct-1"


def make(**extra: Any) -> Buyer:
    customer = {**CUSTOMER, **extra}
    with acting(envelope(T0)):
        return Buyer(id=Buyer.create_id(ACCOUNT, customer["document"]), customer=customer)


def run(call: Any, *args: Any) -> None:
    with acting(envelope(T0 + MINUTE)):
        call(*args)


def test_the_id_derives_from_the_account_and_the_document():
    buyer = make()
    assert buyer.id == Buyer.create_id(ACCOUNT, "111.444.777-35")
    assert buyer.id != Buyer.create_id("acct-2", "11144477735")
    assert (buyer.KIND, buyer.document, buyer.email, buyer.links) == (
        "Customer", "11144477735", "ana@example.com", {})
    with pytest.raises(ValidationError) as caught:
        Buyer.create_id(ACCOUNT, "11144477700")
    assert caught.value.field == "document"


def test_a_link_is_recorded_once():
    buyer = make()
    plan, subscription = uuid4(), uuid4()
    run(buyer.link, "InstallmentPlan", plan)
    run(buyer.link, "Subscription", subscription)
    run(buyer.link, "InstallmentPlan", plan)
    assert buyer.links == {str(plan): "InstallmentPlan", str(subscription): "Subscription"}
    assert [type(e).__name__ for e in buyer.pending_events] == ["Registered", "Linked", "Linked"]


def test_new_details_of_the_same_buyer_are_kept():
    buyer = make()
    run(buyer.update_details, dict(buyer.customer))  # the same: nothing happens
    assert len(buyer.pending_events) == 1
    newer = {**CUSTOMER, "email": "ana@work.example.com", "phone": "+5511988880000"}
    run(buyer.update_details, newer)
    assert buyer.customer == newer
    with pytest.raises(ValidationError) as caught:
        run(buyer.update_details, {**CUSTOMER, "document": "52998224725"})
    assert caught.value.field == "customer.document"
    assert len(buyer.pending_events) == 2


def test_support_changes_the_email_with_the_current_email_and_the_document():
    buyer = make()
    run(buyer.change_email, "111.444.777-35", "ANA@example.com", " Ana.Souza@Example.com ")
    assert buyer.email == "ana.souza@example.com"
    assert buyer.customer == {**CUSTOMER, "email": "ana.souza@example.com"}
    event = buyer.pending_events[-1]
    assert (type(event).__name__, event.customer["email"]) == (
        "EmailChanged", "ana.souza@example.com")


@pytest.mark.parametrize(
    ("document", "current", "new", "field"),
    [
        ("52998224725", "ana@example.com", "new@example.com", "document"),
        ("11144477735", "other@example.com", "new@example.com", "current_email"),
        ("11144477735", "not-an-email", "new@example.com", "current_email"),
        ("11144477735", "ana@example.com", "not-an-email", "new_email"),
        ("11144477735", "ana@example.com", "ANA@example.com", "new_email"),
    ],
)
def test_a_change_without_the_matching_details_is_refused(document, current, new, field):
    buyer = make()
    before = frozen(buyer)
    with pytest.raises(ValidationError) as caught:
        run(buyer.change_email, document, current, new)
    assert caught.value.field == field
    assert frozen(buyer) == before


def test_check_email():
    assert check_email(" A@B.example ") == "a@b.example"
    with pytest.raises(ValidationError) as caught:
        check_email("a@b", "new_email")
    assert caught.value.field == "new_email"
