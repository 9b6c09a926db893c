"""The settlement through the Ledger and the Settlement on a real store: balances follow
invoices exactly once, balance commands run on the Settlement with the Ledger's
authorization, envelope, idempotency and retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.errors import Forbidden, InvalidTransition, NotFound, ValidationError
from payledger.domain.permissions import Actor
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement
from tests import factories as f
from tests.conftest import START
from tests.principals import GATEWAY

DAY = timedelta(days=1)
SUPPORT = Actor.preset("support", id="support-1", account="acct-1")
PRODUCER = Actor.preset("owner", id="owner@producer-1.example", account="producer-1")
CNPJ = "11222333000181"  # producer-1's, registered by an operator
AUDITOR = Actor.platform("operator", id="ops-1", account="platform")
PAYOUTS = Actor.platform("gateway", id="gateway", account="producer-1")
PARTIES = ("platform", "affiliate-1", "coproducer-1", "producer-1")
SHARES = {"platform": 1_090, "affiliate-1": 2_673, "coproducer-1": 1_559, "producer-1": 4_678}
BANK: dict[str, Any] = {"bank": "341", "branch": "0001", "number": "12345-6",
                        "holder_name": "Bia Lima Cursos", "holder_document": "11.222.333/0001-81"}


@pytest.fixture
def settlement(sqlite_ledger: Ledger) -> Iterator[Settlement]:
    """producer-1 registered (a company, whose CNPJ anchors its bank accounts), with a
    financial, a support and a technical collaborator."""
    onboarding = Actor.platform("operator", id="ops-1", account="platform")
    sqlite_ledger.execute(onboarding, c.RegisterAccount(
        account="producer-1", owner_user=PRODUCER.id, document=CNPJ, kind="company"))
    for preset in ("financial", "support", "technical"):
        sqlite_ledger.execute(PRODUCER, c.AddCollaborator(
            email=party("producer-1", preset).id, cpf="52998224725", profile=preset))
    app = open_settlement(sqlite_ledger.settings, ledger=sqlite_ledger)
    yield app
    app.close()


def sell(ledger: Ledger, checkout: Actor, method: str = "card", price: int = 10_000,
         **extra: Any) -> UUID:
    invoice_id = ledger.execute(checkout, f.create_invoice(method, price, **extra)).aggregate_id
    if method == "card":
        ledger.execute(checkout, c.RequestCharge(invoice_id=invoice_id))
        ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code="A-1"))
    elif method == "pix":
        ledger.execute(GATEWAY, c.IssuePix(invoice_id=invoice_id, txid=f.TXID))
        ledger.execute(GATEWAY, c.RecordPayment(invoice_id=invoice_id, reference="E2E-1"))
    else:
        due = ledger.clock.now() + 3 * DAY
        ledger.execute(GATEWAY, c.IssueBoleto(invoice_id=invoice_id,
                                               digitable_line=f.BOLETO_LINE, due_at=due))
        ledger.execute(GATEWAY, c.RecordPayment(invoice_id=invoice_id, reference="BOL-1"))
    return invoice_id


def refund(ledger: Ledger, checkout: Actor, owner: Actor, invoice_id: UUID,
           amount: int | None = None) -> UUID:
    """Requested by the producer's support (after the warranty too), approved by its owner."""
    refund_id = ledger.execute(SUPPORT, f.request_refund(invoice_id, amount)).aggregate_id
    ledger.execute(owner, c.ApproveRefund(refund_id=refund_id))
    ledger.execute(GATEWAY, c.SendRefund(refund_id=refund_id, gateway_reference="GW-1"))
    ledger.execute(GATEWAY, c.SucceedRefund(refund_id=refund_id))
    return refund_id


def party(name: str, preset: str = "owner") -> Actor:
    """A principal of a party's own account (a party is an account)."""
    return Actor.preset(preset, id=f"{preset}@{name}.example", account=name)


def platform(role: str, name: str = "producer-1") -> Actor:
    """A platform principal acting for a party's account."""
    return Actor.platform(role, id=role, account=name)


def balance(settlement: Settlement, name: str = "producer-1") -> Balance:
    """Any party's balance, as an operator reads it (the platform's of acct-1's sales)."""
    return settlement.balance(AUDITOR, "BRL", party=name, selling_account="acct-1")


