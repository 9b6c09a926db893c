"""The buyer (Customer aggregate) through the Ledger on a SQLite file: linked by the
commands that open what a buyer keeps, and support's email change reaching them.

Installment plans and subscriptions are stood in for by `Keepsake`, a test-only
aggregate with what `link_customer` and `ChangeBuyerEmail` rely on: a `change_email`
method and an `open` flag.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import event

from payledger.bootstrap import WIRINGS
from payledger.domain import commands as c
from payledger.domain.buyer import Buyer
from payledger.domain.commands.base import Command
from payledger.domain.customer import Customer
from payledger.domain.envelope import LedgerAggregate, LedgerCreated
from payledger.domain.errors import Forbidden, InvalidTransition, ValidationError
from payledger.domain.installments import InstallmentPlan
from payledger.domain.permissions import Actor, Permission, platform_only
from payledger.domain.time import SimulatedClock
from payledger.handlers.customer import link_customer
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.wiring import AggregateWiring
from payledger.work import Work
from tests import factories as f
from tests.integration.test_commands import refused_without_writing, written
from tests.integration.test_installments import create_plan

DOCUMENT = f.CUSTOMER["document"]


class Keepsake(LedgerAggregate):
    """A plan or subscription as far as the buyer is concerned."""

    KIND = "Keepsake"

    class Opened(LedgerCreated):
        customer: dict[str, Any]
        strict: bool

    @event(Opened)
    def __init__(self, id: UUID, customer: dict[str, Any], strict: bool) -> None:
        self.customer = customer
        self.strict = strict  # refuses changes once closed, without an `open` flag
        self.closed = False

    @property
    def open(self) -> bool:
        return self.strict or not self.closed

    def close(self) -> None:
        self._closed()

    @event("Closed")
    def _closed(self) -> None:
        self.closed = True

    def change_email(self, new_email: str) -> None:
        if self.closed:
            raise self.refuse("change the email", "it is closed")
        self._email_changed(customer={**self.customer, "email": new_email})

    @event("EmailChanged")
    def _email_changed(self, customer: dict[str, Any]) -> None:
        self.customer = customer


class OpenKeepsake(Command):
    allowed = platform_only(Permission.SELL)
    keepsake_id: UUID
    customer: Customer
    strict: bool = False


class CloseKeepsake(Command):
    allowed = platform_only(Permission.SELL)
    keepsake_id: UUID


def _open(work: Work, cmd: OpenKeepsake, _: Settings) -> UUID:
    customer = cmd.customer.to_dict()
    keepsake = work.add(Keepsake(id=cmd.keepsake_id, customer=customer, strict=cmd.strict))
    link_customer(work, customer, Keepsake.KIND, keepsake.id)
    return keepsake.id


def _close(work: Work, cmd: CloseKeepsake, _: Settings) -> UUID:
    keepsake = work.get(Keepsake, cmd.keepsake_id)
    keepsake.close()
    return keepsake.id


KEEPSAKES = AggregateWiring(kind=Keepsake, app="ledger",
                            handlers={OpenKeepsake: _open, CloseKeepsake: _close})


def keepsake_ledger(sqlite_url: str, clock: SimulatedClock) -> Ledger:
    """A Ledger built, as a host would build its own, with one more aggregate wired."""
    return Ledger(Settings(store_url=sqlite_url), clock=clock, wirings=(*WIRINGS, KEEPSAKES))


@pytest.fixture
def sqlite_ledger(sqlite_url: str, clock: SimulatedClock) -> Iterator[Ledger]:
    app = keepsake_ledger(sqlite_url, clock)
    yield app
    app.close()


@pytest.fixture
def support() -> Actor:
    return Actor.preset("support", id="support-1", account="acct-1")


def open_keepsake(ledger: Ledger, actor: Actor, **customer: Any) -> UUID:
    keepsake_id = uuid4()
    ledger.execute(actor, OpenKeepsake(keepsake_id=keepsake_id,
                                       customer={**f.CUSTOMER, **customer}))
    return keepsake_id


def buyer(ledger: Ledger, account: str = "acct-1") -> Buyer:
    return ledger.load(Buyer, Buyer.create_id(account, DOCUMENT))


def change(ledger: Ledger, actor: Actor, current: str = "ana@example.com",
           new: str = "ana.new@example.com", document: str = "111.444.777-35") -> Any:
    return ledger.execute(actor, c.ChangeBuyerEmail(document=document, current_email=current,
                                                    new_email=new))


# -- linking ---------------------------------------------------------------------------------


def test_the_first_purchase_registers_the_buyer_and_later_ones_link(sqlite_ledger, checkout):
    """A later purchase with other details links, and never rewrites the buyer: a
    checkout knowing a CPF cannot change its email or phone."""
    first = open_keepsake(sqlite_ledger, checkout)
    second = open_keepsake(sqlite_ledger, checkout, phone="+5511988880000",
                           email="attacker@example.com")
    found = buyer(sqlite_ledger)
    assert found.links == {str(first): "Keepsake", str(second): "Keepsake"}
    assert (found.email, found.customer["phone"]) == ("ana@example.com", f.CUSTOMER["phone"])
    topics = [s.topic.split(".")[-1] for s in sqlite_ledger.stored_events(found.id)]
    assert topics == ["Registered", "Linked", "Linked"]


def test_a_buyer_without_a_document_is_not_linked(sqlite_ledger, checkout):
    before = written(sqlite_ledger)
    open_keepsake(sqlite_ledger, checkout, country="US", document=None)
    assert written(sqlite_ledger) == before + 1  # the keepsake only


def test_buyers_belong_to_their_account(sqlite_ledger, checkout):
    open_keepsake(sqlite_ledger, checkout)
    elsewhere = Actor.platform("checkout", id="checkout", account="acct-2")
    open_keepsake(sqlite_ledger, elsewhere)
    assert buyer(sqlite_ledger).id != buyer(sqlite_ledger, "acct-2").id
    assert len(buyer(sqlite_ledger, "acct-2").links) == 1


def test_two_first_purchases_racing_both_link(sqlite_url, clock, checkout, monkeypatch):
    """The loser of the race to register the buyer retries and links to the winner's."""
    loser = keepsake_ledger(sqlite_url, clock)
    rival = keepsake_ledger(sqlite_url, clock)
    try:
        theirs, ours = uuid4(), uuid4()
        saves: list[int] = []
        real_save = loser.save

        def save(*objs: Any, **kwargs: Any) -> Any:
            saves.append(len(saves) + 1)
            if len(saves) == 1:
                rival.execute(checkout, OpenKeepsake(keepsake_id=theirs, customer=f.CUSTOMER))
            return real_save(*objs, **kwargs)

        monkeypatch.setattr(loser, "save", save)
        receipt = loser.execute(checkout, OpenKeepsake(keepsake_id=ours, customer=f.CUSTOMER))
        assert saves == [1, 2]
        assert receipt.events == 2  # the keepsake and the link: the buyer existed by then
        assert buyer(loser).links == {str(theirs): "Keepsake", str(ours): "Keepsake"}
    finally:
        rival.close()
        loser.close()


