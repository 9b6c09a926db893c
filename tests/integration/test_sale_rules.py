"""Products, coproductions and affiliations through the Ledger on a SQLite file, and the
split rules a sale without an explicit split takes from them at its business instant.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from payledger.domain import commands as c
from payledger.domain.affiliation import Affiliation
from payledger.domain.errors import Forbidden, InvalidTransition, NotFound, ValidationError
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import PLATFORM_ROLES, Actor
from payledger.domain.product import Product
from payledger.ledger import Ledger
from payledger.settings import Settings
from tests import factories as f
from tests.conftest import START
from tests.integration.test_commands import decoded, refused_without_writing, written
from tests.principals import GATEWAY, OPERATOR, partner, platform_for

DAY = timedelta(days=1)
PRODUCT = "course-1"  # the product of `f.create_invoice`


def sale(ledger: Ledger, actor: Actor, **extra: Any) -> Invoice:
    """A card sale of PRODUCT at 10,000 with no explicit split, made by `actor` (the
    checkout) and paid at once (the gateway of the same account approves the card)."""
    invoice_id = ledger.execute(actor, f.create_invoice(split=None, **extra)).aggregate_id
    ledger.execute(actor, c.RequestCharge(invoice_id=invoice_id, at=extra.get("at")))
    gateway = platform_for(c.ApproveCard, account=actor.account)
    ledger.execute(gateway, c.ApproveCard(invoice_id=invoice_id, authorization_code="A",
                                          at=extra.get("at")))
    return ledger.load(Invoice, invoice_id)


def parts(invoice: Invoice) -> dict[str, int]:
    return {p["party"]: p["amount"] for p in invoice.splits}


@pytest.fixture
def product(sqlite_ledger: Ledger, owner: Actor) -> UUID:
    return sqlite_ledger.execute(owner, c.RegisterProduct(
        product_id=PRODUCT, name="The course", affiliate_commission_bps=3_000)).aggregate_id


@pytest.fixture
def manager() -> Actor:
    return Actor.preset("affiliate_manager", id="manager-1", account="acct-1")


def coproduce(ledger: Ledger, owner: Actor, coproducer: str, bps: int, **when: Any) -> None:
    """The owner invites; the coproducer accepts, as a principal of its own account."""
    ledger.execute(owner, c.InviteCoproducer(product_id=PRODUCT, coproducer=coproducer,
                                             bps=bps, **when))
    ledger.execute(partner(coproducer), c.AcceptCoproduction(
        product_id=PRODUCT, coproducer=coproducer, producer_account="acct-1"))


def affiliate(ledger: Ledger, manager: Actor, name: str = "aff-1") -> None:
    """The affiliate asks as itself; the account's manager approves it."""
    ledger.execute(partner(name), c.RequestAffiliation(product_id=PRODUCT, affiliate=name,
                                                       producer_account="acct-1"))
    ledger.execute(manager, c.ApproveAffiliation(product_id=PRODUCT, affiliate=name))


# -- a sale takes the rules in force -------------------------------------------------------


def test_an_unregistered_product_pays_the_account_less_the_platform_fee(sqlite_ledger, checkout):
    invoice = sale(sqlite_ledger, checkout)
    assert invoice.split_rules["producer"] == "acct-1"
    assert (invoice.split_rules["platform_fee_bps"], invoice.split_rules["platform_fee_fixed"],
            invoice.split_rules["coproducers"], invoice.split_rules["affiliate"]) == (
        990, 100, [], None)
    assert parts(invoice) == {"platform": 1_090, "acct-1": 8_910}


def test_the_platform_fee_comes_from_the_settings(sqlite_url, clock, checkout):
    ledger = Ledger(Settings(store_url=sqlite_url, platform_fee_bps=500, platform_fee_fixed=0),
                    clock=clock)
    try:
        assert parts(sale(ledger, checkout)) == {"platform": 500, "acct-1": 9_500}
    finally:
        ledger.close()


def test_a_sale_takes_the_coproducers_and_the_affiliate_in_force(
    sqlite_ledger, owner, checkout, manager, product
):
    coproduce(sqlite_ledger, owner, "co-a", 2_500)
    affiliate(sqlite_ledger, manager)
    invoice = sale(sqlite_ledger, checkout, affiliate="aff-1")
    assert invoice.split_rules["affiliate"] == {"party": "aff-1", "bps": 3_000}
    assert invoice.split_rules["coproducers"] == [{"party": "co-a", "bps": 2_500}]
    assert parts(invoice) == {"platform": 1_090, "aff-1": 2_673, "co-a": 1_559,
                              "acct-1": 4_678}  # the registering account is the producer