def holding(settlement: Settlement) -> dict[str, int]:
    return {p: balance(settlement, p).holding for p in PARTIES}


def release(settlement: Settlement, name: str = "producer-1",
            at: datetime | None = None) -> None:
    found = balance(settlement, name)
    settlement.execute(platform("scheduler", found.account),
                       c.ReleaseFunds(balance_id=found.id, at=at))


# -- credits and release -----------------------------------------------------------------


def test_a_paid_sale_credits_each_party_its_split_once(ledger, clock, checkout, owner):
    settlement = open_settlement(ledger.settings, ledger=ledger)
    try:
        invoice_id = sell(ledger, checkout)
        assert settlement.catch_up() == 1
        assert settlement.catch_up() == 0
        for party, amount in SHARES.items():
            found = balance(settlement, party)
            assert (found.pending, found.available) == (amount, 0)
            assert found.receivables[str(invoice_id)]["available_on"] == datetime(
                2026, 3, 17, 3, tzinfo=START.tzinfo)  # D+15, local midnight
            assert settlement.broken_links(found.id) == []
        restarted = open_settlement(ledger.settings, ledger=ledger)
        assert restarted.catch_up() == 0
        restarted.close()
    finally:
        settlement.close()


def test_balance_events_carry_the_invoice_events_envelope(sqlite_ledger, settlement, checkout,
                                                          owner):
    invoice_id = sell(sqlite_ledger, checkout)
    paid = sqlite_ledger.stored_events(invoice_id)
    paid_state = sqlite_ledger.mapper.transcoder.decode(list(paid)[-1].state)
    settlement.catch_up()
    found = balance(settlement)
    states = [settlement.mapper.transcoder.decode(s.state)
              for s in settlement.stored_events(found.id)]
    assert [s["actor"] for s in states] == ["settlement", "settlement"]
    assert {(s["actor_kind"], s["actor_role"]) for s in states} == {("platform", "settlement")}
    paid_event = list(sqlite_ledger.events.get(invoice_id))[-1]
    assert {s["causation_id"] for s in states} == {paid_event.id}  # the event itself
    assert {s["correlation_id"] for s in states} == {paid_state["correlation_id"]}
    assert {s["at"] for s in states} == {paid_state["at"]}
    assert {s["account"] for s in states} == {"producer-1"}  # the wallet's party, not acct-1
    assert [(s.get("source_account"), s.get("role")) for s in states] == [
        (None, None), ("acct-1", "producer")]  # Opened, then the credit and where it came from
    fee = balance(settlement, "platform")
    assert (fee.account, fee.selling_account) == ("platform", "acct-1")


@pytest.mark.parametrize(("method", "days"), [("card", 15), ("pix", 8), ("boleto", 2)])
def test_release_terms_by_method(sqlite_ledger, settlement, clock, checkout, owner, method,
                                 days):
    sell(sqlite_ledger, checkout, method)
    settlement.catch_up()
    due = balance(settlement).next_release_at
    assert due is not None
    assert due.date() == (START + days * DAY).date()
    with pytest.raises(InvalidTransition, match="no receivable has matured"):
        release(settlement, at=due - timedelta(seconds=1))
    release(settlement, at=due)
    found = balance(settlement)
    assert (found.pending, found.available) == (0, SHARES["producer-1"])


def test_release_terms_follow_the_settings(tmp_path, clock, checkout, owner):
    settings = Settings(store_url=f"sqlite:///{tmp_path}/events.db", release_terms="hotmart",
                        release_pix_days=3)
    ledger = Ledger(settings, clock=clock)
    settlement = open_settlement(settings, ledger=ledger)
    try:
        sell(ledger, checkout, "card")
        sell(ledger, checkout, "pix")
        settlement.catch_up()
        days = sorted((r["available_on"] - START).days
                      for r in balance(settlement).receivables.values())
        assert days == [2, 29]  # local midnights of D+3 and D+30 (03:00 UTC)
    finally:
        settlement.close()
        ledger.close()


# -- refunds and withdrawals ---------------------------------------------------------------


