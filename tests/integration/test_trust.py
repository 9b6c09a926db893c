"""The trust boundary, tried as a producer's owner would: each attack of the issue is
refused, naming the missing permission or the account, and writes nothing in either
log; the right principal (the platform's, or the party's own) does the same thing.

Then two producers share one coproducer and one affiliate in one store: each partner
has one wallet with the sum of its splits from both, withdraws it as itself, and
neither producer can see or move it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from payledger.domain import commands as c
from payledger.domain.account import Account
from payledger.domain.balance import Balance
from payledger.domain.buyer import Buyer
from payledger.domain.errors import Forbidden, NotFound, PayLedgerError
from payledger.domain.idempotency import IdempotencyRecord
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.product import Product
from payledger.ledger import Ledger
from payledger.settlement import Settlement, open_settlement
from tests import factories as f

PRODUCER = "producer-42"
COPRO, AFFILIATE = "copro-9", "aff-7"
BANK: dict[str, Any] = {"bank": "341", "branch": "0001", "number": "12345-6",
                        "holder_name": "Bia Lima", "holder_document": "111.444.777-35"}


def owner_of(account: str) -> Actor:
    return Actor.preset("owner", id=f"owner@{account}.example", account=account)


def platform(role: str, account: str = PRODUCER) -> Actor:
    return Actor.platform(role, id=f"{role}-svc", account=account)


@pytest.fixture
def apps(ledger: Ledger) -> Iterator[tuple[Ledger, Settlement]]:
    """Both producers and both partners registered by an operator (people, one CPF)."""
    onboarding = Actor.platform("operator", id="ops-1", account="platform")
    for account in (PRODUCER, "producer-77", COPRO, AFFILIATE):
        ledger.execute(onboarding, c.RegisterAccount(
            account=account, owner_user=owner_of(account).id, document=BANK["holder_document"],
            kind="person"))
    settlement = open_settlement(ledger.settings, ledger=ledger)
    yield ledger, settlement
    settlement.close()


def written(apps: tuple[Ledger, Settlement]) -> tuple[int, int]:
    return tuple(app.recorder.max_notification_id() or 0 for app in apps)  # type: ignore[return-value]


def refused(apps: tuple[Ledger, Settlement], error: type[PayLedgerError],
            attempt: Callable[[], object]) -> PayLedgerError:
    """`attempt` raises `error`, and neither log holds anything new."""
    before = written(apps)
    with pytest.raises(error) as caught:
        attempt()
    assert written(apps) == before
    return caught.value


def shop(ledger: Ledger, producer: str) -> None:
    """A product, a coproducer at 20% and an affiliate at 30%, each answering itself."""
    ledger.execute(owner_of(producer), c.RegisterProduct(
        product_id="course", name="The course", affiliate_commission_bps=3_000))
    ledger.execute(owner_of(producer), c.InviteCoproducer(
        product_id="course", coproducer=COPRO, bps=2_000))
    ledger.execute(owner_of(COPRO), c.AcceptCoproduction(
        product_id="course", coproducer=COPRO, producer_account=producer))
    ledger.execute(owner_of(AFFILIATE), c.RequestAffiliation(
        product_id="course", affiliate=AFFILIATE, producer_account=producer))
    ledger.execute(owner_of(producer), c.ApproveAffiliation(
        product_id="course", affiliate=AFFILIATE))


def sell(ledger: Ledger, producer: str, price: int) -> Invoice:
    """A card sale on the product's terms: the checkout sells, the gateway approves."""
    invoice_id = ledger.execute(platform("checkout", producer), c.CreateInvoice(
        items=[{"product_id": "course", "unit_price": price}], customer=f.CUSTOMER,
        currency="BRL", method="card", affiliate=AFFILIATE)).aggregate_id
    ledger.execute(platform("checkout", producer), c.RequestCharge(invoice_id=invoice_id))
    ledger.execute(platform("gateway", producer), c.ApproveCard(
        invoice_id=invoice_id, authorization_code="A1"))
    return ledger.load(Invoice, invoice_id)