def test_the_rules_are_fixed_when_the_sale_is_made(
    sqlite_ledger, owner, checkout, manager, product, clock
):
    coproduce(sqlite_ledger, owner, "co-a", 2_500)
    affiliate(sqlite_ledger, manager)
    invoice_id = sqlite_ledger.execute(checkout, f.create_invoice(
        split=None, affiliate="aff-1")).aggregate_id
    clock.advance(DAY)
    sqlite_ledger.execute(owner, c.EndCoproduction(product_id=PRODUCT, coproducer="co-a",
                                                   reason="over"))
    sqlite_ledger.execute(manager, c.EndAffiliation(product_id=PRODUCT, affiliate="aff-1",
                                                    reason="over"))
    sqlite_ledger.execute(checkout, c.RequestCharge(invoice_id=invoice_id))
    sqlite_ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code="A"))
    assert set(parts(sqlite_ledger.load(Invoice, invoice_id))) == {
        "platform", "aff-1", "co-a", "acct-1"}
    later = sale(sqlite_ledger, checkout)  # made after the ends
    assert parts(later) == {"platform": 1_090, "acct-1": 8_910}


def test_a_backdated_sale_takes_the_rules_of_its_own_instant(
    sqlite_ledger, owner, checkout, product, clock
):
    coproduce(sqlite_ledger, owner, "co-a", 2_500, starts_at=START + DAY)
    clock.advance(3 * DAY)
    assert "co-a" in parts(sale(sqlite_ledger, checkout))  # started by now
    before_start = sale(sqlite_ledger, checkout, at=START + DAY - timedelta(seconds=1))
    assert "co-a" not in parts(before_start)


def test_a_declined_or_pending_coproduction_takes_nothing(sqlite_ledger, owner, checkout, product):
    sqlite_ledger.execute(owner, c.InviteCoproducer(product_id=PRODUCT, coproducer="co-a",
                                                    bps=2_000))
    sqlite_ledger.execute(owner, c.InviteCoproducer(product_id=PRODUCT, coproducer="co-b",
                                                    bps=2_000))
    sqlite_ledger.execute(partner("co-b"), c.DeclineCoproduction(product_id=PRODUCT,
                                                          coproducer="co-b",
        producer_account="acct-1"))
    assert parts(sale(sqlite_ledger, checkout)) == {"platform": 1_090, "acct-1": 8_910}


def test_the_first_items_product_sets_the_rules(sqlite_ledger, owner, checkout, product):
    coproduce(sqlite_ledger, owner, "co-a", 5_000)
    items = [{"product_id": "bump-1", "unit_price": 5_000},
             {"product_id": PRODUCT, "unit_price": 5_000}]
    assert "co-a" not in parts(sale(sqlite_ledger, checkout, items=items))
    assert "co-a" in parts(sale(sqlite_ledger, checkout, items=items[::-1]))


@pytest.mark.parametrize("state", ["never asked", "requested", "refused", "ended"])
def test_a_sale_naming_an_affiliate_not_approved_is_refused(
    sqlite_ledger, checkout, manager, product, state
):
    if state != "never asked":
        sqlite_ledger.execute(partner("aff-1"), c.RequestAffiliation(product_id=PRODUCT,
                                                             affiliate="aff-1",
        producer_account="acct-1"))
    if state == "refused":
        sqlite_ledger.execute(manager, c.RefuseAffiliation(product_id=PRODUCT,
                                                           affiliate="aff-1", reason="no"))
    if state == "ended":
        sqlite_ledger.execute(manager, c.ApproveAffiliation(product_id=PRODUCT,
                                                            affiliate="aff-1"))
        sqlite_ledger.execute(manager, c.EndAffiliation(product_id=PRODUCT, affiliate="aff-1",
                                                        reason="left"))
    error = refused_without_writing(sqlite_ledger, ValidationError, lambda: sqlite_ledger.execute(
        checkout, f.create_invoice(split=None, affiliate="aff-1")))
    assert error.field == "affiliate"
    assert "not an approved affiliate of course-1" in str(error)


