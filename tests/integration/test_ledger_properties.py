"""Random command sequences through `Ledger.execute` on a fresh SQLite file.

Hypothesis drives invoices of every method, card outcomes, Pix and boleto charges,
payments (some reported late), expiry, abandonment, voids, disputes, warranty ends and
refunds through their whole lifecycle, with a simulated clock moved by random amounts.
Rejected commands (any `PayLedgerError`) are expected; after every step:

- a rejected command wrote nothing, an accepted one wrote exactly what its receipt says,
  and the store holds nothing beyond the events of the aggregates we know of;
- every invoice's status, amounts and holds equal a fold of its stored event history,
  in which each event follows a state that allows it;
- refunded + charged back + held <= paid, and a paid invoice's splits sum to its total;
- each refund's status folds from its history, and its hold on the invoice exists
  exactly while it is open; an invoice's refunded amount is its succeeded refunds;
- every aggregate's hash chain is intact.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from payledger.domain import commands as c
from payledger.domain.errors import Forbidden, NotFound, PayLedgerError
from payledger.domain.idempotency import IdempotencyRecord
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.refund import Refund
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger, Receipt
from payledger.settings import Settings
from tests import factories as f
from tests.principals import CHECKOUT, GATEWAY, SCHEDULER

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OWNER = Actor.preset("owner", id="owner-1", account="acct-1")
SUPPORT = Actor.preset("support", id="support-1", account="acct-1")
TECHNICAL = Actor.preset("technical", id="technical-1", account="acct-1")
STRANGER = Actor.preset("owner", id="owner-2", account="acct-2")
THEIR_CHECKOUT = Actor.platform("checkout", id="checkout", account="acct-2")
# who asks for a refund is the principal asking: the buyer through the checkout, the
# producer as the account's owner, support as a support collaborator
REQUESTERS: dict[str, Actor] = {"buyer": CHECKOUT, "producer": OWNER, "support": SUPPORT}
REQUESTED_BY = {(actor.kind.value, actor.role): name for name, actor in REQUESTERS.items()}

PAID_STATES = {"paid", "partially_refunded", "refunded", "charged_back"}
HOLDING = {"paid", "partially_refunded", "charged_back"}

# event -> (states it may follow, the state it leads to or None to keep the state)
INVOICE_EVENTS: dict[str, tuple[set[str | None], str | None]] = {
    "Created": ({None}, "draft"),
    "DiscountApplied": ({"draft"}, None),
    "ChargeRequested": ({"draft", "open"}, "open"),
    "CardDeclined": ({"open"}, None),
    "PixIssued": ({"draft", "open", "expired"}, "open"),
    "BoletoIssued": ({"draft", "open", "expired"}, "open"),
    "Paid": ({"open", "expired"}, "paid"),
    "Expired": ({"open"}, "expired"),
    "CheckoutAbandoned": ({"draft", "open"}, None),
    "Voided": ({"draft", "open", "expired"}, "void"),
    "MarkedUncollectible": ({"open"}, "uncollectible"),
    "RefundReserved": ({"paid", "partially_refunded"}, None),
    "RefundReleased": (set(HOLDING), None),
    "Refunded": (set(HOLDING), None),  # the status follows from the amounts
    "DisputeOpened": ({"paid", "partially_refunded"}, None),
    # A dispute stays open while refunds go on, so it may be decided once fully refunded.
    "DisputeWon": ({"paid", "partially_refunded", "refunded"}, None),
    # The status follows from the amount: nothing left to take back keeps "refunded".
    "ChargedBack": ({"paid", "partially_refunded", "refunded"}, None),
    "WarrantyEnded": (set(PAID_STATES), None),
}

REFUND_EVENTS: dict[str, tuple[set[str | None], str]] = {
    "Requested": ({None}, "requested"),
    "Approved": ({"requested"}, "approved"),
    "Rejected": ({"requested"}, "rejected"),
    "Withdrawn": ({"requested"}, "withdrawn"),
    "Pending": ({"approved"}, "pending"),
    "Succeeded": ({"pending"}, "succeeded"),
    "Failed": ({"pending"}, "failed"),
}


@dataclass
class Folded:
    """An invoice as its stored history says it is."""

    status: str | None = None
    total: int = 0
    paid: int = 0
    refunded: int = 0
    charged_back: int = 0
    reserved: dict[str, int] = field(default_factory=dict)
    dispute: str | None = None
    warranty_ended: bool = False


def event_name(topic: str, kind: str) -> str:
    prefix = f"payledger:{kind}."
    assert topic.startswith(prefix), topic
    return topic[len(prefix):]


def fold_invoice(ledger: Ledger, invoice_id: UUID) -> Folded:
    folded = Folded()
    for stored in ledger.stored_events(invoice_id):
        name = event_name(stored.topic, "Invoice")
        state = ledger.mapper.transcoder.decode(stored.state)
        sources, leads_to = INVOICE_EVENTS[name]
        assert folded.status in sources, f"{name} after {folded.status}"
        if leads_to is not None:
            folded.status = leads_to
        apply_amounts(folded, name, state)
    return folded


def apply_amounts(folded: Folded, name: str, state: dict[str, Any]) -> None:
    if name == "Created":
        folded.total = state["subtotal"]
    elif name == "DiscountApplied":
        folded.total -= state["amount"]
    elif name == "Paid":
        assert state["amount"] == folded.total
        assert sum(part["amount"] for part in state["splits"]) == state["amount"]
        folded.paid = state["amount"]
    elif name == "RefundReserved":
        folded.reserved[str(state["refund_id"])] = state["amount"]
    elif name == "RefundReleased":
        assert folded.reserved.pop(str(state["refund_id"])) == state["amount"]
    elif name == "Refunded":
        assert folded.reserved.pop(str(state["refund_id"])) == state["amount"]
        folded.refunded += state["amount"]
        if folded.status != "charged_back":
            whole = folded.refunded + folded.charged_back >= folded.paid
            folded.status = "refunded" if whole else "partially_refunded"
    elif name == "DisputeOpened":
        assert folded.dispute != "open"
        folded.dispute = "open"
    elif name == "DisputeWon":
        assert folded.dispute == "open"
        folded.dispute = "won"
    elif name == "ChargedBack":
        assert folded.dispute == "open"
        folded.dispute = "lost"
        folded.charged_back = state["amount"]
        if state["amount"]:
            folded.status = "charged_back"
    elif name == "WarrantyEnded":
        assert not folded.warranty_ended
        folded.warranty_ended = True


def fold_refund(ledger: Ledger, refund_id: UUID) -> str | None:
    status: str | None = None
    for stored in ledger.stored_events(refund_id):
        name = event_name(stored.topic, "Refund")
        sources, status_after = REFUND_EVENTS[name]
        assert status in sources
        if name == "Requested":  # the requester is the principal that asked
            state = ledger.mapper.transcoder.decode(stored.state)
            principal = (state["actor_kind"], state["actor_role"])
            assert state["requested_by"] == REQUESTED_BY[principal], principal
        status = status_after
    return status


def status_in(*states: str) -> Callable[[Any], bool]:
    return lambda aggregate: aggregate.status in states


SETTLED = status_in("paid", "partially_refunded")
# Where each command may succeed: an aimed rule picks among the aggregates that match.
INVOICE_AIM: dict[type[c.Command], Callable[[Invoice], bool]] = {
    c.ApplyDiscount: status_in("draft"),
    c.RequestCharge: status_in("draft", "open"),
    c.DeclineCard: lambda i: i.status == "open" and i.method == "card",
    c.ApproveCard: lambda i: i.status == "open" and i.method == "card",
    c.IssuePix: lambda i: i.status in ("draft", "open") and i.method == "pix",
    c.IssueBoleto: lambda i: i.status in ("draft", "open") and i.method == "boleto",
    c.RecordPayment: lambda i: i.status in ("open", "expired") and i.instrument is not None,
    c.ExpireInvoice: lambda i: i.status == "open" and i.expires_at is not None,
    c.AbandonCheckout: lambda i: i.status in ("draft", "open") and i.abandoned_at is None,
    c.VoidInvoice: status_in("draft", "open"),
    c.MarkUncollectible: status_in("open"),
    c.OpenDispute: lambda i: SETTLED(i) and i.dispute != "open",
    c.WinDispute: lambda i: i.dispute == "open",
    c.LoseDispute: lambda i: i.dispute == "open",
    c.EndWarranty: lambda i: i.status in PAID_STATES and not i.warranty_ended,
    c.RequestRefund: lambda i: SETTLED(i) and i.refundable > 0,
}
REFUND_AIM: dict[type[c.RefundCommand], Callable[[Refund], bool]] = {
    c.ApproveRefund: status_in("requested"),
    c.RejectRefund: status_in("requested"),
    c.WithdrawRefund: status_in("requested"),
    c.SendRefund: status_in("approved"),
    c.SucceedRefund: status_in("pending"),
    c.FailRefund: status_in("pending"),
}

MAX_INVOICES = 5
# (which one, whether to aim at one whose state allows the command)
WHICH = st.tuples(st.integers(0, 50), st.booleans())
METHOD = st.sampled_from(["card", "pix", "boleto"])
PRICE = st.integers(1, 50_000)
WARRANTY = st.sampled_from([0, 7, 30])
# a pause before a time-driven command: none, within and past the Pix grace, the abandon
# window, a boleto's business days, a warranty
WAIT = st.sampled_from([0, 60, 10 * 60, 20 * 60, 2 * 3_600, 86_400, 4 * 86_400, 8 * 86_400])
REASON = st.sampled_from(["insufficient funds", "customer asked", "fraud", "duplicate"])
Which = tuple[int, bool]


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.clock = SimulatedClock(START)
        store_url = f"sqlite:///{self.folder.name}/events.db"
        self.ledger = Ledger(Settings(store_url=store_url), clock=self.clock)
        self.invoices: list[UUID] = []
        self.refunds: list[UUID] = []
        self.records: set[UUID] = set()  # idempotency records written
        self.keyed: list[tuple[Actor, c.Command, Receipt]] = []
        self.keys = 0

    def teardown(self) -> None:
        self.ledger.close()
        self.folder.cleanup()

    # -- running a command -------------------------------------------------------------

    def written(self) -> int:
        return self.ledger.recorder.max_notification_id() or 0

    def execute(self, actor: Actor, command: c.Command) -> Receipt | None:
        """Run a command; a refusal must have written nothing, a success what it says."""
        before = self.written()
        try:
            receipt = self.ledger.execute(actor, command)
        except PayLedgerError as error:
            event(f"{type(command).__name__} refused: {type(error).__name__}")
            refusal: PayLedgerError | None = error
        else:
            event(f"{type(command).__name__} accepted")
            refusal = None
        if refusal is not None:
            assert self.written() == before, f"{command!r} was refused ({refusal}) yet wrote"
            # every rule acts as the principal whose role the command is: a refusal is
            # the state's, never the principal's
            assert not isinstance(refusal, Forbidden), f"{command!r}: {refusal}"
            return None
        if receipt.repeated:
            assert self.written() == before
        else:
            assert receipt.events >= 1
            assert self.written() == before + receipt.events
        if command.idempotency_key and not receipt.repeated:
            self.records.add(IdempotencyRecord.create_id(actor.account, command.idempotency_key))
            self.keyed.append((actor, command, receipt))
        return receipt

    def key(self, use: bool) -> str | None:
        if not use:
            return None
        self.keys += 1
        return f"key-{self.keys}"

    def choose(self, ids: list[UUID], which: Which, kind: type[Invoice | Refund],
               fits: Callable[[Any], bool]) -> UUID:
        index, aim = which
        if aim:
            ids = [i for i in ids if fits(self.ledger.load(kind, i))] or ids
        return ids[index % len(ids)]

    def invoice(self, which: Which, kind: type[c.Command]) -> UUID:
        return self.choose(self.invoices, which, Invoice, INVOICE_AIM[kind])

    def on_invoice(self, actor: Actor, kind: type[c.InvoiceCommand], which: Which,
                   **fields: Any) -> None:
        self.execute(actor, kind(invoice_id=self.invoice(which, kind), **fields))

    def on_refund(self, actor: Actor, kind: type[c.RefundCommand], which: Which,
                  **fields: Any) -> None:
        refund_id = self.choose(self.refunds, which, Refund, REFUND_AIM[kind])  # type: ignore[arg-type]
        self.execute(actor, kind(refund_id=refund_id, **fields))

    # -- rules: time and invoices ---------------------------------------------------------

    @rule(seconds=st.one_of(
        st.integers(1, 3_600),
        st.sampled_from([15 * 60, 86_400, 3 * 86_400, 8 * 86_400, 91 * 86_400]),
    ))
    def advance(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    def new_invoice(self, method: str, price: int, warranty_days: int, keyed: bool) -> UUID:
        command = f.create_invoice(method, price, warranty_days=warranty_days,
                                   idempotency_key=self.key(keyed))
        receipt = self.execute(CHECKOUT, command)
        assert receipt is not None, "a valid invoice is always created"
        self.invoices.append(receipt.aggregate_id)
        return receipt.aggregate_id

    @initialize(sold=st.lists(st.tuples(METHOD, PRICE, WARRANTY), min_size=1, max_size=2),
                drafted=METHOD)
    def open_shop(self, sold: list[tuple[str, int, int]], drafted: str) -> None:
        """Every run starts with paid invoices and a draft, so most rules have work."""
        for method, price, warranty_days in sold:
            self.sell(method, price, warranty_days)
        self.new_invoice(drafted, 10_000, 7, keyed=False)

    @precondition(lambda self: len(self.invoices) < MAX_INVOICES)
    @rule(method=METHOD, price=PRICE, warranty_days=WARRANTY, keyed=st.booleans())
    def create(self, method: str, price: int, warranty_days: int, keyed: bool) -> None:
        self.new_invoice(method, price, warranty_days, keyed)

    @precondition(lambda self: len(self.invoices) < MAX_INVOICES)
    @rule(method=METHOD, price=PRICE, warranty_days=WARRANTY, paid=st.booleans(),
          declined_first=st.booleans())
    def sell(self, method: str, price: int, warranty_days: int, paid: bool = True,
             declined_first: bool = False) -> None:
        """A checkout carried to payment (or left waiting for it), so later rules have work."""
        invoice_id = self.new_invoice(method, price, warranty_days, keyed=False)
        steps: list[c.Command]
        if method == "card":
            steps = [c.RequestCharge(invoice_id=invoice_id)]
            if declined_first:
                steps += [c.DeclineCard(invoice_id=invoice_id, reason="insufficient funds"),
                          c.RequestCharge(invoice_id=invoice_id, reason="retry")]
            payment: c.Command = c.ApproveCard(invoice_id=invoice_id, authorization_code="A1")
        elif method == "pix":
            steps = [c.IssuePix(invoice_id=invoice_id, txid=f.TXID)]
            payment = c.RecordPayment(invoice_id=invoice_id, reference="E2E-1")
        else:
            steps = [c.IssueBoleto(invoice_id=invoice_id, digitable_line=f.BOLETO_LINE,
                                   due_at=self.clock.now() + timedelta(days=3))]
            payment = c.RecordPayment(invoice_id=invoice_id, reference="BOLETO-1")
        for step in [*steps, payment] if paid else steps:
            actor = CHECKOUT if isinstance(step, c.RequestCharge) else GATEWAY
            assert self.execute(actor, step) is not None, f"{step!r} was refused"

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, amount=st.integers(1, 20_000))
    def discount(self, which: Which, amount: int) -> None:
        self.on_invoice(CHECKOUT, c.ApplyDiscount, which, amount=amount, coupon="PROMO")

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH)
    def charge(self, which: Which) -> None:
        self.on_invoice(CHECKOUT, c.RequestCharge, which)

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, reason=REASON)
    def decline(self, which: Which, reason: str) -> None:
        self.on_invoice(GATEWAY, c.DeclineCard, which, reason=reason)

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH)
    def approve(self, which: Which) -> None:
        self.on_invoice(GATEWAY, c.ApproveCard, which, authorization_code="AUTH-1")

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, expires_in=st.sampled_from([None, 60, 900, 3_600]))
    def issue_pix(self, which: Which, expires_in: int | None) -> None:
        self.on_invoice(GATEWAY, c.IssuePix, which, txid=f.TXID,
                        expires_in_seconds=expires_in)

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, due_in=st.sampled_from([3_600, 86_400, 3 * 86_400]))
    def issue_boleto(self, which: Which, due_in: int) -> None:
        due_at = self.clock.now() + timedelta(seconds=due_in)
        self.on_invoice(GATEWAY, c.IssueBoleto, which, digitable_line=f.BOLETO_LINE,
                        due_at=due_at)

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, wait=WAIT,
          paid_ago=st.sampled_from([None, 0, 60, 600, 3_600, 86_400]))
    def pay(self, which: Which, wait: int, paid_ago: int | None) -> None:
        self.advance(wait)
        paid_at = None if paid_ago is None else self.clock.now() - timedelta(seconds=paid_ago)
        self.on_invoice(GATEWAY, c.RecordPayment, which, reference="E2E-1", paid_at=paid_at)

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, wait=WAIT)
    def expire(self, which: Which, wait: int) -> None:
        self.advance(wait)
        self.on_invoice(SCHEDULER, c.ExpireInvoice, which)

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, wait=WAIT, window=st.sampled_from([None, 60]))
    def abandon(self, which: Which, wait: int, window: int | None) -> None:
        self.advance(wait)
        self.on_invoice(SCHEDULER, c.AbandonCheckout, which, window_seconds=window)

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, reason=REASON, actor=st.sampled_from([CHECKOUT, OWNER, SUPPORT]))
    def void(self, which: Which, reason: str, actor: Actor) -> None:
        self.on_invoice(actor, c.VoidInvoice, which, reason=reason)

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, reason=REASON)
    def uncollectible(self, which: Which, reason: str) -> None:
        self.on_invoice(GATEWAY, c.MarkUncollectible, which, reason=reason)

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, respond_in=st.sampled_from([7, 30, -1]),
          then=st.sampled_from([None, c.WinDispute, c.LoseDispute]))
    def open_dispute(self, which: Which, respond_in: int,
                     then: type[c.InvoiceCommand] | None) -> None:
        invoice_id = self.invoice(which, c.OpenDispute)
        respond_by = self.clock.now() + timedelta(days=respond_in)
        opened = self.execute(GATEWAY, c.OpenDispute(
            invoice_id=invoice_id, reason="unrecognized", respond_by=respond_by))
        if opened is not None and then is not None:
            self.execute(GATEWAY, then(invoice_id=invoice_id))

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, won=st.booleans())
    def decide_dispute(self, which: Which, won: bool) -> None:
        self.on_invoice(GATEWAY, c.WinDispute if won else c.LoseDispute, which)

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, wait=WAIT)
    def end_warranty(self, which: Which, wait: int) -> None:
        self.advance(wait)
        self.on_invoice(SCHEDULER, c.EndWarranty, which)

    # -- rules: refunds -----------------------------------------------------------------

    def ask_refund(self, requested_by: str, invoice_id: UUID, amount: int | None,
                   keyed: bool = False) -> UUID | None:
        """A refund asked by `requested_by`'s principal: recorded as theirs, and a buyer's
        refused once the invoice's warranty has ended."""
        warranty_ended = self.ledger.load(Invoice, invoice_id).warranty_ended
        command = f.request_refund(invoice_id, amount, idempotency_key=self.key(keyed))
        receipt = self.execute(REQUESTERS[requested_by], command)
        if receipt is None:
            return None
        assert not (requested_by == "buyer" and warranty_ended), "a buyer's refund after warranty"
        assert self.ledger.load(Refund, receipt.aggregate_id).requested_by == requested_by
        self.refunds.append(receipt.aggregate_id)
        return receipt.aggregate_id

    @precondition(lambda self: self.invoices)
    @rule(
        which=WHICH,
        amount=st.none() | st.integers(1, 60_000),
        requested_by=st.sampled_from(sorted(REQUESTERS)),
        keyed=st.booleans(),
    )
    def request_refund(self, which: Which, amount: int | None, requested_by: str,
                       keyed: bool) -> None:
        self.ask_refund(requested_by, self.invoice(which, c.RequestRefund), amount, keyed)

    @precondition(lambda self: self.refunds)
    @rule(which=WHICH)
    def approve_refund(self, which: Which) -> None:
        self.on_refund(OWNER, c.ApproveRefund, which)

    @precondition(lambda self: self.refunds)
    @rule(which=WHICH, reason=REASON)
    def reject_refund(self, which: Which, reason: str) -> None:
        self.on_refund(OWNER, c.RejectRefund, which, reason=reason)

    @precondition(lambda self: self.refunds)
    @rule(which=WHICH, reason=REASON)
    def withdraw_refund(self, which: Which, reason: str) -> None:
        self.on_refund(SUPPORT, c.WithdrawRefund, which, reason=reason)

    @precondition(lambda self: self.refunds)
    @rule(which=WHICH)
    def send_refund(self, which: Which) -> None:
        self.on_refund(GATEWAY, c.SendRefund, which, gateway_reference="GW-1")

    @precondition(lambda self: self.refunds)
    @rule(which=WHICH, succeeded=st.booleans())
    def settle_refund(self, which: Which, succeeded: bool) -> None:
        if succeeded:
            self.on_refund(GATEWAY, c.SucceedRefund, which)
        else:
            self.on_refund(GATEWAY, c.FailRefund, which, reason="account closed")

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, amount=st.none() | st.integers(1, 20_000),
          ending=st.sampled_from(["succeed", "fail", "reject", "withdraw", "pending"]))
    def refund_lifecycle(self, which: Which, amount: int | None, ending: str) -> None:
        """A producer's refund carried to an end, one command at a time."""
        refund_id = self.ask_refund("producer", self.invoice(which, c.RequestRefund), amount)
        if refund_id is None:
            return
        steps: list[tuple[Actor, c.Command]] = {
            "reject": [(OWNER, c.RejectRefund(refund_id=refund_id, reason="no"))],
            "withdraw": [(SUPPORT, c.WithdrawRefund(refund_id=refund_id, reason="no"))],
        }.get(ending, [
            (OWNER, c.ApproveRefund(refund_id=refund_id)),
            (GATEWAY, c.SendRefund(refund_id=refund_id, gateway_reference="GW-1")),
        ])
        if ending == "succeed":
            steps.append((GATEWAY, c.SucceedRefund(refund_id=refund_id)))
        elif ending == "fail":
            steps.append((GATEWAY, c.FailRefund(refund_id=refund_id, reason="closed")))
        for actor, step in steps:
            if self.execute(actor, step) is None:
                return

    # -- rules: refused actors and repeated keys ---------------------------------------------

    @precondition(lambda self: self.invoices)
    @rule(which=WHICH, actor=st.sampled_from([STRANGER, THEIR_CHECKOUT, TECHNICAL, GATEWAY,
                                              SCHEDULER]))
    def forbidden(self, which: Which, actor: Actor) -> None:
        command = c.VoidInvoice(invoice_id=self.invoice(which, c.VoidInvoice), reason="mine")
        before = self.written()
        try:
            self.ledger.execute(actor, command)
        except (Forbidden, NotFound):  # another account's invoice reads as none at all
            assert self.written() == before
        else:
            raise AssertionError(f"{actor.id} voided an invoice it may not touch")

    @precondition(lambda self: self.keyed)
    @rule(index=st.integers(0, 50))
    def repeat(self, index: int) -> None:
        actor, command, first = self.keyed[index % len(self.keyed)]
        receipt = self.execute(actor, command)
        assert receipt is not None
        assert (receipt.aggregate_id, receipt.command_id, receipt.repeated) == (
            first.aggregate_id, first.command_id, True)

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def invoices_agree_with_their_history(self) -> None:
        for invoice_id in self.invoices:
            invoice = self.ledger.load(Invoice, invoice_id)
            folded = fold_invoice(self.ledger, invoice_id)
            assert invoice.status == folded.status
            assert (invoice.total, invoice.paid, invoice.refunded, invoice.charged_back) == (
                folded.total, folded.paid, folded.refunded, folded.charged_back)
            assert invoice.reserved == folded.reserved
            assert (invoice.dispute, invoice.warranty_ended) == (
                folded.dispute, folded.warranty_ended)
            held = sum(invoice.reserved.values())
            assert invoice.refunded + invoice.charged_back + held <= invoice.paid
            if invoice.status in PAID_STATES:
                assert invoice.paid == invoice.total
                assert sum(part["amount"] for part in invoice.splits) == invoice.total
            else:
                assert (invoice.paid, invoice.splits, invoice.reserved) == (0, [], {})

    @invariant()
    def refunds_hold_exactly_while_open(self) -> None:
        succeeded: dict[UUID, int] = dict.fromkeys(self.invoices, 0)
        for refund_id in self.refunds:
            refund = self.ledger.load(Refund, refund_id)
            assert refund.status == fold_refund(self.ledger, refund_id)
            invoice = self.ledger.load(Invoice, refund.invoice_id)
            assert invoice.reserved.get(str(refund_id)) == (refund.amount if refund.open
                                                             else None)
            if refund.status == "succeeded":
                succeeded[refund.invoice_id] += refund.amount
        for invoice_id, amount in succeeded.items():
            assert self.ledger.load(Invoice, invoice_id).refunded == amount

    @invariant()
    def chains_are_intact_and_nothing_else_was_written(self) -> None:
        known = [*self.invoices, *self.refunds, *self.records]
        total = 0
        for aggregate_id in known:
            assert self.ledger.broken_links(aggregate_id) == []
            total += len(list(self.ledger.stored_events(aggregate_id)))
        assert total == self.written()


LedgerMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=50, deadline=None,
)
TestLedgerProperties = LedgerMachine.TestCase