def matured(ledger: Ledger, settlement: Settlement, *parties: str) -> None:
    """The release date passed; the scheduler releases each party's wallet."""
    settlement.catch_up()
    ledger.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]
    for party in parties:
        found = settlement.load(Balance, Balance.create_id(party, "BRL"))
        settlement.execute(platform("scheduler", party), c.ReleaseFunds(balance_id=found.id))


def wallet(settlement: Settlement, party: str) -> Balance:
    return settlement.balance(owner_of(party), "BRL")


# -- the five attacks ----------------------------------------------------------------------


def test_an_owner_cannot_mint_money_an_operator_adjusts(apps):
    ledger, settlement = apps
    shop(ledger, PRODUCER)
    sell(ledger, PRODUCER, 10_000)
    settlement.catch_up()
    mine = wallet(settlement, PRODUCER)
    error = refused(apps, Forbidden, lambda: settlement.execute(
        owner_of(PRODUCER), c.AdjustBalance(balance_id=mine.id, amount=10_000_000,
                                            reason="gift to myself")))
    assert "platform principals only" in str(error)
    settlement.execute(platform("operator"), c.AdjustBalance(
        balance_id=mine.id, amount=500, reason="goodwill credit, ticket 12"))
    assert wallet(settlement, PRODUCER).available == 500


def test_an_owner_cannot_fake_a_sale_the_checkout_and_gateway_record_one(apps):
    ledger, _ = apps
    shop(ledger, PRODUCER)
    me = owner_of(PRODUCER)
    own_split = f.create_invoice(split={"producer": PRODUCER, "platform_fee_bps": 0})
    error = refused(apps, Forbidden, lambda: ledger.execute(me, own_split))
    assert "platform principals only" in str(error)
    invoice_id = ledger.execute(platform("checkout"), own_split).aggregate_id
    ledger.execute(platform("checkout"), c.RequestCharge(invoice_id=invoice_id))
    error = refused(apps, Forbidden, lambda: ledger.execute(me, c.ApproveCard(
        invoice_id=invoice_id, authorization_code="FAKE")))
    assert "platform principals only" in str(error)
    ledger.execute(platform("gateway"), c.ApproveCard(invoice_id=invoice_id,
                                                      authorization_code="A1"))
    assert ledger.load(Invoice, invoice_id).status == "paid"


def test_an_owner_cannot_take_the_platforms_or_a_partners_money(apps):
    ledger, settlement = apps
    shop(ledger, PRODUCER)
    sell(ledger, PRODUCER, 10_000)
    matured(ledger, settlement, COPRO)
    me = owner_of(PRODUCER)
    fee = Balance.create_id("platform", "BRL", selling_account=PRODUCER)
    copro = Balance.create_id(COPRO, "BRL")
    error = refused(apps, Forbidden, lambda: settlement.execute(me, c.ChangeBankAccount(
        currency="BRL", bank_account=BANK, selling_account=PRODUCER)))
    assert "operators only" in str(error)
    for target in (fee, copro):  # another party's wallet: as if it did not exist
        refused(apps, NotFound, lambda target=target: settlement.execute(
            me, c.RequestWithdrawal(balance_id=target, amount=1)))
        refused(apps, NotFound, lambda target=target: settlement.get(me, Balance, target))
    refused(apps, NotFound, lambda: settlement.balance(me, "BRL", party=COPRO))
    settlement.execute(owner_of(COPRO), c.ChangeBankAccount(currency="BRL", bank_account=BANK))
    amount = wallet(settlement, COPRO).withdrawable
    settlement.execute(owner_of(COPRO), c.RequestWithdrawal(balance_id=copro, amount=amount))
    assert wallet(settlement, COPRO).in_flight == amount > 0


