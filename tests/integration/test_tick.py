"""Time-driven transitions through `Ledger.tick`, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from payledger.domain import commands as c
from payledger.domain.invoice import Invoice
from payledger.domain.permissions import Actor
from payledger.domain.time import SimulatedClock
from payledger.ledger import Ledger
from tests import factories as f
from tests.conftest import START
from tests.principals import GATEWAY


def written(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def sell(ledger: Ledger, checkout: Actor, method: str) -> Invoice:
    """The checkout sells; the gateway issues the Pix, or approves the card charged."""
    invoice_id = ledger.execute(checkout, f.create_invoice(method=method)).aggregate_id
    if method == "pix":
        ledger.execute(GATEWAY, c.IssuePix(invoice_id=invoice_id, txid=f.TXID))
    elif method == "card":
        ledger.execute(checkout, c.RequestCharge(invoice_id=invoice_id))
        ledger.execute(GATEWAY, c.ApproveCard(invoice_id=invoice_id, authorization_code="A1"))
    return ledger.load(Invoice, invoice_id)


def state(ledger: Ledger, invoice: Invoice, topic: str) -> dict[str, object]:
    for stored in ledger.stored_events(invoice.id):
        if stored.topic == f"payledger:Invoice.{topic}":
            return ledger.mapper.transcoder.decode(stored.state)
    raise AssertionError(f"no {topic} on {invoice.id}")


def at(ledger: Ledger, invoice: Invoice, topic: str) -> object:
    return state(ledger, invoice, topic)["at"]


def by(ledger: Ledger, invoice: Invoice, topic: str) -> tuple[object, object, object]:
    event = state(ledger, invoice, topic)
    return event["actor"], event["actor_kind"], event["actor_role"]


def test_one_tick_far_ahead_runs_each_step_at_its_own_instant(
    ledger: Ledger, checkout: Actor, clock: SimulatedClock,
) -> None:
    pix = sell(ledger, checkout, "pix")
    card = sell(ledger, checkout, "card")
    left = ledger.load(Invoice, ledger.execute(checkout, f.create_invoice()).aggregate_id)

    report = ledger.tick(START + timedelta(days=365))

    assert report.executed == 3
    assert report.refused == []
    assert ledger.load(Invoice, pix.id).status == "expired"
    assert at(ledger, pix, "Expired") == pix.expires_at + timedelta(microseconds=1)
    assert ledger.load(Invoice, card.id).warranty_ended
    assert at(ledger, card, "WarrantyEnded") == START + timedelta(days=7)
    assert ledger.load(Invoice, left.id).abandoned_at == START + timedelta(hours=1)
    scheduler = ("payledger-tick", "platform", "scheduler")
    assert by(ledger, pix, "Expired") == by(ledger, card, "WarrantyEnded") == scheduler


def test_a_second_tick_at_the_same_instant_writes_nothing(ledger: Ledger, checkout: Actor) -> None:
    sell(ledger, checkout, "pix")
    sell(ledger, checkout, "card")
    as_of = START + timedelta(days=30)
    ledger.tick(as_of)
    before = written(ledger)
    report = ledger.tick(as_of)
    assert (report.executed, report.rounds, written(ledger)) == (0, 0, before)


def test_nothing_runs_before_it_is_due(ledger: Ledger, checkout: Actor) -> None:
    pix = sell(ledger, checkout, "pix")
    before = written(ledger)
    assert ledger.tick(START + timedelta(hours=23)).executed == 0
    assert written(ledger) == before
    assert ledger.load(Invoice, pix.id).status == "open"


def test_a_paid_invoice_loses_its_expiry(ledger: Ledger, checkout: Actor) -> None:
    pix = sell(ledger, checkout, "pix")
    ledger.execute(GATEWAY, c.RecordPayment(invoice_id=pix.id, reference="E2E1"))
    ledger.tick(START + timedelta(days=2))
    paid = ledger.load(Invoice, pix.id)
    assert paid.status == "paid"
    assert not paid.warranty_ended


def test_a_new_ledger_on_the_store_resumes_the_index(
    store_url: str, checkout: Actor, clock: SimulatedClock,
) -> None:
    from payledger.settings import Settings

    first = Ledger(Settings(store_url=store_url), clock=clock)
    pix = sell(first, checkout, "pix")
    first.tick(START + timedelta(hours=1))
    first.close()
    again = Ledger(Settings(store_url=store_url), clock=clock)
    try:
        assert again.scheduler.index.position() == written(again)
        assert again.tick(START + timedelta(days=2)).executed == 1
        assert again.load(Invoice, pix.id).status == "expired"
    finally:
        again.close()


def test_a_step_whose_timer_is_no_longer_the_aggregates_is_skipped_quietly(
    sqlite_ledger: Ledger, checkout: Actor,
) -> None:
    """The index claims an expiry the invoice does not have (as when another tick ran
    it first): the refusal is no one's concern, not a dead letter, and not tried again."""
    pix = sell(sqlite_ledger, checkout, "pix")
    index = sqlite_ledger.scheduler.index
    sqlite_ledger.scheduler.catch_up()
    from payledger.adapters.timer_index import Timers

    early = {"expire": START + timedelta(minutes=5)}
    index.record({pix.id: Timers("acct-1", Invoice.TOPIC, early)}, index.position())
    report = sqlite_ledger.tick(START + timedelta(minutes=10))
    assert (report.executed, report.refused, report.skipped) == (0, [], 1)
    again = sqlite_ledger.tick(START + timedelta(minutes=10))
    assert (again.executed, again.refused, again.skipped) == (0, [], 0)


