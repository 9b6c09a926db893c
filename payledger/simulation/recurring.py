"""Smart installments and subscriptions, with the simulator as the card gateway.

Installment and renewal charges are requested by ticks, not by the simulator, so the
simulated gateway follows the log: every `Invoice.ChargeRequested` of a plan's or a
subscription's invoice gets an approval or a decline a few minutes later. Overdue
installments are sometimes reprocessed, and canceled subscribers sometimes come back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from payledger.domain import commands as c
from payledger.domain.customer import Customer
from payledger.domain.installments import InstallmentPlan
from payledger.domain.invoice import Invoice
from payledger.domain.subscription import Subscription
from payledger.simulation.base import ACCOUNT, DECLINES, PRODUCTS
from payledger.simulation.sales import Sales

APPROVAL = {"checkout": 0.88, "installment": 0.85, "renewal": 0.85, "reprocess": 0.6,
            "retry": 0.45}
PLANS: dict[str, tuple[int, Literal[1, 3, 6, 12]]] = {  # plan id: (price, interval in months)
    "club-monthly": (4_990, 1), "club-quarterly": (12_990, 3), "club-yearly": (39_900, 12),
}
FOLLOWED = ("payledger:Invoice.ChargeRequested", "payledger:InstallmentPlan.InstallmentOverdue",
            "payledger:Subscription.Canceled", "payledger:Refund.Requested")


class Recurring(Sales):
    def schedule(self, start: datetime) -> None:
        super().schedule(start)
        self._seen = self.ledger.recorder.max_notification_id() or 0
        self.doomed: set[UUID] = set()  # cards that will fail every renewal
        self.failing_at_checkout: set[UUID] = set()
        self.subscribers: dict[UUID, Customer] = {}
        for day in range(self.report.days):
            for _ in range(self.mix.plans_per_day):
                self.at(self.some_time(start, day), self.sell_plan)
            for _ in range(self.mix.subscriptions_per_day):
                self.at(self.some_time(start, day), self.subscribe)
        self.at(start, self.open_club)
        # The last evening, one buyer's card fails at the checkout: still incomplete at the end.
        self.at(self.end - timedelta(hours=3), lambda: self.subscribe(card_fails=True))
        # A monthly subscriber whose card fails every renewal, timed to be unpaid at the end
        # (its failed cycles made it unpaid; the period end that cancels it is after).
        unpaid_from = timedelta(days=31 * self.ledger.settings.dunning_failed_cycles + 20)
        if self.end - unpaid_from > start:
            self.at(self.end - unpaid_from, lambda: self.subscribe(
                doomed=True, plan_id="club-monthly", managed=False))

    def some_time(self, start: datetime, day: int) -> datetime:
        return start + timedelta(days=day, seconds=self.rng.randrange(86_400))

    # -- the gateway follows the log ---------------------------------------------------

    def after_step(self) -> None:
        super().after_step()
        while page := self.ledger.recorder.select_notifications(
                start=self._seen, limit=500, topics=FOLLOWED, inclusive_of_start=False):
            self._seen = page[-1].id
            for notification in page:
                state = self.ledger.mapper.transcoder.decode(notification.state)
                self.react(notification.topic, notification.originator_id, state)

    def react(self, topic: str, aggregate_id: Any, state: dict[str, Any]) -> None:
        aggregate_id = UUID(str(aggregate_id))
        if topic == "payledger:Invoice.ChargeRequested":
            self.answer_charge(aggregate_id, state["reason"])
        elif topic == "payledger:InstallmentPlan.InstallmentOverdue" and self.chance(0.5):
            number = state["number"]
            self.later(timedelta(days=self.rng.uniform(1, 3)), lambda: self.send(
                self.checkout, c.ReprocessInstallment(plan_id=aggregate_id, number=number)))
        elif topic == "payledger:Subscription.Canceled" and self.chance(0.3):
            self.later(timedelta(days=self.rng.uniform(3, 15)), lambda: self.send(
                self.support, c.ReactivateSubscription(
                    subscription_id=aggregate_id, charge=self.chance(0.5))))
        elif (topic == "payledger:Refund.Requested"
              and aggregate_id not in self.report.ids.get("Refund", [])):
            self.report.made("Refund", aggregate_id)  # a plan's refund, carried out here
            self.later(self.minutes(30, 600), lambda: self.carry_out_refund(aggregate_id))

    def answer_charge(self, invoice_id: UUID, reason: str) -> None:
        invoice = self.ledger.load(Invoice, invoice_id)
        if invoice.origin == "sale" or invoice.method != "card":
            return  # the checkout's own flow answers those
        doomed = invoice.origin_id in self.doomed and (
            reason != "checkout" or invoice.origin_id in self.failing_at_checkout)
        approve = not doomed and self.chance(APPROVAL.get(reason, 0.8))
        outcome: c.Command = (
            c.ApproveCard(invoice_id=invoice_id, authorization_code=self.code()) if approve
            else c.DeclineCard(invoice_id=invoice_id, reason=self.rng.choice(DECLINES)))
        self.later(self.minutes(1, 20), lambda: self.send(self.gateway, outcome))
        self.report.made("Invoice", invoice_id)

    def code(self) -> str:
        return f"{self.rng.randrange(10**6):06d}"

    # -- smart installments ------------------------------------------------------------

    def sell_plan(self) -> None:
        product, price = self.rng.choice(PRODUCTS[:4])
        count = self.rng.choice((2, 3, 3, 6, 10, 12))
        plan_id = self.uuid()
        if not self.send(self.checkout, c.CreateInstallmentPlan(
                plan_id=plan_id, items=(c.Item(product_id=product, unit_price=price),),
                customer=self.buyer(), currency="BRL", count=count,
                fee=price * count * 199 // 10_000, affiliate=self.affiliate_for(product))):
            return
        self.report.made("InstallmentPlan", InstallmentPlan.scoped_id(ACCOUNT, plan_id))
        roll = self.rng.random()
        if roll < 0.04:
            self.later(timedelta(days=self.rng.uniform(20, 60)), lambda: self.send(
                self.checkout, c.CancelPlan(plan_id=plan_id, reason="buyer asked to stop")))
        elif roll < 0.08:
            self.later(timedelta(days=self.rng.uniform(1, 6)), lambda: self.send(
                self.checkout, c.RefundPlan(plan_id=plan_id,
                                            justification="the course was not for me")))

    # -- subscriptions -------------------------------------------------------------------

    def subscribe(self, card_fails: bool = False, doomed: bool = False,
                  plan_id: str | None = None, managed: bool = True) -> None:
        plan_id = plan_id or self.rng.choices(list(PLANS), weights=(70, 20, 10))[0]
        subscription_id = self.uuid()
        customer = self.buyer()
        if not self.send(self.checkout, c.CreateSubscription(
                subscription_id=subscription_id, customer=customer,
                plan=self.plan(plan_id, trial=not card_fails),  # its first charge fails now
                payment_method=f"card-token-{self.code()}")):
            return
        stored = Subscription.scoped_id(ACCOUNT, subscription_id)  # as its invoices name it
        self.report.made("Subscription", stored)
        self.subscribers[subscription_id] = customer
        if doomed or card_fails or self.chance(self.mix.doomed_card):
            self.doomed.add(stored)
        if card_fails:
            self.failing_at_checkout.add(stored)
        if managed:
            self.manage(subscription_id)

    def open_club(self) -> None:
        """The owner registers the club and its plans: what support may switch to."""
        if self.send(self.owner, c.RegisterProduct(product_id="club", name="The Club")):
            self.report.made("Product", self.product_key("club"))
        for plan_id, (price, months) in PLANS.items():
            plan = c.SubscriptionPlan(plan_id=plan_id, product_id="club", price=price,
                                      currency="BRL", interval_months=months)
            self.send(self.owner, c.RegisterSubscriptionPlan(product_id="club", plan=plan))

    def plan(self, plan_id: str, trial: bool = True) -> c.SubscriptionPlan:
        """`trial`: whether it may start with a 7-day trial (three in ten do)."""
        price, months = PLANS[plan_id]
        trial_days = 7 if self.chance(0.3) and trial else 0
        return c.SubscriptionPlan(plan_id=plan_id, product_id="club", price=price, currency="BRL",
                                  interval_months=months, trial_days=trial_days)

    def manage(self, subscription_id: UUID) -> None:
        """What the subscriber or support will do with it, and when."""
        def on(day_low: float, day_high: float, command: c.Command) -> None:
            self.later(timedelta(days=self.rng.uniform(day_low, day_high)),
                       lambda: self.send(self.support, command))

        sid = subscription_id
        roll = self.rng.random()
        if roll < 0.06:
            on(5, 60, c.CancelSubscription(subscription_id=sid, reason="too expensive"))
        elif roll < 0.14:
            on(5, 60, c.CancelSubscription(subscription_id=sid, reason="not using it",
                                           at_period_end=True))
        elif roll < 0.18:
            on(10, 40, c.PauseSubscription(subscription_id=sid))
            on(45, 70, c.ResumeSubscription(subscription_id=sid))
        elif roll < 0.22:
            on(5, 40, c.SetAutoRenew(subscription_id=sid, enabled=False))
        elif roll < 0.25:
            on(5, 40, c.SwitchPlan(subscription_id=sid, plan_id="club-quarterly"))
        elif roll < 0.28:
            on(5, 40, c.ChangeChargeDate(subscription_id=sid, charge_day=self.rng.randint(1, 28)))
        elif roll < 0.30:
            customer = self.subscribers[subscription_id]
            assert customer.document is not None  # the story's buyers are all in BR
            on(3, 30, c.ChangeBuyerEmail(
                document=customer.document, current_email=customer.email,
                new_email=f"new.{customer.email}"))
