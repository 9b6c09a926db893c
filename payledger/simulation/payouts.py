"""Balances: bank accounts, the settlement's daily tick, weekly withdrawals.

The settlement follows the Ledger's log on its own store; the story ticks it every
simulated morning (releases, the weekly reserve) and the parties withdraw what they
may every week. Withdrawals are paid, fail or are canceled a day later, as a bank
would answer; refunds that arrive after a withdrawal leave some balances negative,
and the next withdrawal of those is refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.customer import complete_cpf
from payledger.domain.errors import PayLedgerError
from payledger.domain.permissions import Actor
from payledger.settlement import Settlement
from payledger.simulation.base import ACCOUNT
from payledger.simulation.recurring import Recurring

PAYEES = ("producer-ana", "coproducer-leo", "coproducer-max", "affiliate-0", "affiliate-1",
          "affiliate-2", "affiliate-3")


class Payouts(Recurring):
    def __init__(self, *args: Any, settlement: Settlement | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settlement = settlement

    def schedule(self, start: datetime) -> None:
        super().schedule(start)
        if self.settlement is None:
            return
        self.financial = Actor.preset("financial", id="finance-caio", account=ACCOUNT)
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
        self.report.commands += 1
        try:
            self.settlement.execute(actor, command)
        except PayLedgerError as error:
            self.report.refused[f"{type(command).__name__}: {type(error).__name__}"] += 1
            return False
        return True

    def balance_id(self, party: str) -> Any:
        return Balance.create_id(ACCOUNT, party, "BRL")

    def open_bank_accounts(self) -> None:
        self.settle()
        for number, party in enumerate(PAYEES):
            document = complete_cpf(f"{number + 100:03d}{self.rng.randrange(10**6):06d}")
            account = c.BankAccount(
                bank="260", branch="0001", number=f"{number + 1000}-{number}",
                holder_name=party.replace("-", " ").title(), holder_document=document)
            if self.run_settlement(self.owner, c.ChangeBankAccount(
                    party=party, currency="BRL", bank_account=account)):
                self.report.made("Balance", self.balance_id(party))
        stranger = c.BankAccount(bank="001", branch="1234", number="99999-9",
                                 holder_name="Someone Else",
                                 holder_document=complete_cpf("987654321"))
        self.run_settlement(self.owner, c.ChangeBankAccount(  # refused: not the party's document
            party="affiliate-0", currency="BRL", bank_account=stranger))

    def withdraw_all(self) -> None:
        assert self.settlement is not None
        self.settle()
        for party in PAYEES:
            balance = self.settlement.load(Balance, self.balance_id(party))
            amount = balance.withdrawable if balance.available >= 0 else 1
            if amount < 1:
                continue
            withdrawal_id = self.uuid()
            if self.run_settlement(self.financial, c.RequestWithdrawal(
                    balance_id=balance.id, withdrawal_id=withdrawal_id, amount=amount)):
                self.later(timedelta(days=1),
                           partial(self.bank_answers, balance.id, withdrawal_id))

    def bank_answers(self, balance_id: Any, withdrawal_id: Any) -> None:
        ids = {"balance_id": balance_id, "withdrawal_id": withdrawal_id}
        roll = self.rng.random()
        command: c.Command = (
            c.PayWithdrawal(**ids, reference=f"ted-{withdrawal_id.hex[:10]}") if roll < 0.85
            else c.FailWithdrawal(**ids, reason="account closed") if roll < 0.93
            else c.CancelWithdrawal(**ids, reason="asked by the producer"))
        self.run_settlement(self.checkout if roll < 0.93 else self.financial, command)

    def adjust(self) -> None:
        self.run_settlement(self.owner, c.AdjustBalance(
            balance_id=self.balance_id("affiliate-1"), amount=5_000,
            reason="monthly top-affiliate bonus"))
