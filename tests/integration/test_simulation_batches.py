"""The simulator's `at_once`: a step's commands in one transaction, and the same story
as sending each alone when one of them is refused."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from payledger.domain import commands as c
from payledger.domain.invoice import Invoice
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from payledger.simulation.base import SimulationBase
from tests import factories as f
from tests.conftest import START


def stored(sim: SimulationBase, reference: UUID) -> UUID:
    """The stored id of the invoice the checkout named `reference`."""
    return Invoice.scoped_id(sim.checkout.account, reference)


def simulation(ledger: Ledger) -> SimulationBase:
    return SimulationBase(ledger, SimulatedClock(START), seed=3, days=1)


def test_a_step_at_once_writes_its_commands_in_one_transaction(sqlite_ledger: Ledger):
    sim, invoice_id = simulation(sqlite_ledger), uuid4()
    before = sqlite_ledger.recorder.max_notification_id() or 0

    def step() -> None:
        sim.send(sim.checkout, f.create_invoice(invoice_id=invoice_id))
        sim.send(sim.checkout, c.RequestCharge(invoice_id=invoice_id))
        sim.later(timedelta(0), lambda: None)

    sim.at_once(step)
    assert sim.report.commands == 2
    assert not sim.report.refused
    assert sqlite_ledger.load(Invoice, stored(sim, invoice_id)).status == "open"
    assert (sqlite_ledger.recorder.max_notification_id() or 0) - before == 2
    assert len(sim._queue) == 1


def test_a_refused_command_replays_the_step_from_the_same_dice(sqlite_ledger: Ledger):
    sim, invoice_id = simulation(sqlite_ledger), uuid4()
    rolls: list[float] = []

    def step() -> None:
        rolls.append(sim.rng.random())
        sim.send(sim.checkout, f.create_invoice(invoice_id=invoice_id))
        sim.send(sim.gateway, c.ApproveCard(invoice_id=invoice_id, authorization_code="A1"))
        sim.later(timedelta(0), lambda: None)

    sim.at_once(step)  # a draft invoice refuses an approval: the step runs again, alone
    assert rolls[0] == rolls[1]
    assert sim.report.commands == 2
    (refusal, count), = sim.report.refused.items()  # grouped by its reason, ids left out
    assert count == 1
    assert refusal.startswith("ApproveCard: InvalidTransition: Invoice in state 'draft'")
    assert str(invoice_id) not in refusal
    assert sqlite_ledger.load(Invoice, stored(sim, invoice_id)).status == "draft"
    assert len(sim._queue) == 1
