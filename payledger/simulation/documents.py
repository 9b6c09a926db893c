"""Fiscal documents: notas fiscais and receipts of paid sales, proofs of paid withdrawals,
with the simulator as the host that fulfils them.

Some paid sales get their nota fiscal: the producer's support asks, and the host's
fiscal integration (reporting as the gateway) issues it, or the tax authority refuses
it and support sometimes asks again; now and then support asks for a nota already
issued and is refused. Some buyers ask for their receipt again, at the checkout or
through the financial collaborator, and the host sends it or the mailbox bounces it.
Some parties ask for the proof of a paid withdrawal.

Each sale's and each withdrawal's choices come from dice seeded by its own id, not from
the story's: the rest of the story draws what it drew before documents existed, and
the same seed still tells the same story.
"""

from __future__ import annotations

import random
from datetime import timedelta
from functools import partial
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.balance import Balance, WithdrawalStatus
from payledger.domain.document import Document, access_key_check_digit
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.withdrawal_proof import WithdrawalProof
from payledger.simulation.base import ACCOUNT
from payledger.simulation.onboarding import CNPJ
from payledger.simulation.payouts import Payouts

REJECTIONS = ("Rejeição 225: falha no schema XML", "SEFAZ indisponível",
              "Rejeição 301: uso denegado")
BOUNCES = ("mailbox full", "address does not exist")


def dice_of(key: UUID) -> random.Random:
    """The dice of one sale or withdrawal, seeded by its id."""
    return random.Random(key.int)


def access_key(number: int, code: int, issued: str) -> str:
    """An NF-e access key of the producer's company (state SP, model 55, series 1)
    for nota `number`, issued in month `issued` (YYMM)."""
    first = f"35{issued}{CNPJ}55001{number:09d}1{code:08d}"
    return first + access_key_check_digit(first)


class Documents(Payouts):
    # -- an invoice's nota fiscal and receipts ------------------------------------------

    def after_payment(self, invoice_id: UUID) -> None:
        super().after_payment(invoice_id)
        dice = dice_of(invoice_id)
        if dice.random() < self.mix.fiscal:
            self.later(timedelta(hours=dice.uniform(1, 20)),
                       partial(self.ask_nota, invoice_id, random.Random(dice.getrandbits(64))))
        if dice.random() < self.mix.receipt:
            self.later(timedelta(hours=dice.uniform(0.1, 48)),
                       partial(self.ask_receipt, invoice_id, random.Random(dice.getrandbits(64))))

    def documents_key(self, invoice_id: UUID) -> UUID:
        return Document.create_id(Invoice.scoped_id(ACCOUNT, invoice_id))

    def ask_nota(self, invoice_id: UUID, dice: random.Random) -> None:
        """Support asks (refused if the sale was refunded meanwhile); the host answers."""
        if not self.send(self.support, c.IssueFiscalDocument(invoice_id=invoice_id)):
            return
        self.report.made("Document", self.documents_key(invoice_id))
        self.later(timedelta(minutes=dice.uniform(1, 90)),
                   partial(self.nota_answered, invoice_id, dice))

    def nota_answered(self, invoice_id: UUID, dice: random.Random) -> None:
        if dice.random() < 0.1:
            self.send(self.gateway, c.FailFiscalDocument(
                invoice_id=invoice_id, reason=dice.choice(REJECTIONS)))
            if dice.random() < 0.5:
                self.later(timedelta(hours=dice.uniform(2, 24)),
                           partial(self.ask_nota, invoice_id, dice))
            return
        number = 1 + invoice_id.int % 999_999_999
        key = access_key(number, dice.randrange(10**8), self.clock.now().strftime("%y%m"))
        issued = self.send(self.gateway, c.ConfirmFiscalDocument(
            invoice_id=invoice_id, number=number, access_key=key,
            url=f"https://nfe.example/{key}.pdf"))
        if issued and dice.random() < 0.05:  # refused: a nota is issued once per invoice
            self.later(timedelta(days=dice.uniform(1, 5)), lambda: self.send(
                self.support, c.IssueFiscalDocument(invoice_id=invoice_id)))

    def ask_receipt(self, invoice_id: UUID, dice: random.Random) -> None:
        """The buyer asks at the checkout, or the financial collaborator sends it."""
        actor = self.checkout if dice.random() < 0.6 else self.financial
        receipt_id = UUID(int=dice.getrandbits(128), version=4)
        if not self.send(actor, c.SendReceipt(invoice_id=invoice_id, receipt_id=receipt_id)):
            return
        self.report.made("Document", self.documents_key(invoice_id))
        outcome: c.Command = (
            c.FailReceipt(invoice_id=invoice_id, receipt_id=receipt_id,
                          reason=dice.choice(BOUNCES)) if dice.random() < 0.08
            else c.ConfirmReceipt(invoice_id=invoice_id, receipt_id=receipt_id,
                                  reference=f"msg-{receipt_id.hex[:12]}"))
        self.later(timedelta(minutes=dice.uniform(1, 30)),
                   lambda: self.send(self.gateway, outcome))

    # -- a withdrawal's proof ------------------------------------------------------------

    def bank_answers(self, party: str, balance_id: UUID, withdrawal_id: UUID) -> None:
        super().bank_answers(party, balance_id, withdrawal_id)
        dice = dice_of(withdrawal_id)
        if dice.random() < self.mix.proof and self.paid(balance_id, withdrawal_id):
            self.later(timedelta(hours=dice.uniform(1, 12)),
                       partial(self.ask_proof, party, balance_id, withdrawal_id, dice))

    def paid(self, balance_id: UUID, withdrawal_id: UUID) -> bool:
        assert self.settlement is not None
        withdrawals = self.settlement.load(Balance, balance_id).withdrawals
        found = withdrawals.get(str(withdrawal_id))
        return found is not None and found["status"] == WithdrawalStatus.PAID

    def ask_proof(self, party: str, balance_id: UUID, withdrawal_id: UUID,
                  dice: random.Random) -> None:
        """The party asks as itself; the gateway, which made the transfer, sends it."""
        proof_id = UUID(int=dice.getrandbits(128), version=4)
        if not self.run_settlement(self.principal(party), c.SendWithdrawalProof(
                balance_id=balance_id, withdrawal_id=withdrawal_id, proof_id=proof_id)):
            return
        self.report.made("WithdrawalProof", WithdrawalProof.scoped_id(party, proof_id))
        gateway = Actor.platform("gateway", id="gateway", account=party)
        outcome: c.Command = (
            c.FailWithdrawalProof(proof_id=proof_id, reason=dice.choice(BOUNCES))
            if dice.random() < 0.15
            else c.ConfirmWithdrawalProof(proof_id=proof_id, reference=f"msg-{proof_id.hex[:12]}"))
        self.later(timedelta(minutes=dice.uniform(5, 120)),
                   lambda: self.run_settlement(gateway, outcome))