# -- support changes the email ----------------------------------------------------------------


def test_the_change_reaches_every_open_plan_and_subscription(sqlite_ledger, checkout, support):
    kept = [open_keepsake(sqlite_ledger, checkout) for _ in range(2)]
    closed = open_keepsake(sqlite_ledger, checkout)
    strict = uuid4()
    sqlite_ledger.execute(checkout, OpenKeepsake(keepsake_id=strict, customer=f.CUSTOMER,
                                                 strict=True))
    for keepsake_id in (closed, strict):
        sqlite_ledger.execute(checkout, CloseKeepsake(keepsake_id=keepsake_id))

    receipt = change(sqlite_ledger, support, current="ANA@example.com")

    assert receipt.aggregate_id == buyer(sqlite_ledger).id
    assert receipt.events == 3  # the buyer's and the two open keepsakes'
    assert buyer(sqlite_ledger).email == "ana.new@example.com"
    for keepsake_id in kept:
        assert sqlite_ledger.load(Keepsake, keepsake_id).customer["email"] == (
            "ana.new@example.com")
    for keepsake_id in (closed, strict):
        assert sqlite_ledger.load(Keepsake, keepsake_id).customer["email"] == "ana@example.com"
    stored = [s for s in sqlite_ledger.stored_events(kept[0])]
    assert stored[-1].topic.endswith("EmailChanged")