def test_an_affiliate_of_another_product_is_refused(sqlite_ledger, owner, checkout, manager,
                                                   product):
    affiliate(sqlite_ledger, manager)
    items = [{"product_id": "course-2", "unit_price": 10_000}]
    error = refused_without_writing(sqlite_ledger, ValidationError, lambda: sqlite_ledger.execute(
        checkout, f.create_invoice(split=None, affiliate="aff-1", items=items)))
    assert error.field == "affiliate"


def test_a_coproducer_who_is_also_the_affiliate_is_refused(
    sqlite_ledger, owner, checkout, manager, product
):
    coproduce(sqlite_ledger, owner, "aff-1", 1_000)
    affiliate(sqlite_ledger, manager)
    error = refused_without_writing(sqlite_ledger, ValidationError, lambda: sqlite_ledger.execute(
        checkout, f.create_invoice(split=None, affiliate="aff-1")))
    assert error.field == "affiliate"


def test_an_explicit_split_is_kept_as_given(sqlite_ledger, owner, checkout, product):
    coproduce(sqlite_ledger, owner, "co-a", 2_500)
    invoice_id = sqlite_ledger.execute(checkout, f.create_invoice()).aggregate_id
    assert sqlite_ledger.load(Invoice, invoice_id).split_rules["producer"] == "producer-1"
    assert sqlite_ledger.load(Invoice, invoice_id).split_rules["coproducers"] == [
        {"party": "coproducer-1", "bps": 2_500}]


# -- products and coproductions through the ledger -------------------------------------------


def test_coproduction_steps_are_stored_and_refused_steps_write_nothing(
    sqlite_ledger, owner, product
):
    coproduce(sqlite_ledger, owner, "co-a", 6_000)
    coproduce(sqlite_ledger, owner, "co-b", 3_000)
    sqlite_ledger.execute(owner, c.InviteCoproducer(product_id=PRODUCT, coproducer="co-c",
                                                    bps=1_000))
    sqlite_ledger.execute(owner, c.EndCoproduction(product_id=PRODUCT, coproducer="co-b",
                                                   reason="left"))
    sqlite_ledger.execute(owner, c.InviteCoproducer(product_id=PRODUCT, coproducer="co-d",
                                                    bps=4_000))
    sqlite_ledger.execute(partner("co-d"), c.AcceptCoproduction(
        product_id=PRODUCT, coproducer="co-d", producer_account="acct-1"))
    error = refused_without_writing(sqlite_ledger, ValidationError, lambda: sqlite_ledger.execute(
        partner("co-c"), c.AcceptCoproduction(product_id=PRODUCT, coproducer="co-c",
                                              producer_account="acct-1")))
    assert error.field == "bps"
    error = refused_without_writing(sqlite_ledger, InvalidTransition, lambda: (
        sqlite_ledger.execute(partner("co-a"), c.DeclineCoproduction(product_id=PRODUCT,
                                                              coproducer="co-a",
        producer_account="acct-1"))))
    assert (error.kind, error.state, error.command) == (
        "Coproduction", "accepted", "decline a coproduction")
    stored = sqlite_ledger.load(Product, product)
    assert [(x["coproducer"], x["status"]) for x in stored.coproductions] == [
        ("co-a", "accepted"), ("co-b", "ended"), ("co-c", "invited"), ("co-d", "accepted")]
    topics = [s.topic.split(".")[-1] for s in sqlite_ledger.stored_events(product)]
    assert topics == ["Registered", "CoproducerInvited", "CoproductionAccepted",
                      "CoproducerInvited", "CoproductionAccepted", "CoproducerInvited",
                      "CoproductionEnded", "CoproducerInvited", "CoproductionAccepted"]


def test_a_product_is_registered_once_per_account(sqlite_ledger, owner, product):
    assert sqlite_ledger.load(Product, product).producer == "acct-1"
    error = refused_without_writing(sqlite_ledger, ValidationError, lambda: sqlite_ledger.execute(
        owner, c.RegisterProduct(product_id=PRODUCT, name="Again")))
    assert error.field == "product_id"
    elsewhere = Actor.preset("owner", id="owner-2", account="acct-2")
    other = sqlite_ledger.execute(elsewhere, c.RegisterProduct(product_id=PRODUCT, name="Mine"))
    assert other.aggregate_id != product
    assert sqlite_ledger.load(Product, other.aggregate_id).producer == "acct-2"


