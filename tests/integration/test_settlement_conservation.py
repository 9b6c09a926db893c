"""Conservation of money through the Ledger and the Settlement (a hypothesis test).

For each currency, to the cent: what the creators' balances hold plus what they
withdrew equals what was paid minus refunds, chargebacks and fees, where the fees are
what the platform's balance holds plus what it withdrew. (The platform is a party
with a balance like any other, so this is: every balance, plus every withdrawal,
equals paid minus refunded minus charged back.) Random sales, partial and full refunds,
failed refunds, disputes won and lost, time passing with releases and reserve
recomputes, and withdrawals paid, failed, canceled or left in flight, in any order,
with the settlement catching up at random moments and at the end.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.errors import InvalidTransition, ValidationError
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement
from tests import factories as f
from tests.principals import GATEWAY

START = datetime(2026, 3, 2, 12, tzinfo=UTC)
OWNER = Actor.preset("owner", id="owner-1", account="acct-1")
SUPPORT = Actor.preset("support", id="support-1", account="acct-1")
CHECKOUT = Actor.platform("checkout", id="checkout", account="acct-1")
BANK = {"bank": "341", "branch": "0001", "number": "12345-6", "holder_name": "Bia Lima",
        "holder_document": "11144477735"}
SPLITS = [
    {"producer": "producer-1", "platform_fee_bps": 990, "platform_fee_fixed": 100},
    f.SPLIT,
    {"producer": "producer-2", "platform_fee_bps": 500,
     "coproducers": [{"party": "producer-1", "bps": 3_333}]},
]

PARTIES = ("producer-1", "producer-2", "affiliate-1", "coproducer-1")

sale = st.tuples(st.just("sell"), st.sampled_from(["card", "pix", "boleto"]),
                 st.integers(500, 50_000), st.sampled_from(["BRL", "USD"]),
                 st.integers(0, len(SPLITS) - 1))
refund = st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 100), st.booleans())
dispute = st.tuples(st.just("dispute"), st.integers(0, 50),
                    st.sampled_from(["won", "lost", "open"]))
advance = st.tuples(st.just("advance"), st.integers(1, 20))
withdraw = st.tuples(st.just("withdraw"), st.integers(0, 50), st.integers(1, 100),
                     st.sampled_from(["paid", "failed", "canceled", "in flight"]))
catch_up = st.tuples(st.just("catch_up"))
adjust = st.tuples(st.just("adjust"), st.integers(0, 50), st.integers(-5_000, 5_000).filter(bool))
operations = st.lists(
    st.one_of(sale, sale, sale, refund, dispute, advance, advance, withdraw, withdraw, catch_up,
              adjust),
    min_size=10, max_size=40)


def own_principal(found: Balance) -> Actor:
    """Who moves a wallet: its party's owner; the platform's: an operator."""
    if found.platform:
        return Actor.platform("operator", id="ops-1", account=found.account)
    return Actor.preset("owner", id=f"owner@{found.party}.example", account=found.account)


class World:
    def __init__(self, folder: str, platform_refunds_fee: bool) -> None:
        self.clock = SimulatedClock(START)
        config = Settings(store_url=f"sqlite:///{folder}/events.db",
                          refund_platform_fee=platform_refunds_fee)
        self.ledger = Ledger(config, clock=self.clock)
        self.settlement: Settlement = open_settlement(config, ledger=self.ledger)
        self.sales: list[UUID] = []
        self.done: Counter[str] = Counter()
        onboarding = Actor.platform("operator", id="ops-1", account="platform")
        for party in PARTIES:  # registered: their document anchors their bank accounts
            self.ledger.execute(onboarding, c.RegisterAccount(
                account=party, owner_user=f"owner@{party}.example",
                document=BANK["holder_document"], kind="person"))
        self.adjusted: Counter[str] = Counter()

    def close(self) -> None:
        self.settlement.close()
        self.ledger.close()

    def run(self, op: tuple[Any, ...]) -> None:
        with suppress(InvalidTransition, ValidationError):  # refused: nothing written
            getattr(self, op[0])(*op[1:])
            self.done[op[0]] += 1
        self.clock.advance(timedelta(minutes=1))

    def sell(self, method: str, price: int, currency: str, split: int) -> None:
        invoice_id = self.ledger.execute(CHECKOUT, f.create_invoice(
            method, price, currency=currency, split=SPLITS[split])).aggregate_id
        self.sales.append(invoice_id)
        if method == "card":
            self.ledger.execute(CHECKOUT, c.RequestCharge(invoice_id=invoice_id))
            self.ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id,
                                                        authorization_code="A"))
            return
        if method == "pix":
            self.ledger.execute(GATEWAY, c.IssuePix(invoice_id=invoice_id, txid=f.TXID))
        else:
            self.ledger.execute(GATEWAY, c.IssueBoleto(
                invoice_id=invoice_id, digitable_line=f.BOLETO_LINE,
                due_at=self.clock.now() + timedelta(days=3)))
        self.ledger.execute(GATEWAY, c.RecordPayment(invoice_id=invoice_id, reference="R"))

    def _sale(self, index: int) -> Invoice | None:
        if not self.sales:
            return None
        return self.ledger.load(Invoice, self.sales[index % len(self.sales)])

    def refund(self, index: int, percent: int, succeeds: bool) -> None:
        invoice = self._sale(index)
        if invoice is None or invoice.refundable < 1:
            return
        amount = max(1, invoice.refundable * percent // 100)
        refund_id = self.ledger.execute(SUPPORT, f.request_refund(invoice.id, amount)).aggregate_id
        self.ledger.execute(OWNER, c.ApproveRefund(refund_id=refund_id))
        self.ledger.execute(GATEWAY, c.SendRefund(refund_id=refund_id, gateway_reference="G"))
        outcome = c.SucceedRefund(refund_id=refund_id) if succeeds else c.FailRefund(
            refund_id=refund_id, reason="gateway error")
        self.ledger.execute(GATEWAY, outcome)

    def dispute(self, index: int, outcome: str) -> None:
        invoice = self._sale(index)
        if invoice is None:
            return
        self.ledger.execute(GATEWAY, c.OpenDispute(
            invoice_id=invoice.id, reason="fraud", respond_by=self.clock.now() + timedelta(7)))
        self.catch_up()  # the settlement withholds before the outcome
        if outcome != "open":
            decide = c.WinDispute if outcome == "won" else c.LoseDispute
            self.ledger.execute(GATEWAY, decide(invoice_id=invoice.id))

    def advance(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))
        self.catch_up()
        now = self.clock.now()
        for found in list(self.settlement.balances()):
            scheduler = Actor.platform("scheduler", id="tick", account=found.account)
            if found.next_release_at is not None and found.next_release_at <= now:
                self.settlement.execute(scheduler, c.ReleaseFunds(balance_id=found.id))
            if found.next_recompute_at is not None and found.next_recompute_at <= now:
                self.settlement.execute(scheduler, c.RecomputeReserve(balance_id=found.id))

    def withdraw(self, index: int, percent: int, outcome: str) -> None:
        balances = sorted(self.settlement.balances(), key=lambda b: (b.party, b.currency))
        if not balances:
            return
        found = balances[index % len(balances)]
        party = own_principal(found)  # each party withdraws from its own wallet, as itself
        if found.bank_account is None:
            self.settlement.execute(party, c.ChangeBankAccount(
                currency=found.currency, bank_account=BANK,
                selling_account=found.selling_account))
        amount = max(1, found.withdrawable * percent // 100)
        withdrawal = c.RequestWithdrawal(balance_id=found.id, amount=amount)
        self.settlement.execute(party, withdrawal)
        withdrawal_id = next(k for k, w in self.settlement.load(type(found), found.id)
                             .withdrawals.items() if w["status"] == "requested")
        steps = {"paid": c.PayWithdrawal(balance_id=found.id, withdrawal_id=withdrawal_id,
                                         reference="TED"),
                 "failed": c.FailWithdrawal(balance_id=found.id, withdrawal_id=withdrawal_id,
                                            reason="closed"),
                 "canceled": c.CancelWithdrawal(balance_id=found.id,
                                                withdrawal_id=withdrawal_id, reason="no")}
        if outcome in steps:
            gateway = Actor.platform("gateway", id="gateway", account=found.account)
            self.settlement.execute(gateway if outcome != "canceled" else party, steps[outcome])

    def adjust(self, index: int, amount: int) -> None:
        """An operator's correction (a bonus, or taking one back) of a party's wallet."""
        balances = sorted(self.settlement.balances(), key=lambda b: (b.party, b.currency))
        if not balances:
            return
        found = balances[index % len(balances)]
        if found.available + amount < 0:
            return
        operator = Actor.platform("operator", id="ops-1", account=found.account)
        self.settlement.execute(operator, c.AdjustBalance(balance_id=found.id, amount=amount,
                                                          reason="correction"))
        self.adjusted[found.currency] += amount

    def catch_up(self) -> None:
        self.settlement.catch_up()


@settings(max_examples=25, deadline=None)
@given(ops=operations, platform_refunds_fee=st.booleans())
def test_balances_and_withdrawals_conserve_what_was_paid(ops, platform_refunds_fee):
    with tempfile.TemporaryDirectory() as folder:
        world = World(folder, platform_refunds_fee)
        try:
            for op in ops:
                world.run(op)
            world.catch_up()
            net: Counter[str] = Counter()
            for invoice_id in world.sales:
                invoice = world.ledger.load(Invoice, invoice_id)
                net[invoice.currency] += invoice.paid - invoice.refunded - invoice.charged_back
            net.update(world.adjusted)  # an operator's corrections enter the wallets too
            creators: Counter[str] = Counter()
            fees: Counter[str] = Counter()
            for found in world.settlement.balances():
                kept = fees if found.platform else creators
                kept[found.currency] += found.holding + found.withdrawn
                assert found.account == found.party  # a wallet belongs to its party
                assert found.withdrawn + found.in_flight >= 0
                assert found.pending >= 0
                assert found.disputed >= 0
            for currency in ("BRL", "USD"):
                assert creators[currency] == net[currency] - fees[currency]
        finally:
            world.close()