def test_a_failed_mark_lasts_while_the_due_instant_is_unchanged(sqlite_url: str) -> None:
    from uuid import uuid4

    from payledger.adapters.store import parse_store_url
    from payledger.adapters.timer_index import TimerIndex, Timers

    index = TimerIndex(parse_store_url(sqlite_url), "probe")
    key, due = uuid4(), START + timedelta(hours=1)
    try:
        index.record({key: Timers("acct-1", "kind", {"step": due})}, 1)
        index.mark_failed(index.due(due))
        index.record({key: Timers("acct-1", "kind", {"step": due})}, 2)
        assert index.due(due) == []
        later = due + timedelta(days=1)
        index.record({key: Timers("acct-1", "kind", {"step": later})}, 3)
        assert [d.due_at for d in index.due(later)] == [later]
        assert index.position() == 3
    finally:
        index.close()


def test_the_index_skips_queries_without_missing_a_timer_recorded_later(sqlite_url: str) -> None:
    from uuid import uuid4

    from payledger.adapters.store import parse_store_url
    from payledger.adapters.timer_index import TimerIndex, Timers

    index = TimerIndex(parse_store_url(sqlite_url), "probe")
    first, second = uuid4(), uuid4()
    try:
        index.record({first: Timers("acct-1", "kind", {"step": START + timedelta(hours=1)})}, 1)
        assert index.due(START) == []  # learns that nothing is due before START + 1h
        soon = START + timedelta(minutes=10)
        index.record({second: Timers("acct-1", "kind", {"step": soon})}, 2)
        assert [d.aggregate_id for d in index.due(soon)] == [second]
        assert [d.aggregate_id for d in index.due(START + timedelta(hours=2))] == [second, first]
    finally:
        index.close()


def test_unchanged_timers_are_not_rewritten_and_the_position_is_stored_on_close(
    sqlite_url: str,
) -> None:
    from uuid import uuid4

    from payledger.adapters.store import parse_store_url
    from payledger.adapters.timer_index import TimerIndex, Timers

    store = parse_store_url(sqlite_url)
    index = TimerIndex(store, "probe")
    key, due = uuid4(), START + timedelta(hours=1)
    index.record({key: Timers("acct-1", "kind", {"step": due})}, 1)
    index.mark_failed(index.due(due))
    index.record({key: Timers("acct-1", "kind", {"step": due})}, 2)
    index.record({key: Timers("acct-1", "kind", {"step": due})}, 3)  # the same: not written
    assert index.position() == 3
    assert index.due(due) == []  # still failed
    index.close()
    again = TimerIndex(store, "probe")
    try:
        assert again.position() == 3
        assert again.due(due) == []
    finally:
        again.close()
