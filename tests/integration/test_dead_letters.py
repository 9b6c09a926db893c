"""One event the settlement cannot process, or one timed step an aggregate refuses,
never stops the others: it is set aside as a dead letter, the rest goes on (for every
account), and an operator retries it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import OperationalError, StoredEvent

from payledger.cli.main import main
from payledger.dead_letters import letters
from payledger.domain import commands as c
from payledger.domain.balance import Balance
from payledger.domain.dead_letter import DeadLetter
from payledger.domain.errors import Conflict, InvalidTransition
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.ledger import Ledger
from payledger.scheduler import Scheduler
from payledger.settings import Settings
from payledger.settlement import Settlement, open_settlement
from tests import factories as f

SPLIT = {"producer": "producer-1", "platform_fee_bps": 1000}


def platform(role: str, account: str) -> Actor:
    return Actor.platform(role, id=role, account=account)


@pytest.fixture
def settlement(ledger: Ledger) -> Iterator[Settlement]:
    app = open_settlement(ledger.settings, ledger=ledger)
    yield app
    app.close()


def sell(ledger: Ledger, account: str, producer: str = "producer-1") -> UUID:
    invoice_id = ledger.execute(platform("checkout", account), f.create_invoice(
        split={**SPLIT, "producer": producer})).aggregate_id
    ledger.execute(platform("checkout", account), c.RequestCharge(invoice_id=invoice_id))
    ledger.execute(platform("gateway", account), c.ApproveCard(invoice_id=invoice_id,
                                                               authorization_code="A1"))
    return invoice_id


def pending(settlement: Settlement) -> int:
    return settlement.load(Balance, Balance.create_id("producer-2", "BRL")).pending


def test_an_undecodable_event_is_set_aside_and_every_account_is_still_credited(
    ledger, settlement
):
    before = sell(ledger, "acct-1")
    poison = uuid4()
    ledger.recorder.insert_events([StoredEvent(  # a broken row straight in the log
        originator_id=poison, originator_version=1, topic="payledger:Invoice.Paid",
        state=b'{"not json')])
    after = sell(ledger, "acct-2", producer="producer-2")
    assert settlement.catch_up() == 3  # both sales' Paid events and the poison
    (letter,) = letters(settlement)
    assert (letter.follower, letter.aggregate_id, letter.topic, letter.waiting) == (
        "settlement", str(poison), "payledger:Invoice.Paid", False)
    assert "MapperDeserialisationError" in letter.error
    assert pending(settlement) == 9_000  # acct-2's sale, after the poison, is credited
    credited = {e.invoice_id for b in settlement.balances()
                for e in settlement.events.get(b.id) if isinstance(e, Balance.Credited)}
    assert credited == {before, after}
    assert settlement.catch_up() == 0  # the tracking moved past it, in the same write


def test_a_refused_event_holds_back_its_invoice_only_until_an_operator_retries(
    ledger, settlement, monkeypatch
):
    doomed = sell(ledger, "acct-1")
    policy = Settlement.__dict__["policy"]

    def buggy(self: Settlement, event: Any, processing: Any) -> None:
        if event.originator_id == doomed:
            raise KeyError("a bug in the policy, fixed by the next deploy")
        policy.__get__(self, Settlement)(event, processing)

    monkeypatch.setattr(Settlement, "policy", buggy)
    ledger.execute(Actor.preset("support", id="s", account="acct-1"),
                   f.request_refund(doomed, 1_000))
    refund_id = next(e.refund_id for e in ledger.events.get(doomed)
                     if type(e).__name__ == "RefundReserved")
    ledger.execute(Actor.preset("owner", id="o", account="acct-1"),
                   c.ApproveRefund(refund_id=refund_id))
    ledger.execute(platform("gateway", "acct-1"), c.SendRefund(refund_id=refund_id,
                                                                gateway_reference="G"))
    ledger.execute(platform("gateway", "acct-1"), c.SucceedRefund(refund_id=refund_id))
    other = sell(ledger, "acct-2", producer="producer-2")
    settlement.catch_up()
    found = list(letters(settlement))
    assert [(x.aggregate_id, x.waiting) for x in found] == [(str(doomed), False),
                                                           (str(doomed), True)]
    assert "KeyError" in found[0].error
    assert "waits behind" in found[1].error
    assert pending(settlement) == 9_000  # the other invoice went on
    still = settlement.retry_dead_letters()  # still buggy: the first fails, the second waits
    assert [x.id for x in still] == [x.id for x in found]
    assert [x.attempts for x in letters(settlement)] == [2, 1]
    monkeypatch.setattr(Settlement, "policy", policy)  # the fix is deployed
    assert settlement.retry_dead_letters() == []
    assert list(letters(settlement)) == []
    producer = settlement.load(Balance, Balance.create_id("producer-1", "BRL"))
    assert producer.pending == 9_000 - 900  # credited, then the refund's share, in order
    assert other in {e.invoice_id for e in settlement.events.get(
        Balance.create_id("producer-2", "BRL")) if isinstance(e, Balance.Credited)}


def test_a_refused_timed_step_is_set_aside_and_the_others_run(ledger, monkeypatch, clock):
    doomed = ledger.execute(platform("checkout", "acct-1"), f.create_invoice(
        method="pix")).aggregate_id
    ledger.execute(platform("gateway", "acct-1"), c.IssuePix(invoice_id=doomed, txid=f.TXID))
    fine = ledger.execute(platform("checkout", "acct-2"), f.create_invoice(
        method="pix")).aggregate_id
    ledger.execute(platform("gateway", "acct-2"), c.IssuePix(invoice_id=fine, txid=f.TXID))
    expire = Invoice.expire

    def refusing(self: Invoice, *args: Any, **kwargs: Any) -> Any:
        if self.id == doomed:
            raise InvalidTransition("Invoice", "open", "expire", "a refusal for the test")
        return expire(self, *args, **kwargs)

    monkeypatch.setattr(Invoice, "expire", refusing)
    report = ledger.tick(clock.now() + timedelta(days=2))
    assert [t.aggregate_id for t, _ in report.refused] == [doomed]
    assert ledger.load(Invoice, fine).status == "expired"  # acct-2's step ran
    (letter,) = letters(ledger)
    assert (letter.follower, letter.aggregate_id, letter.topic) == (
        "scheduler:payledger", str(doomed), "payledger:Invoice.expire")
    assert ledger.tick(clock.now() + timedelta(days=2)).refused == []  # marked: not again
    monkeypatch.setattr(Invoice, "expire", expire)
    assert [x.id for x in ledger.scheduler.retry_dead_letters()] == [letter.id]
    assert ledger.tick(clock.now() + timedelta(days=2)).executed == 1
    assert ledger.load(Invoice, doomed).status == "expired"
    assert list(letters(ledger)) == []
    assert ledger.load(DeadLetter, letter.id).status == "resolved"


def test_a_timed_step_that_loses_a_race_is_not_marked_and_runs_next_tick(
    sqlite_ledger, monkeypatch, clock
):
    invoice_id = sqlite_ledger.execute(platform("checkout", "acct-1"), f.create_invoice(
        method="pix")).aggregate_id
    sqlite_ledger.execute(platform("gateway", "acct-1"), c.IssuePix(invoice_id=invoice_id,
                                                                     txid=f.TXID))
    execute = Ledger.execute

    def losing(self: Ledger, actor: Actor, command: Any) -> Any:
        if isinstance(command, c.ExpireInvoice):
            raise Conflict("ExpireInvoice: a concurrent write won 11 times")
        return execute(self, actor, command)

    monkeypatch.setattr(Ledger, "execute", losing)
    monkeypatch.setattr(Ledger, "execute_many", lambda self, steps: [
        losing(self, a, cmd) for a, cmd in steps])
    report = sqlite_ledger.tick(clock.now() + timedelta(days=2))
    assert (report.lost, report.refused) == (1, [])
    assert list(letters(sqlite_ledger)) == []
    monkeypatch.undo()
    assert sqlite_ledger.tick(clock.now() + timedelta(days=2)).executed == 1


def test_the_command_lists_and_retries_them(tmp_path, capsys):
    store = f"sqlite:///{tmp_path}/events.db"
    app = Ledger(Settings(store_url=store))
    try:
        app.recorder.insert_events([StoredEvent(
            originator_id=uuid4(), originator_version=1, topic="payledger:Invoice.Paid",
            state=json.dumps({"broken": True}).encode())])
    finally:
        app.close()
    assert main(["dead-letters", "list", "--store", store]) == 0
    assert "Dead letters pending: 0" in capsys.readouterr().out  # nothing caught up yet
    settlement = open_settlement(Settings(store_url=store))
    try:
        settlement.catch_up()
    finally:
        settlement.close()
    assert main(["dead-letters", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "Dead letters pending: 1" in out
    assert "settlement" in out
    assert main(["dead-letters", "retry", "--store", store]) == 0
    assert "1 still pending" in capsys.readouterr().out


@pytest.mark.parametrize("error", [Conflict("ExpireInvoice: a concurrent write won"),
                                   OperationalError("database is locked")])
def test_a_timed_step_that_loses_a_race_is_run_again_in_the_same_tick(
    sqlite_ledger, monkeypatch, clock, error
):
    """Issue 17, item 1: a race or a store error is retried with backoff, never marked
    failed; the step runs once it wins."""
    invoice_id = sqlite_ledger.execute(platform("checkout", "acct-1"), f.create_invoice(
        method="pix")).aggregate_id
    sqlite_ledger.execute(platform("gateway", "acct-1"), c.IssuePix(invoice_id=invoice_id,
                                                                     txid=f.TXID))
    execute_many, failures = Ledger.execute_many, [error, error]

    def losing_twice(self: Ledger, actor: Actor, command: Any) -> Any:
        if isinstance(command, c.ExpireInvoice) and failures:
            raise failures.pop()
        return execute_many(self, [(actor, command)])[0]

    monkeypatch.setattr(Scheduler, "RETRY_BACKOFF", 0.001)
    monkeypatch.setattr(Ledger, "execute", losing_twice)
    monkeypatch.setattr(Ledger, "execute_many", lambda self, steps: [
        losing_twice(self, a, cmd) for a, cmd in steps])
    report = sqlite_ledger.tick(clock.now() + timedelta(days=2))
    # the round's batch and the step run alone both lost; the next round won
    assert (report.executed, report.retried, report.lost, report.refused) == (1, 1, 0, [])
    assert failures == []
    assert sqlite_ledger.load(Invoice, invoice_id).status == "expired"
    assert list(letters(sqlite_ledger)) == []


def test_the_schedulers_status_shows_a_failed_release_and_the_money_it_holds(
    tmp_path, monkeypatch, clock, capsys
):
    """A release refused and marked failed is never silent: `payledger scheduler status`
    names it, its error and the matured money it keeps pending."""
    store = f"sqlite:///{tmp_path}/events.db"
    ledger = Ledger(Settings(store_url=store), clock=clock)
    settlement = open_settlement(ledger.settings, ledger=ledger)
    try:
        sell(ledger, "acct-1")
        monkeypatch.setattr(Balance, "release", lambda self, as_of: (_ for _ in ()).throw(
            InvalidTransition("Balance", "open", "release funds", "a refusal for the test")))
        report = settlement.tick(clock.now() + timedelta(days=20))
        assert len(report.refused) == 2  # the producer's wallet and the platform's
        status = settlement.scheduler.status(clock.now() + timedelta(days=20))
        assert [f.timer.action for f in status.failed] == ["release", "release"]
        assert all("a refusal for the test" in f.error for f in status.failed)
    finally:
        settlement.close()
        ledger.close()
    clock_now = (clock.now() + timedelta(days=20)).isoformat()
    assert main(["scheduler", "status", "--store", store, "--as-of", clock_now]) == 0
    out = capsys.readouterr().out
    assert "settlement: 0 steps due" in out
    assert "2 failed" in out
    assert "9000.00" not in out  # amounts are per wallet: 90.00 and 10.00
    assert "90.00" in out
    assert "a refusal for the test" in re.sub(r"[│\s]+", " ", out)  # cells may wrap