def test_a_refund_after_a_withdrawal_makes_a_balance_negative_and_blocks_the_next(
    sqlite_ledger, settlement, clock, checkout, owner
):
    financial = party("producer-1", "financial")
    first = sell(sqlite_ledger, checkout)
    settlement.catch_up()
    clock.advance(16 * DAY)
    release(settlement)
    producer = balance(settlement).id
    settlement.execute(PRODUCER, c.ChangeBankAccount(currency="BRL",
                                                  bank_account=BANK))
    assert balance(settlement).withdrawable == 4_678 - 187  # the reserve holds 4% of it
    receipt = settlement.execute(financial, c.RequestWithdrawal(balance_id=producer,
                                                                amount=4_491))
    withdrawal_id = UUID(str(next(iter(balance(settlement).withdrawals))))
    settlement.execute(PAYOUTS, c.PayWithdrawal(balance_id=receipt.aggregate_id,
                                                 withdrawal_id=withdrawal_id, reference="TED"))
    sell(sqlite_ledger, checkout)  # a second sale, still pending
    refund(sqlite_ledger, checkout, owner, first)
    settlement.catch_up()
    found = balance(settlement)
    assert (found.pending, found.available, found.withdrawn) == (4_678, -4_491, 4_491)
    with pytest.raises(InvalidTransition) as caught:
        settlement.execute(financial, c.RequestWithdrawal(balance_id=producer, amount=1))
    assert caught.value.state == "negative"
    assert holding(settlement)["platform"] == 1_090  # the fee of the second sale