@pytest.mark.parametrize(
    ("details", "field"),
    [
        ({"current": "someone@example.com"}, "current_email"),
        ({"document": "529.982.247-25"}, "document"),  # a valid CPF of nobody here
        ({"new": "ana@example.com"}, "new_email"),
    ],
)
def test_a_change_without_the_matching_details_is_refused(
    sqlite_ledger, checkout, support, details, field
):
    keepsake_id = open_keepsake(sqlite_ledger, checkout)
    error = refused_without_writing(sqlite_ledger, ValidationError,
                                    lambda: change(sqlite_ledger, support, **details))
    assert error.field == field
    assert sqlite_ledger.load(Keepsake, keepsake_id).customer["email"] == "ana@example.com"


def test_a_buyer_of_another_account_is_unknown(sqlite_ledger, checkout):
    open_keepsake(sqlite_ledger, checkout)
    intruder = Actor.preset("support", id="support-2", account="acct-2")
    error = refused_without_writing(sqlite_ledger, ValidationError,
                                    lambda: change(sqlite_ledger, intruder))
    assert error.field == "document"


@pytest.mark.parametrize(
    ("make", "role"),
    [(Actor.preset, "technical"), (Actor.preset, "financial"),
     (Actor.preset, "affiliate_manager"), (Actor.platform, "gateway"),
     (Actor.platform, "operator"), (Actor.platform, "scheduler")],
)
def test_only_support_the_owner_and_the_checkout_change_an_email(
    sqlite_ledger, checkout, owner, make, role
):
    open_keepsake(sqlite_ledger, checkout)
    actor = make(role, id=f"{role}-1", account="acct-1")
    error = refused_without_writing(sqlite_ledger, Forbidden, lambda: change(sqlite_ledger, actor))
    assert "change_buyer_email" in str(error)
    assert change(sqlite_ledger, owner).events == 2


def test_the_checkout_changes_an_email_at_the_buyers_own_request(sqlite_ledger, checkout):
    keepsake_id = open_keepsake(sqlite_ledger, checkout)
    assert change(sqlite_ledger, checkout).events == 2
    assert buyer(sqlite_ledger).email == "ana.new@example.com"
    assert sqlite_ledger.load(Keepsake, keepsake_id).customer["email"] == "ana.new@example.com"


def test_a_keepsake_that_refuses_keeps_the_old_email_and_the_rest_change(
    sqlite_ledger, checkout, support
):
    strict = uuid4()
    sqlite_ledger.execute(checkout, OpenKeepsake(keepsake_id=strict, customer=f.CUSTOMER,
                                                 strict=True))
    sqlite_ledger.execute(checkout, CloseKeepsake(keepsake_id=strict))
    with pytest.raises(InvalidTransition):  # what the keepsake does on its own
        sqlite_ledger.load(Keepsake, strict).change_email("x@example.com")
    assert change(sqlite_ledger, support).events == 1  # the buyer only


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"document": "123"}, "document"), ({"current_email": "nope"}, "current_email"),
     ({"new_email": "a@b"}, "new_email")],
)
def test_bad_input_names_its_field(fields, field):
    base = {"document": DOCUMENT, "current_email": "a@example.com",
            "new_email": "b@example.com"}
    with pytest.raises(ValidationError) as caught:
        c.ChangeBuyerEmail(**{**base, **fields})
    assert caught.value.field == field


def test_a_checkout_cannot_rewrite_a_buyer_and_support_changes_every_open_plan(
    sqlite_ledger, checkout, support
):
    """Issue 15 item 3: a plan sold with a known CPF and another email keeps that email
    on itself; the buyer's stays, support changes it quoting the buyer's own, and every
    open plan follows in the same transaction."""
    first = sqlite_ledger.execute(checkout, create_plan(count=3)).aggregate_id
    second = sqlite_ledger.execute(checkout, create_plan(
        count=3, customer={**f.CUSTOMER, "email": "attacker@example.com"})).aggregate_id
    assert buyer(sqlite_ledger).email == "ana@example.com"
    assert sqlite_ledger.load(InstallmentPlan, second).customer["email"] == "attacker@example.com"
    change(sqlite_ledger, support)  # quotes the buyer's own email
    for plan_id in (first, second):
        assert sqlite_ledger.load(InstallmentPlan, plan_id).customer["email"] == (
            "ana.new@example.com")