def test_an_owner_cannot_answer_for_a_partner_the_partner_answers_itself(apps):
    ledger, _ = apps
    ledger.execute(owner_of(PRODUCER), c.RegisterProduct(product_id="course", name="C"))
    ledger.execute(owner_of(PRODUCER), c.InviteCoproducer(
        product_id="course", coproducer=COPRO, bps=2_000))
    accept = c.AcceptCoproduction(product_id="course", coproducer=COPRO,
                                  producer_account=PRODUCER)
    error = refused(apps, Forbidden, lambda: ledger.execute(owner_of(PRODUCER), accept))
    assert "its own account only" in str(error)
    error = refused(apps, Forbidden, lambda: ledger.execute(platform("operator"), accept))
    assert "consent_reference" in str(error)
    ledger.execute(owner_of(COPRO), accept)
    product = ledger.load(Product, Product.create_id(PRODUCER, "course"))
    assert product.coproducers_at(ledger.clock.now()) == [(COPRO, 2_000)]
    assert product.account == PRODUCER  # the answer is stored on the producer's product


def test_an_owner_cannot_undo_a_payout_the_gateway_reports_it(apps):
    ledger, settlement = apps
    shop(ledger, PRODUCER)
    sell(ledger, PRODUCER, 10_000)
    matured(ledger, settlement, PRODUCER)
    me = owner_of(PRODUCER)
    mine = wallet(settlement, PRODUCER)
    settlement.execute(me, c.ChangeBankAccount(currency="BRL", bank_account=BANK))
    settlement.execute(me, c.RequestWithdrawal(balance_id=mine.id, amount=mine.withdrawable))
    withdrawal_id = UUID(next(iter(wallet(settlement, PRODUCER).withdrawals)))
    fail = c.FailWithdrawal(balance_id=mine.id, withdrawal_id=withdrawal_id, reason="oops")
    error = refused(apps, Forbidden, lambda: settlement.execute(me, fail))
    assert "platform principals only" in str(error)
    settlement.execute(platform("gateway"), c.PayWithdrawal(
        balance_id=mine.id, withdrawal_id=withdrawal_id, reference="TED-1"))
    assert wallet(settlement, PRODUCER).withdrawn == mine.withdrawable


# -- one wallet per partner across producers -----------------------------------------------


def test_two_producers_share_partners_whose_wallets_hold_both_and_only_they_move_them(apps):
    ledger, settlement = apps
    other = "producer-77"
    for producer in (PRODUCER, other):
        shop(ledger, producer)
    sales = [sell(ledger, PRODUCER, 10_000), sell(ledger, other, 25_000),
             sell(ledger, PRODUCER, 3_333)]
    expected: dict[str, int] = {}
    for invoice in sales:
        for line in invoice.splits:
            expected[line["party"]] = expected.get(line["party"], 0) + line["amount"]
    matured(ledger, settlement, COPRO, AFFILIATE)
    for partner in (COPRO, AFFILIATE):
        found = wallet(settlement, partner)
        assert found.account == partner
        assert found.available + found.pending == expected[partner] > 0  # to the cent
        credits = [e for e in settlement.events.get(found.id)
                   if isinstance(e, Balance.Credited)]
        assert sorted(e.source_account for e in credits) == sorted([PRODUCER, other, PRODUCER])
        assert {e.invoice_id for e in credits} == {s.id for s in sales}
    fees = {p: settlement.balance(platform("operator", "platform"), "BRL", party="platform",
                                  selling_account=p) for p in (PRODUCER, other)}
    assert fees[PRODUCER].id != fees[other].id  # the platform's: one per selling account
    copro = wallet(settlement, COPRO)
    for producer in (PRODUCER, other):
        refused(apps, NotFound, lambda p=producer: settlement.balance(
            owner_of(p), "BRL", party=COPRO))
        refused(apps, NotFound, lambda p=producer: settlement.execute(
            owner_of(p), c.RequestWithdrawal(balance_id=copro.id, amount=1)))
    settlement.execute(owner_of(COPRO), c.ChangeBankAccount(currency="BRL", bank_account=BANK))
    settlement.execute(owner_of(COPRO), c.RequestWithdrawal(balance_id=copro.id,
                                                            amount=copro.withdrawable))
    after = wallet(settlement, COPRO)
    assert (after.in_flight, after.withdrawable) == (copro.withdrawable, 0)


