"""Balances: bank accounts, the settlement's daily tick, weekly withdrawals.

The settlement follows the Ledger's log on its own store; the story ticks it every
simulated morning (releases, the weekly reserve) and every party withdraws what it
may every week, from its own wallet and as itself: the producer's financial
collaborator, each partner's owner, and a platform operator for the platform's fee.
Withdrawals are paid or fail a day later as the gateway reports, or are canceled by
their party; refunds that arrive after a withdrawal leave some balances negative, and
the next withdrawal of those is refused. The producer's owner tries once to move a
partner's money and is refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.customer import complete_cpf
from payledger.domain.errors import PayLedgerError
from payledger.domain.permissions import PLATFORM_PARTY, Actor
from payledger.settlement import Settlement
from payledger.simulation.base import ACCOUNT, refusal
from payledger.simulation.onboarding import document_of, partner
from payledger.simulation.recurring import Recurring

PARTNERS = ("coproducer-leo", "coproducer-max", "affiliate-0", "affiliate-1", "affiliate-2",
            "affiliate-3")
PAYEES = (ACCOUNT, *PARTNERS, PLATFORM_PARTY)


class Payouts(Recurring):
    def __init__(self, *args: Any, settlement: Settlement | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settlement = settlement

    def schedule(self, start: datetime) -> None:
        super().schedule(start)
        if self.settlement is None:
            return
        self.treasury = Actor.platform("operator", id="ops-treasury", account=PLATFORM_PARTY)
        for day in range(self.report.days):
            morning = start + timedelta(days=day, hours=9)
            self.at(morning, self.settle)
            if day % 7 == 6:
                self.at(morning + timedelta(hours=2), self.withdraw_all)
            if day % 30 == 29:
                self.at(morning + timedelta(hours=3), self.adjust)
        self.at(start + timedelta(days=1), self.open_bank_accounts)

    def settle(self) -> None:
        assert self.settlement is not None
        self.tick(self.settlement.tick, self.clock.now())

    def run_settlement(self, actor: Actor, command: c.Command) -> bool:
        assert self.settlement is not None
        self.counted(actor)
        try:
            self.settlement.execute(actor, command)
        except PayLedgerError as error:
            self.report.refused[refusal(command, error)] += 1
            return False
        return True

    def balance_id(self, party: str) -> Any:
        return Balance.create_id(party, "BRL", selling_account=ACCOUNT)

    def principal(self, party: str) -> Actor:
        """Who moves a party's wallet: the producer's financial collaborator, each
        partner's own owner, a platform operator for the platform's balance."""
        if party == ACCOUNT:
            return self.financial
        if party == PLATFORM_PARTY:
            return self.treasury
        return partner(party)

    def open_bank_accounts(self) -> None:
        self.settle()
        for number, party in enumerate(PAYEES):
            account = c.BankAccount(
                bank="260", branch="0001", number=f"{number + 1000}-{number}",
                holder_name=party.replace("-", " ").title(), holder_document=document_of(party))
            actor = self.owner if party == ACCOUNT else self.principal(party)
            selling_account = ACCOUNT if party == PLATFORM_PARTY else None
            if self.run_settlement(actor, c.ChangeBankAccount(
                    currency="BRL", bank_account=account, selling_account=selling_account)):
                self.report.made("Balance", self.balance_id(party))
        stranger = c.BankAccount(bank="001", branch="1234", number="99999-9",
                                 holder_name="Someone Else",
                                 holder_document=complete_cpf("987654321"))
        self.run_settlement(self.principal("affiliate-0"), c.ChangeBankAccount(
            currency="BRL", bank_account=stranger))  # refused: not the party's document
        self.run_settlement(self.owner, c.RequestWithdrawal(  # refused: not the owner's wallet
            balance_id=self.balance_id("affiliate-0"), amount=100))

    def withdraw_all(self) -> None:
        assert self.settlement is not None
        self.settle()
        for party in PAYEES:
            balance = self.settlement.load(Balance, self.balance_id(party))
            amount = balance.withdrawable if balance.available >= 0 else 1
            if amount < 1:
                continue
            withdrawal_id = self.uuid()
            if self.run_settlement(self.principal(party), c.RequestWithdrawal(
                    balance_id=balance.id, withdrawal_id=withdrawal_id, amount=amount)):
                self.later(timedelta(days=1),
                           partial(self.bank_answers, party, balance.id, withdrawal_id))

    def bank_answers(self, party: str, balance_id: Any, withdrawal_id: Any) -> None:
        ids = {"balance_id": balance_id, "withdrawal_id": withdrawal_id}
        roll = self.rng.random()
        if roll >= 0.93:  # the party changed its mind before the transfer
            self.run_settlement(self.principal(party), c.CancelWithdrawal(
                **ids, reason="asked by the party"))
            return
        gateway = Actor.platform("gateway", id="gateway", account=party)
        reference = f"ted-{withdrawal_id.hex[:10]}"
        self.run_settlement(gateway, c.SendWithdrawal(**ids, reference=reference))
        if 0.80 <= roll < 0.85:  # too late: the transfer is on its way (refused)
            self.run_settlement(self.principal(party), c.CancelWithdrawal(
                **ids, reason="asked by the party"))
        self.run_settlement(gateway, c.PayWithdrawal(**ids, reference=reference)
                            if roll < 0.85 else c.FailWithdrawal(**ids, reason="account closed"))

    def adjust(self) -> None:
        operator = Actor.platform("operator", id="ops-duda", account="affiliate-1")
        self.run_settlement(operator, c.AdjustBalance(
            balance_id=self.balance_id("affiliate-1"), amount=5_000,
            reason="monthly top-affiliate bonus"))