def test_an_unknown_product_is_not_found(sqlite_ledger, owner):
    for actor, command in (
        (owner, c.InviteCoproducer(product_id="nope", coproducer="co-a", bps=100)),
        (partner("aff-1"), c.RequestAffiliation(product_id="nope", affiliate="aff-1",
                                                producer_account="acct-1")),
    ):
        error = refused_without_writing(sqlite_ledger, NotFound,
                                        lambda a=actor, cmd=command: sqlite_ledger.execute(a, cmd))
        assert (error.kind, error.key) == ("Product", "nope")


ACCOUNT_ONLY = "runs for account principals only"
PLATFORM_ONLY = "runs for platform principals only"


def needs(permission: str) -> str:
    return f"needs permission {permission!r}"


@pytest.mark.parametrize(
    ("preset", "command", "refusal"),
    [
        ("support", lambda: c.RegisterProduct(product_id="p", name="n"),
         needs("manage_products")),
        ("checkout", lambda: c.InviteCoproducer(product_id=PRODUCT, coproducer="x", bps=1),
         ACCOUNT_ONLY),
        ("financial", lambda: c.EndCoproduction(product_id=PRODUCT, coproducer="x",
                                                reason="r"), needs("manage_products")),
        ("affiliate_manager", lambda: c.AcceptCoproduction(product_id=PRODUCT, coproducer="x"),
         needs("answer_partnerships")),
        ("owner", lambda: c.AcceptCoproduction(product_id=PRODUCT, coproducer="x",
                                               producer_account="acct-1"),
         "answers for its own account only"),
        ("operator", lambda: c.AcceptCoproduction(product_id=PRODUCT, coproducer="x"),
         "consent_reference"),
        ("checkout", lambda: c.AcceptCoproduction(product_id=PRODUCT, coproducer="x"),
         needs("record_partner_actions")),
        ("support", lambda: c.ApproveAffiliation(product_id=PRODUCT, affiliate="a"),
         needs("approve_affiliates")),
        ("checkout", lambda: c.ApproveAffiliation(product_id=PRODUCT, affiliate="a"),
         ACCOUNT_ONLY),
        ("operator", lambda: c.ApproveAffiliation(product_id=PRODUCT, affiliate="a"),
         ACCOUNT_ONLY),
        ("technical", lambda: c.RequestAffiliation(product_id=PRODUCT, affiliate="a"),
         needs("answer_partnerships")),
        ("gateway", lambda: c.RequestAffiliation(product_id=PRODUCT, affiliate="a"),
         needs("record_partner_actions")),
        ("support", lambda: c.SetAffiliateCommission(product_id=PRODUCT, bps=100),
         needs("manage_products")),
    ],
)
def test_product_commands_need_their_permission(sqlite_ledger, product, preset, command,
                                                refusal):
    """Account profiles are presets; the platform's roles are built with Actor.platform."""
    build = Actor.platform if preset in PLATFORM_ROLES else Actor.preset
    actor = build(preset, id=f"{preset}-1", account="acct-1")
    cmd = command()
    error = refused_without_writing(sqlite_ledger, Forbidden,
                                    lambda: sqlite_ledger.execute(actor, cmd))
    assert refusal in str(error)


def test_an_account_principal_cannot_answer_for_a_partner(sqlite_ledger, owner, product):
    """Accepting a coproduction is the coproducer's answer, given as itself (or recorded
    by an operator with its consent): the owner, who holds every account permission,
    may not give it."""
    for coproducer in ("co-a", "co-b"):
        sqlite_ledger.execute(owner, c.InviteCoproducer(product_id=PRODUCT,
                                                        coproducer=coproducer, bps=2_500))
    accept = c.AcceptCoproduction(product_id=PRODUCT, coproducer="co-a",
                                  producer_account="acct-1")
    error = refused_without_writing(sqlite_ledger, Forbidden,
                                    lambda: sqlite_ledger.execute(owner, accept))
    assert "answers for its own account only" in str(error)
    assert [x["status"] for x in sqlite_ledger.load(Product, product).coproductions] == [
        "invited", "invited"]
    sqlite_ledger.execute(partner("co-a"), accept)
    sqlite_ledger.execute(OPERATOR, c.AcceptCoproduction(
        product_id=PRODUCT, coproducer="co-b", consent_reference="call 2026-07"))
    assert [x["status"] for x in sqlite_ledger.load(Product, product).coproductions] == [
        "accepted", "accepted"]
    answers = [state for _, topic, state in decoded(sqlite_ledger, product)
               if topic.endswith(".CoproductionAccepted")]
    assert [(s["actor"], s["actor_kind"], s["account"], s["consent_reference"])
            for s in answers] == [("owner@co-a", "account", "acct-1", None),
                                  ("ops-1", "platform", "acct-1", "call 2026-07")]