def test_an_affiliate_leaves_as_itself_and_the_producers_side_cannot_leave_for_it(apps):
    ledger, _ = apps
    shop(ledger, PRODUCER)
    leave = c.LeaveAffiliation(product_id="course", affiliate=AFFILIATE,
                               producer_account=PRODUCER, reason="new niche")
    refused(apps, Forbidden, lambda: ledger.execute(owner_of(PRODUCER), leave))
    receipt = ledger.execute(owner_of(AFFILIATE), leave)
    event = list(ledger.events.get(receipt.aggregate_id))[-1]
    assert type(event).__name__ == "Ended"
    assert (event.actor, event.actor_kind, event.account) == (
        f"owner@{AFFILIATE}.example", "account", PRODUCER)


# -- no account can squat on or probe another's ids ----------------------------------------


def test_no_account_can_take_or_probe_another_accounts_ids(apps):
    """An id a caller fills is its own reference: the stored id is scoped by kind and
    account, so another account's ids, whether payledger derived them (a product, a
    buyer, a key, an account) or another checkout chose them, can be neither taken
    first nor probed by a refusal, and read as ids that do not exist."""
    ledger, _ = apps
    shop(ledger, PRODUCER)
    sale = sell(ledger, PRODUCER, 10_000)
    theirs = {
        "product": Product.create_id(PRODUCER, "course"),
        "buyer": Buyer.create_id(PRODUCER, f.CUSTOMER["document"]),
        "key": IdempotencyRecord.create_id(PRODUCER, "order-1"),
        "account": Account.create_id(PRODUCER),
        "invoice": sale.id,
    }
    other = platform("checkout", "producer-77")
    for name, taken in theirs.items():
        refused(apps, NotFound, lambda taken=taken: ledger.execute(  # probed: not there
            owner_of("producer-77"), c.RequestRefund(invoice_id=taken, justification="x")))
        made = ledger.execute(other, f.create_invoice(invoice_id=taken))  # its own scope
        assert made.aggregate_id != taken, name
        assert made.aggregate_id == Invoice.scoped_id("producer-77", taken)
    assert ledger.load(Invoice, sale.id).total == 10_000  # producer-42's, untouched
    assert ledger.load(Product, theirs["product"]).account == PRODUCER
    # the producer's own checkout names its invoice by the reference it chose
    reference = uuid4()
    mine = ledger.execute(platform("checkout"), f.create_invoice(invoice_id=reference))
    ledger.execute(platform("checkout"), c.RequestCharge(invoice_id=reference))
    assert ledger.load(Invoice, mine.aggregate_id).status == "open"
    assert ledger.load(Invoice, mine.aggregate_id).attempts == 1


def test_an_id_of_another_kind_is_not_found_even_within_one_batch(apps):
    """A refund's id named as an invoice's, in the batch that made the refund, is an
    invoice that does not exist: a typed NotFound, nothing written."""
    ledger, _ = apps
    shop(ledger, PRODUCER)
    sale = sell(ledger, PRODUCER, 10_000)
    refund_id = uuid4()
    error = refused(apps, NotFound, lambda: ledger.execute_many([
        (platform("checkout"), c.RequestRefund(refund_id=refund_id, invoice_id=sale.id,
                                               justification="x")),
        (platform("gateway"), c.ApproveCard(invoice_id=refund_id, authorization_code="A")),
    ]))
    assert (error.kind, error.key) == ("Invoice", refund_id)


def test_every_read_checks_a_permission_like_every_write(apps):
    """A technical collaborator, or a principal with no permission, does not read a
    buyer's CPF, email and phone; support (search purchases) does."""
    ledger, _ = apps
    shop_account = "producer-99"  # not registered: its principals are taken as built
    shop(ledger, shop_account)
    sale = sell(ledger, shop_account, 10_000)  # the invoice carries the buyer's contact
    for actor in (Actor.preset("technical", id="t@x.example", account=shop_account),
                  Actor(id="nobody@x.example", account=shop_account)):
        with pytest.raises(Forbidden, match="search_purchases"):
            ledger.get(actor, Invoice, sale.id)
    support = Actor.preset("support", id="s@x.example", account=shop_account)
    assert ledger.get(support, Invoice, sale.id).customer["document"] == f.CUSTOMER["document"]