def test_a_partial_refund_is_shared_by_the_parties_shares(sqlite_ledger, settlement, checkout,
                                                          owner):
    invoice_id = sell(sqlite_ledger, checkout)
    refund(sqlite_ledger, checkout, owner, invoice_id, 2_500)
    refund(sqlite_ledger, checkout, owner, invoice_id, 2_500)
    settlement.catch_up()
    left = holding(settlement)
    assert sum(left.values()) == 5_000
    assert all(abs(left[p] - SHARES[p] // 2) <= 1 for p in PARTIES)
    refund(sqlite_ledger, checkout, owner, invoice_id)  # the rest
    settlement.catch_up()
    assert holding(settlement) == dict.fromkeys(PARTIES, 0)


def test_the_platform_may_keep_its_fee_on_refunds(tmp_path, clock, checkout, owner):
    settings = Settings(store_url=f"sqlite:///{tmp_path}/events.db", refund_platform_fee=False)
    ledger = Ledger(settings, clock=clock)
    settlement = open_settlement(settings, ledger=ledger)
    try:
        invoice_id = sell(ledger, checkout)
        refund(ledger, checkout, owner, invoice_id)
        settlement.catch_up()
        left = holding(settlement)
        assert left["platform"] == 1_090
        assert sum(left.values()) == 0
        # the selling producer alone gives the kept fee back (docs/decisions/0004)
        assert left == {**dict.fromkeys(PARTIES, 0), "platform": 1_090, "producer-1": -1_090}
        assert balance(settlement).fees_owed == 1_090
    finally:
        settlement.close()
        ledger.close()


def test_withdrawals_paid_failed_canceled(sqlite_ledger, settlement, clock, checkout, owner):
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    clock.advance(16 * DAY)
    release(settlement)
    producer = balance(settlement).id
    settlement.execute(PRODUCER, c.ChangeBankAccount(currency="BRL",
                                                  bank_account=BANK))
    ids = [uuid4() for _ in range(3)]
    for withdrawal_id in ids:
        settlement.execute(PRODUCER, c.RequestWithdrawal(balance_id=producer, amount=1_000,
                                                      withdrawal_id=withdrawal_id))
    settlement.execute(PAYOUTS, c.PayWithdrawal(balance_id=producer, withdrawal_id=ids[0],
                                                 reference="TED-1"))
    settlement.execute(PAYOUTS, c.FailWithdrawal(balance_id=producer, withdrawal_id=ids[1],
                                                  reason="account closed"))
    settlement.execute(PRODUCER, c.CancelWithdrawal(balance_id=producer, withdrawal_id=ids[2],
                                                 reason="changed my mind"))
    found = balance(settlement)
    assert (found.available, found.in_flight, found.withdrawn) == (3_678, 0, 1_000)
    with pytest.raises(InvalidTransition) as caught:
        settlement.execute(PAYOUTS, c.PayWithdrawal(balance_id=producer, withdrawal_id=ids[0],
                                                     reference="TED-1"))
    assert (caught.value.kind, caught.value.state) == ("Withdrawal", "paid")


def test_a_withdrawal_taken_for_transfer_can_no_longer_be_canceled(
    sqlite_ledger, settlement, clock, checkout
):
    """Issue 15, item 9: the host sent the transfer; a collaborator's cancel is refused,
    so the same money is never withdrawn twice; the transfer's outcome ends it."""
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    clock.advance(16 * DAY)
    release(settlement)
    producer = balance(settlement).id
    settlement.execute(PRODUCER, c.ChangeBankAccount(currency="BRL", bank_account=BANK))
    sent, failed = uuid4(), uuid4()
    for withdrawal_id in (sent, failed):
        settlement.execute(PRODUCER, c.RequestWithdrawal(balance_id=producer, amount=2_000,
                                                         withdrawal_id=withdrawal_id))
        settlement.execute(PAYOUTS, c.SendWithdrawal(balance_id=producer,
                                                     withdrawal_id=withdrawal_id,
                                                     reference="TED-9"))
    financial = party("producer-1", "financial")
    before = settlement.recorder.max_notification_id()
    with pytest.raises(InvalidTransition) as caught:
        settlement.execute(financial, c.CancelWithdrawal(balance_id=producer,
                                                         withdrawal_id=sent, reason="oops"))
    assert (caught.value.kind, caught.value.state) == ("Withdrawal", "sent")
    assert settlement.recorder.max_notification_id() == before
    with pytest.raises(Forbidden):
        settlement.execute(financial, c.SendWithdrawal(balance_id=producer,
                                                       withdrawal_id=sent, reference="x"))
    settlement.execute(PAYOUTS, c.PayWithdrawal(balance_id=producer, withdrawal_id=sent,
                                                reference="TED-9"))
    settlement.execute(PAYOUTS, c.FailWithdrawal(balance_id=producer, withdrawal_id=failed,
                                                 reason="account closed"))
    found = balance(settlement)
    assert (found.in_flight, found.withdrawn, found.available) == (0, 2_000, 4_678 - 2_000)


def test_a_repeated_withdrawal_key_withdraws_once(sqlite_ledger, settlement, clock, checkout,
                                                  owner):
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    clock.advance(16 * DAY)
    release(settlement)
    settlement.execute(PRODUCER, c.ChangeBankAccount(currency="BRL",
                                                  bank_account=BANK))
    ask = c.RequestWithdrawal(balance_id=balance(settlement).id, amount=1_000,
                              idempotency_key="w-1")
    first = settlement.execute(PRODUCER, ask)
    again = settlement.execute(PRODUCER, ask)
    assert (again.repeated, again.command_id) == (True, first.command_id)
    assert balance(settlement).in_flight == 1_000


def test_the_reserve_limits_withdrawals(sqlite_ledger, settlement, clock, checkout, owner):
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    clock.advance(16 * DAY)
    release(settlement)
    producer = balance(settlement).id
    settlement.execute(platform("scheduler"), c.RecomputeReserve(balance_id=producer))
    assert balance(settlement).reserved == 187  # 4% of 4_678
    settlement.execute(PRODUCER, c.ChangeBankAccount(currency="BRL",
                                                  bank_account=BANK))
    with pytest.raises(ValidationError, match="4491"):
        settlement.execute(PRODUCER, c.RequestWithdrawal(balance_id=producer, amount=4_492))
    settlement.execute(PRODUCER, c.RequestWithdrawal(balance_id=producer, amount=4_491))


def test_a_bank_account_may_be_set_before_the_first_sale(sqlite_ledger, settlement, checkout,
                                                         owner):
    settlement.execute(PRODUCER, c.ChangeBankAccount(currency="BRL",
                                                  bank_account=BANK))
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    found = balance(settlement)
    assert (found.document, found.pending) == (CNPJ, 4_678)
    foreign = {**BANK, "holder_document": "52998224725"}
    with pytest.raises(InvalidTransition, match="not the account's own"):
        settlement.execute(PRODUCER, c.ChangeBankAccount(currency="BRL",
                                                      bank_account=foreign))


def test_a_bad_bank_account_is_refused_by_field():
    with pytest.raises(ValidationError) as caught:
        c.ChangeBankAccount(party="p", currency="BRL",
                            bank_account={**BANK, "holder_document": "123"})
    assert caught.value.field == "bank_account.holder_document"
    with pytest.raises(ValidationError) as caught:
        c.AdjustBalance(balance_id=uuid4(), amount=0, reason="x")
    assert caught.value.field == "amount"


# -- disputes ----------------------------------------------------------------------------


def test_a_dispute_withholds_then_won_reinstates(sqlite_ledger, settlement, clock, checkout,
                                                 owner):
    invoice_id = sell(sqlite_ledger, checkout)
    sqlite_ledger.execute(GATEWAY, c.OpenDispute(invoice_id=invoice_id, reason="fraud",
                                                  respond_by=clock.now() + 7 * DAY))
    settlement.catch_up()
    assert [balance(settlement, p).disputed for p in PARTIES] == list(SHARES.values())
    sqlite_ledger.execute(GATEWAY, c.WinDispute(invoice_id=invoice_id))
    settlement.catch_up()
    found = balance(settlement)
    assert (found.pending, found.disputed) == (4_678, 0)


def test_a_lost_dispute_is_charged_back(sqlite_ledger, settlement, clock, checkout, owner):
    invoice_id = sell(sqlite_ledger, checkout)
    refund(sqlite_ledger, checkout, owner, invoice_id, 4_000)
    sqlite_ledger.execute(GATEWAY, c.OpenDispute(invoice_id=invoice_id, reason="fraud",
                                                  respond_by=clock.now() + 7 * DAY))
    sqlite_ledger.execute(GATEWAY, c.LoseDispute(invoice_id=invoice_id))
    settlement.catch_up()
    assert holding(settlement) == dict.fromkeys(PARTIES, 0)
    assert all(not balance(settlement, p).holds for p in PARTIES)


# -- the two applications ----------------------------------------------------------------


def test_each_application_refuses_the_others_commands(sqlite_ledger, settlement, owner):
    with pytest.raises(ValidationError, match="not a command of payledger"):
        sqlite_ledger.execute(owner, c.AdjustBalance(balance_id=uuid4(), amount=1, reason="x"))
    with pytest.raises(ValidationError, match="not a command of settlement"):
        settlement.execute(owner, f.create_invoice())


@pytest.mark.parametrize(("actor", "command", "reason"), [
    (party("producer-1", "support"), lambda b: c.RequestWithdrawal(balance_id=b, amount=1),
     "needs permission 'withdraw'"),
    (party("producer-1", "financial"),
     lambda b: c.ChangeBankAccount(currency="BRL", bank_account=BANK),
     "needs permission 'change_bank_account'"),
    (party("producer-1"), lambda b: c.AdjustBalance(balance_id=b, amount=10**7, reason="x"),
     "runs for platform principals only"),  # minting money
    (party("producer-1"), lambda b: c.ReleaseFunds(balance_id=b),
     "runs for platform principals only"),  # releasing before the release date
    (party("producer-1"), lambda b: c.FailWithdrawal(balance_id=b, withdrawal_id=uuid4(),
                                                     reason="x"),
     "runs for platform principals only"),  # undoing a payout
    (party("acct-1"), lambda b: c.RequestWithdrawal(balance_id=b, amount=1),
     None),  # the seller takes its partner's money: NotFound, as no such wallet
    (platform("checkout"), lambda b: c.CancelWithdrawal(balance_id=b, withdrawal_id=uuid4(),
                                                        reason="x"),
     "needs permission 'manage_platform_balances'"),
    (platform("operator"), lambda b: c.RequestWithdrawal(balance_id=b, amount=1),
     "moves the platform's balances only"),
    (platform("scheduler", "acct-1"), lambda b: c.ReleaseFunds(balance_id=b), None),
], ids=lambda value: getattr(value, "role", None) if isinstance(value, Actor) else None)
def test_balance_commands_need_their_principal(sqlite_ledger, settlement, checkout, actor,
                                               command, reason):
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    producer = balance(settlement)
    with pytest.raises(Forbidden if reason else NotFound, match=reason):
        settlement.execute(actor, command(producer.id))
    assert balance(settlement).version == producer.version


def test_an_actor_of_another_account_cannot_see_or_touch_a_balance(sqlite_ledger, settlement,
                                                                   checkout, owner):
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    producer = balance(settlement).id
    stranger = Actor.preset("owner", id="owner-2", account="acct-2")
    with pytest.raises(NotFound):
        settlement.balance(stranger, "BRL")
    with pytest.raises(Forbidden):
        settlement.execute(stranger, c.AdjustBalance(balance_id=producer, amount=1, reason="x"))
    with pytest.raises(NotFound):  # the same answer as for a balance that does not exist
        settlement.get(stranger, Balance, producer)
    with pytest.raises(NotFound):  # the seller reads its own wallet, never its partner's
        settlement.balance(Actor.preset("owner", id="o", account="acct-1"), "BRL",
                           party="producer-1")
    technical = Actor.preset("technical", id="t", account="producer-1")
    with pytest.raises(Forbidden, match="financial_reports"):  # reads need a permission too
        settlement.balance(technical, "BRL")
    assert settlement.balance(PRODUCER, "BRL").id == producer


def test_a_write_that_loses_to_a_withdrawal_is_processed_again(
    sqlite_ledger, settlement, clock, checkout, owner, monkeypatch
):
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    producer = balance(settlement).id
    sell(sqlite_ledger, checkout)
    rival = open_settlement(settlement.settings, ledger=sqlite_ledger)
    original = Settlement.__dict__["policy"]  # the singledispatchmethod itself
    raced: list[bool] = []

    def racing_policy(self, domain_event, processing_event):
        # the balance is loaded and credited ...
        original.__get__(self, Settlement)(domain_event, processing_event)
        if not raced:  # ... and an adjustment is saved before the policy's write
            raced.append(True)
            rival.execute(platform("operator"), c.AdjustBalance(balance_id=producer, amount=7,
                                                                reason="x"))

    monkeypatch.setattr(Settlement, "policy", racing_policy)
    assert settlement.catch_up() == 1
    rival.close()
    found = balance(settlement)
    assert (found.pending, found.available) == (2 * 4_678, 7)
    topics = [s.topic.split(".")[-1] for s in settlement.stored_events(producer)]
    assert topics == ["Opened", "Credited", "Adjusted", "Credited"]  # the credit lost, then won


def test_a_crash_before_the_write_loses_and_doubles_nothing(sqlite_ledger, settlement, clock,
                                                            checkout, owner, monkeypatch):
    for _ in range(5):
        sell(sqlite_ledger, checkout)
    original = settlement.events.put

    def crash(*args, **kwargs):
        raise SystemExit("killed between reading the events and writing their balances")

    monkeypatch.setattr(settlement.events, "put", crash)
    with pytest.raises(SystemExit):
        settlement.catch_up()  # the page of five is one transaction: none of it is written
    monkeypatch.setattr(settlement.events, "put", original)
    assert settlement.position == 0
    restarted = open_settlement(settlement.settings, ledger=sqlite_ledger)
    assert restarted.catch_up() == 5
    assert balance(restarted).pending == 5 * 4_678
    assert restarted.catch_up() == 0
    restarted.close()


def test_balances_lists_every_balance(sqlite_ledger, settlement, checkout):
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    assert sorted(b.party for b in settlement.balances()) == sorted(PARTIES)


def test_balances_live_in_the_settlements_own_file(sqlite_ledger, settlement, checkout,
                                                   tmp_path):
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    assert (tmp_path / "events.settlement.db").exists()
    topics = {n.topic for n in sqlite_ledger.recorder.select_notifications(None, 1000)}
    assert not [t for t in topics if t.startswith("payledger:Balance")]
    assert settlement.recorder.max_notification_id() == 8  # Opened and Credited, 4 parties


def test_a_tick_releases_and_recomputes_the_reserve_when_due(sqlite_ledger, settlement, clock,
                                                             checkout, owner):
    sell(sqlite_ledger, checkout)  # card: D+15
    sell(sqlite_ledger, checkout, "pix")  # D+8
    report = settlement.tick(START + 10 * DAY)  # catches up with the Ledger first
    found = balance(settlement)
    assert (found.pending, found.available) == (4_678, 4_678)
    assert found.reserved == 374  # 4% of both sales' credits, recomputed at D+7
    assert found.next_recompute_at == START + 14 * DAY
    assert report.executed == 3 + 4  # reserve x3 creators; Pix release x4 parties
    assert settlement.tick(START + 10 * DAY).executed == 0
    settlement.tick(START + 15 * DAY)
    found = balance(settlement)
    assert (found.pending, found.available) == (0, 2 * 4_678)
    released = [s for s in settlement.stored_events(found.id) if s.topic.endswith("Released")]
    ats = [settlement.mapper.transcoder.decode(s.state)["at"] for s in released]
    assert [at.date() for at in ats] == [(START + 8 * DAY).date(), (START + 15 * DAY).date()]


def test_an_event_the_balances_refuse_is_set_aside_and_the_page_goes_on(
    sqlite_ledger, settlement, checkout, owner, monkeypatch
):
    invoices = [sell(sqlite_ledger, checkout) for _ in range(3)]
    original = Balance.credit

    def refuse_the_second_sale(self, invoice_id, *args, **kwargs):
        if invoice_id == invoices[1]:
            raise InvalidTransition("Balance", "open", "credit", "refused by the test")
        return original(self, invoice_id, *args, **kwargs)

    monkeypatch.setattr(Balance, "credit", refuse_the_second_sale)
    assert settlement.catch_up() == 3
    assert balance(settlement).pending == 2 * 4_678  # the first and the third, not the second
    (letter,) = settlement.retry_dead_letters()  # refused again: still pending
    assert (letter.aggregate_id, letter.attempts) == (str(invoices[1]), 2)
    monkeypatch.setattr(Balance, "credit", original)
    assert settlement.retry_dead_letters() == []
    assert settlement.catch_up() == 0
    assert balance(settlement).pending == 3 * 4_678


# -- the account's document anchors its bank accounts ----------------------------------------


def test_a_bank_account_needs_a_registered_account(sqlite_ledger, settlement):
    unregistered = party("producer-9")
    before = settlement.recorder.max_notification_id()
    with pytest.raises(InvalidTransition, match="registers 'producer-9'"):
        settlement.execute(unregistered, c.ChangeBankAccount(currency="BRL", bank_account=BANK))
    assert settlement.recorder.max_notification_id() == before


def test_a_document_change_makes_the_account_on_file_unusable_until_replaced(
    sqlite_ledger, settlement, clock, checkout
):
    sell(sqlite_ledger, checkout)
    settlement.catch_up()
    clock.advance(16 * DAY)
    release(settlement)
    producer = balance(settlement).id
    settlement.execute(PRODUCER, c.ChangeBankAccount(currency="BRL", bank_account=BANK))
    settlement.execute(PRODUCER, c.RequestWithdrawal(balance_id=producer, amount=1_000))
    onboarding = Actor.platform("operator", id="ops-1", account="platform")
    sqlite_ledger.execute(onboarding, c.ChangeAccountDocument(account="producer-1",
                                                              document="11222333000262"))
    with pytest.raises(InvalidTransition, match="document changed"):
        settlement.execute(PRODUCER, c.RequestWithdrawal(balance_id=producer, amount=1_000))
    with pytest.raises(InvalidTransition, match="not the account's own"):  # the old one
        settlement.execute(PRODUCER, c.ChangeBankAccount(
            currency="BRL", bank_account={**BANK, "number": "777-7"}))
    settlement.execute(PRODUCER, c.ChangeBankAccount(currency="BRL", bank_account={
        **BANK, "number": "777-7", "holder_document": "11222333000262"}))
    settlement.execute(PRODUCER, c.RequestWithdrawal(balance_id=producer, amount=1_000))
    assert balance(settlement).in_flight == 2_000