# -- affiliations -------------------------------------------------------------------------------


def test_approval_takes_the_commission_the_producer_set(
    sqlite_ledger, owner, checkout, manager, product
):
    affiliate(sqlite_ledger, manager)
    sqlite_ledger.execute(owner, c.SetAffiliateCommission(product_id=PRODUCT, bps=5_000))
    affiliate(sqlite_ledger, manager, "aff-2")
    first = sqlite_ledger.load(Affiliation, Affiliation.create_id("acct-1", PRODUCT, "aff-1"))
    second = sqlite_ledger.load(Affiliation, Affiliation.create_id("acct-1", PRODUCT, "aff-2"))
    assert (first.commission_bps, second.commission_bps) == (3_000, 5_000)
    assert sale(sqlite_ledger, checkout, affiliate="aff-1").split_rules["affiliate"]["bps"] == 3_000


def test_a_product_without_a_commission_cannot_approve_affiliates(
    sqlite_ledger, owner, manager
):
    sqlite_ledger.execute(owner, c.RegisterProduct(product_id=PRODUCT, name="No affiliates"))
    sqlite_ledger.execute(partner("aff-1"), c.RequestAffiliation(
        product_id=PRODUCT, affiliate="aff-1", producer_account="acct-1"))
    error = refused_without_writing(sqlite_ledger, InvalidTransition, lambda: (
        sqlite_ledger.execute(manager, c.ApproveAffiliation(product_id=PRODUCT,
                                                            affiliate="aff-1"))))
    assert (error.kind, error.state, error.command) == ("Affiliation", "requested", "approve")


def test_an_affiliate_asks_again_after_a_refusal(sqlite_ledger, manager, product):
    request = c.RequestAffiliation(product_id=PRODUCT, affiliate="aff-1",
                                   consent_reference="form 88")  # recorded by an operator
    first = sqlite_ledger.execute(OPERATOR, request)
    error = refused_without_writing(sqlite_ledger, InvalidTransition,
                                    lambda: sqlite_ledger.execute(OPERATOR, request))
    assert error.state == "requested"
    sqlite_ledger.execute(manager, c.RefuseAffiliation(product_id=PRODUCT, affiliate="aff-1",
                                                       reason="no audience"))
    again = sqlite_ledger.execute(OPERATOR, request)
    assert again.aggregate_id == first.aggregate_id
    assert sqlite_ledger.load(Affiliation, first.aggregate_id).status == "requested"


def test_the_producer_cannot_be_its_own_affiliate(sqlite_ledger, product):
    before = written(sqlite_ledger)
    with pytest.raises(ValidationError) as caught:
        sqlite_ledger.execute(partner("acct-1"), c.RequestAffiliation(product_id=PRODUCT,
                                                             affiliate="acct-1",
        producer_account="acct-1"))
    assert caught.value.field == "affiliate"
    assert written(sqlite_ledger) == before


def test_an_unknown_affiliation_is_not_found(sqlite_ledger, manager, product):
    error = refused_without_writing(sqlite_ledger, NotFound, lambda: sqlite_ledger.execute(
        manager, c.ApproveAffiliation(product_id=PRODUCT, affiliate="aff-9")))
    assert error.kind == "Affiliation"


def test_bad_input_is_refused_at_construction():
    for build, field in (
        (lambda: c.InviteCoproducer(product_id=PRODUCT, coproducer="x", bps=0), "bps"),
        (lambda: c.InviteCoproducer(product_id=PRODUCT, coproducer="", bps=1), "coproducer"),
        (lambda: c.RegisterProduct(product_id="", name="n"), "product_id"),
        (lambda: c.SetAffiliateCommission(product_id=PRODUCT, bps=10_001), "bps"),
        (lambda: f.create_invoice(affiliate="aff-1"), "affiliate"),  # with an explicit split
    ):
        with pytest.raises(ValidationError) as caught:
            build()
        assert caught.value.field == field
