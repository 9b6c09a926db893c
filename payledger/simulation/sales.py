"""One-off sales: checkouts by card, Pix and boleto, refunds and disputes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.customer import Customer, complete_cpf
from payledger.domain.invoice import Invoice
from payledger.domain.refund import Refund
from payledger.simulation.base import (
    ACCOUNT,
    DECLINES,
    DISPUTES,
    FIRST_NAMES,
    LAST_NAMES,
    PRODUCTS,
)
from payledger.simulation.catalog import Catalog


class Sales(Catalog):
    def schedule(self, start: datetime) -> None:
        super().schedule(start)
        for day in range(self.report.days):
            for _ in range(self.mix.checkouts_per_day):
                self.at(start + timedelta(days=day, seconds=self.rng.randrange(86_400)),
                        lambda: self.at_once(self.sell))

    def sell(self) -> None:
        roll = self.rng.random()
        method = "card" if roll < self.mix.card else (
            "pix" if roll < self.mix.card + self.mix.pix else "boleto")
        invoice_id = self.checkout_invoice(method)
        if invoice_id is None:
            return
        if self.chance(self.mix.void):
            self.send(self.checkout, c.VoidInvoice(invoice_id=invoice_id, reason="duplicate order"))
            return
        if self.chance(self.mix.abandon):
            return  # the buyer left before paying: the tick abandons it after the window
        if method == "card":
            self.charge_card(invoice_id, attempt=1)
        else:
            self.issue(invoice_id, method, pay=None)

    def checkout_invoice(self, method: str) -> UUID | None:
        """The sale's invoice, at the catalogue's rules; a refused coupon is dropped."""
        product, price = self.rng.choice(PRODUCTS)
        fields: dict[str, Any] = {
            "items": [{"product_id": product, "unit_price": price}],
            "customer": self.buyer(), "currency": "BRL", "method": method,
            "affiliate": self.affiliate_for(product)}
        coupon = self.coupon_for()
        for code in ([coupon, None] if coupon else [None]):
            invoice_id = self.uuid()  # the checkout's own id: later commands name it by that
            if self.send(self.checkout, c.CreateInvoice(
                    invoice_id=invoice_id, coupon_code=code, **fields)):
                self.report.made("Invoice", Invoice.scoped_id(ACCOUNT, invoice_id))
                return invoice_id
        return None

    def buyer(self) -> Customer:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        number = self.rng.randrange(10**8, 10**9)
        email = f"{first}.{last}{number % 1000}@example.com".lower()
        return Customer.parse(name=f"{first} {last}", email=email, phone=f"+55119{number:08d}",
                              country="BR", document=complete_cpf(f"{number:09d}"))

    def charge_card(self, invoice_id: UUID, attempt: int) -> None:
        reason = "checkout" if attempt == 1 else "retry"
        self.send(self.checkout, c.RequestCharge(invoice_id=invoice_id, reason=reason))
        if self.chance(self.mix.card_decline):
            self.send(self.gateway, c.DeclineCard(
                invoice_id=invoice_id, reason=self.rng.choice(DECLINES)))
            if attempt < 3 and self.chance(0.6):
                self.later(self.minutes(1, 10), lambda: self.at_once(
                    lambda: self.charge_card(invoice_id, attempt + 1)))
            return  # otherwise the tick abandons it
        code = f"{self.rng.randrange(10**6):06d}"
        if self.send(self.gateway, c.ApproveCard(invoice_id=invoice_id, authorization_code=code)):
            self.after_payment(invoice_id)

    def issue(self, invoice_id: UUID, method: str, pay: bool | None) -> None:
        if method == "pix":
            txid = f"{self.rng.getrandbits(128):032x}"
            self.send(self.gateway, c.IssuePix(invoice_id=invoice_id, txid=txid))
            if self.chance(self.mix.pix_paid) if pay is None else pay:
                self.later(self.minutes(1, 30), lambda: self.pix_paid(invoice_id))
            return  # otherwise the tick expires it
        due = self.clock.now() + timedelta(days=3)
        line = "".join(str(self.rng.randrange(10)) for _ in range(47))
        self.send(self.gateway, c.IssueBoleto(
            invoice_id=invoice_id, digitable_line=line, due_at=due))
        paid = self.chance(self.mix.boleto_paid) if pay is None else pay
        if not paid and self.chance(self.mix.uncollectible):
            self.at(due - timedelta(hours=2), lambda: self.send(self.gateway, c.MarkUncollectible(
                invoice_id=invoice_id, reason="buyer's document blocked by the bank")))
        elif paid:
            self.later(timedelta(days=self.rng.uniform(0.2, 2.9)),
                       lambda: self.boleto_paid(invoice_id, line))
        else:
            self.at(due + timedelta(minutes=5), lambda: self.boleto_lapsed(invoice_id, line))

    def pix_paid(self, invoice_id: UUID) -> None:
        e2e = f"E{self.rng.getrandbits(120):030x}"
        if self.send(self.gateway, c.RecordPayment(invoice_id=invoice_id, reference=e2e)):
            self.after_payment(invoice_id)

    def boleto_paid(self, invoice_id: UUID, line: str) -> None:
        if self.send(self.gateway, c.RecordPayment(invoice_id=invoice_id, reference=line)):
            self.after_payment(invoice_id)

    def boleto_lapsed(self, invoice_id: UUID, line: str) -> None:
        """The tick expired it at its due date; a few buyers paid it on the day anyway."""
        if self.chance(self.mix.late_boleto):
            # paid on the due date, confirmed by the bank two days later: within grace
            paid_at = self.clock.now() - timedelta(minutes=10)
            self.later(timedelta(days=2), lambda: self.late_boleto(invoice_id, line, paid_at))
        elif self.chance(0.02):
            self.later(timedelta(days=8), lambda: self.late_boleto(
                invoice_id, line, self.clock.now()))  # refused: past the grace period

    def late_boleto(self, invoice_id: UUID, line: str, paid_at: datetime) -> None:
        command = c.RecordPayment(invoice_id=invoice_id, reference=line, paid_at=paid_at)
        if self.send(self.gateway, command):
            self.after_payment(invoice_id)

    # -- after the sale ---------------------------------------------------------------

    def after_payment(self, invoice_id: UUID) -> None:
        """Refunds and disputes; the tick ends the warranty."""
        if self.chance(self.mix.refund):
            self.later(timedelta(days=self.rng.uniform(0.1, 6.5)),
                       lambda: self.request_refund(invoice_id))
        elif self.chance(self.mix.dispute):
            self.later(timedelta(days=self.rng.uniform(5, 25)), lambda: self.dispute(invoice_id))

    def request_refund(self, invoice_id: UUID) -> None:
        refund_id = self.uuid()
        partial = self.chance(0.2)
        paid = self.ledger.load(Invoice, Invoice.scoped_id(ACCOUNT, invoice_id)).paid
        actor = self.support if self.chance(0.2) else self.checkout  # the buyer's, or support's
        command = c.RequestRefund(
            refund_id=refund_id, invoice_id=invoice_id, amount=paid // 2 if partial else None,
            justification="the content did not meet my expectations")
        if not self.send(actor, command):
            return
        self.report.made("Refund", Refund.scoped_id(ACCOUNT, refund_id))
        roll = self.rng.random()
        if roll < 0.1:
            self.later(self.minutes(30, 600), lambda: self.send(self.checkout, c.WithdrawRefund(
                refund_id=refund_id, reason="buyer changed their mind")))
        elif roll < 0.2:
            self.later(self.minutes(30, 600), lambda: self.send(self.owner, c.RejectRefund(
                refund_id=refund_id, reason="content fully consumed")))
        elif roll < 0.24:  # approved, then taken back before the gateway was sent it
            self.later(self.minutes(30, 600),
                       lambda: self.at_once(lambda: self.take_back_refund(refund_id)))
        else:
            self.later(self.minutes(30, 1440),
                       lambda: self.at_once(lambda: self.carry_out_refund(refund_id)))

    def take_back_refund(self, refund_id: UUID) -> None:
        """The producer approves; support takes it back before the gateway is sent it."""
        if self.send(self.owner, c.ApproveRefund(refund_id=refund_id)):
            self.send(self.support, c.CancelRefund(
                refund_id=refund_id, reason="the buyer chose a replacement instead"))

    def carry_out_refund(self, refund_id: UUID) -> None:
        if not self.send(self.owner, c.ApproveRefund(refund_id=refund_id)):
            return
        reference = f"rf-{refund_id.hex[:12]}"
        self.send(self.gateway, c.SendRefund(refund_id=refund_id, gateway_reference=reference))
        outcome: c.Command = (c.FailRefund(refund_id=refund_id, reason="gateway timeout")
                              if self.chance(0.08) else c.SucceedRefund(refund_id=refund_id))
        self.later(self.minutes(5, 240), lambda: self.send(self.gateway, outcome))

    def dispute(self, invoice_id: UUID) -> None:
        respond_by = self.clock.now() + timedelta(days=7)
        if not self.send(self.gateway, c.OpenDispute(
                invoice_id=invoice_id, reason=self.rng.choice(DISPUTES), respond_by=respond_by)):
            return
        outcome: c.Command = (c.WinDispute(invoice_id=invoice_id) if self.chance(0.4)
                              else c.LoseDispute(invoice_id=invoice_id))
        decided = timedelta(days=self.rng.uniform(3, 10))
        self.later(decided, lambda: self.send(self.gateway, outcome))
